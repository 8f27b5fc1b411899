"""OpenAPI examples of the sharing routes."""

from __future__ import annotations

from api.core.openapi import examples

CREATE_EXAMPLES = examples(
    a_week_with_a_passcode={
        "expires_at": "2026-12-14T17:00:00+07:00",
        "label": "Tóm tắt sức khỏe cho bác sĩ",
        "passcode": "2468",
        "long_term": False,
    }
)
MANIFEST_EXAMPLES = examples(
    a_recipient_with_the_passcode={
        "recipient": "Dr. Nguyễn Văn An",
        "passcode": "2468",
        "embeddedLengthMax": 4096,
    }
)
