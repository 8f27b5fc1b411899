"""National ID numbers: normalised, keyed-hashed and masked. The number itself is never stored."""

from __future__ import annotations

import hashlib
import hmac
import re

_SEPARATORS = re.compile(r"[\s\-.]")
_MAX_LENGTH = 64


class InvalidNationalId(ValueError):
    """Not a national ID number this service accepts."""


def normalise(value: object, pattern: str | None = None) -> str:
    """Strip separators and spaces, upper-case; check the issuer's pattern when given."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidNationalId("national ID must be a string")
    text = _SEPARATORS.sub("", str(value)).upper()
    if not text or len(text) > _MAX_LENGTH or not text.isalnum():
        raise InvalidNationalId("national ID is empty, too long or has invalid characters")
    if pattern and not re.fullmatch(pattern, text):
        raise InvalidNationalId("national ID does not have the expected format")
    return text


def keyed_hash(key: str, normalised: str) -> str:
    """HMAC-SHA-256 of the normalised number (hex).

    The identifier system is deliberately not part of the message: the number a hospital
    publishes under any configured national-ID system must meet the one the identity provider
    asserts at login.
    """
    return hmac.new(key.encode(), normalised.encode(), hashlib.sha256).hexdigest()


def mask(normalised: str) -> str:
    """What a citizen sees of their own number: the last three characters, the rest hidden (at
    most nine bullets, so long identifiers from other systems fit the column)."""
    visible = 3 if len(normalised) > 6 else 1
    return "•" * min(len(normalised) - visible, 9) + normalised[-visible:]
