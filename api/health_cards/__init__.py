"""SMART Health Cards: signed, offline-verifiable records of the book (immunizations, a visit)."""
