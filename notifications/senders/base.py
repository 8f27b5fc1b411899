"""What every sender takes and gives back: pushes in, one result per push out.

A sender never raises for a push that failed: it says per push whether it was sent, whether the
token is dead (``invalid_token``: the relay deletes the device), whether the push itself was
refused (``rejected``: not retried), or whether to try again later (``retry``, with the provider's
``Retry-After`` when it gave one). Logs never carry a token in full: ``token_hint`` is a short
digest that lets operators correlate lines without being able to push to the phone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

MAX_PAYLOAD_BYTES = 4096
"""FCM's limit on a message's notification + data payload."""

Outcome = Literal["sent", "invalid_token", "rejected", "retry"]


class Push(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    title: str
    body: str
    data: dict[str, str]
    priority: Literal["high", "normal"] = "normal"
    ttl_seconds: int = 86_400
    collapse_key: str | None = None


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Outcome
    error: str | None = None
    """The provider's error code (``UNREGISTERED``, ``QUOTA_EXCEEDED``...), never a token."""
    retry_after: float | None = None
    message_id: str | None = None


PAYLOAD_TOO_LARGE = SendResult(outcome="rejected", error="PAYLOAD_TOO_LARGE")

_payload_encoder = msgspec.json.Encoder()


class _Payload(msgspec.Struct):
    notification: dict[str, str]
    data: dict[str, str]


def payload_bytes(title: str, body: str, data: dict[str, str]) -> int:
    """Size of what FCM counts against its 4 KB limit: the notification and data members."""
    encoded = _payload_encoder.encode(_Payload({"title": title, "body": body}, data))
    return len(encoded)


def fits(push: Push) -> bool:
    return payload_bytes(push.title, push.body, push.data) <= MAX_PAYLOAD_BYTES


def token_hint(token: str) -> str:
    """A 12-hex-digit digest of a token, for logs."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class Sender(Protocol):
    name: str

    async def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        """One result per push, in order."""
        ...

    async def aclose(self) -> None: ...
