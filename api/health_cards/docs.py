"""OpenAPI examples of the health card routes."""

from __future__ import annotations

from api.core.openapi import examples

ISSUE_EXAMPLES = examples(
    immunizations={"content": "immunizations"},
    one_visit={"content": "visit", "visit_id": "0b6f3c1e-4a52-4d3e-9a57-2f1d8b7c6e10"},
)
VERIFY_EXAMPLES = examples(
    a_qr_code_read={"card": "shc:/5676295953265460346029254077280433602870286471674522280928"},
    a_file={"card": '{"verifiableCredential":["eyJ6aXAiOiJERUYiLCJhbGciOiJFUzI1NiJ9.3ZJN.Yk"]}'},
)
