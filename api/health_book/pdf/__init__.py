"""The book as PDF: one episode (a visit) or the whole book, gathered by :mod:`.content` and
drawn by :mod:`.render` with the DejaVu Sans fonts shipped in ``fonts/``."""
