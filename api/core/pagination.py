"""Opaque, tamper-proof cursors for keyset pagination.

A cursor is the sort key of the last item a page returned, encoded and signed (HMAC-SHA-256)
together with a *scope* string (for example the citizen whose list it is and the filters used).
A cursor presented under another scope, or altered, is rejected, so a cursor from one citizen is
useless for another. Keyset pagination (``WHERE (sort, id) < (:sort, :id)``) stays stable when
rows are inserted while a client pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec

from api.core.errors import InvalidInput

_encoder = msgspec.json.Encoder()


class Page(msgspec.Struct, kw_only=True):
    """Base of paged responses: ``next_cursor`` is null on the last page."""

    next_cursor: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(f"healthbook-cursor|{secret}".encode()).digest()

    def _mac(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:16]

    def encode(self, scope: str, values: list[Any]) -> str:
        payload = _encoder.encode(values)
        return f"{_b64(payload)}.{_b64(self._mac(scope, payload))}"

    def decode(self, scope: str, cursor: str | None) -> list[Any] | None:
        if cursor is None or cursor == "":
            return None
        try:
            payload_text, mac_text = cursor.split(".", 1)
            payload = _unb64(payload_text)
            valid = hmac.compare_digest(_unb64(mac_text), self._mac(scope, payload))
        except (ValueError, TypeError) as exc:
            raise InvalidInput("invalid cursor", field="cursor", source="query") from exc
        if not valid:
            raise InvalidInput("invalid cursor", field="cursor", source="query")
        values = msgspec.json.decode(payload)
        if not isinstance(values, list):
            raise InvalidInput("invalid cursor", field="cursor", source="query")
        return values
