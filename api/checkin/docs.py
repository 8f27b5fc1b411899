"""OpenAPI examples of the check-in routes."""

from __future__ import annotations

from api.core.openapi import examples

SCAN_EXAMPLES = examples(
    scanned_qr={
        "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjYxMTIyLWI4ZWJlMzc3IiwidHlwIjoiY2hlY2tpbitqd3Qi"
        "fQ.eyJzdWIiOiI…In0.c2lnbmF0dXJl…"
    }
)
"""What a kiosk posts: the text of the scanned appointment QR code."""

WALK_IN_EXAMPLES = examples(scanned_facility_qr={"code": "HBW1:01001:NOI:Zk2x9QmR0aLw4bYc"})
"""What the app posts: the text of a facility's printed walk-in QR code."""

ROOM_EXAMPLES = examples(to_a_room={"room": "P.102"})
"""The desk's optional room for a call."""
