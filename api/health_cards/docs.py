"""OpenAPI examples of the health card routes."""

from __future__ import annotations

from litestar.openapi.spec import OpenAPIType, Schema

from api.core.openapi import examples

ISSUE_EXAMPLES = examples(
    immunizations={"content": "immunizations"},
    one_visit={"content": "visit", "visit_id": "0b6f3c1e-4a52-4d3e-9a57-2f1d8b7c6e10"},
)

QR_TEXT_EXAMPLE = "shc:/5676295953265460346029254077280433602870286471674522280928"
VERIFY_JSON_EXAMPLES = [{"card": QR_TEXT_EXAMPLE}]
VERIFY_JSON_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["card"],
    properties={
        "card": Schema(
            type=OpenAPIType.STRING,
            description="A `.smart-health-card` file's JSON, a compact JWS, or `shc:/` text",
        )
    },
    description="Anything else is read as the card itself (a `.smart-health-card` file).",
)
TEXT_SCHEMA = Schema(type=OpenAPIType.STRING, description="`shc:/` numeric text, or a compact JWS")
