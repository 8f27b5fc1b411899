"""The NUL check of request bodies: JSON escapes, not lookalikes, and form encoding."""

from __future__ import annotations

import json

import pytest

from api.core.inputs import contains_nul


@pytest.mark.parametrize(
    ("text", "has_nul"),
    [
        ("plain", False),
        ("a\x00b", True),
        ("\x00", True),
        ("a\\u0000b", False),  # a backslash then the letters u0000: no NUL
        ("a\\\x00b", True),  # a backslash then a NUL
        ("\\\\u0000", False),
    ],
)
def test_json_strings_with_and_without_nul(text: str, has_nul: bool) -> None:
    body = json.dumps({"note": text, "items": [text]}).encode()
    assert contains_nul(body, "application/json") is has_nul
    assert contains_nul(body, "application/fhir+json") is has_nul


def test_a_large_body_without_nul_and_one_with_it_at_the_end() -> None:
    clean = json.dumps({"entries": ["x" * 100] * 10_000}).encode()
    assert contains_nul(clean, "application/json") is False
    dirty = clean[:-2] + b',"\\u0000"]}'
    assert json.loads(dirty)["entries"][-1] == "\x00"
    assert contains_nul(dirty, "application/json") is True


def test_form_bodies_and_other_media_types() -> None:
    assert contains_nul(b"code=abc%00", "application/x-www-form-urlencoded") is True
    assert contains_nul(b"code=abc", "application/x-www-form-urlencoded") is False
    assert contains_nul(b'{"a":"\\u0000"}', "text/plain") is False
