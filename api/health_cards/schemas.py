"""What the health card routes take and answer."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

CardContent = Literal["immunizations", "visit"]


class CardRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A card to issue from the book."""

    content: CardContent = "immunizations"
    """``immunizations`` (every immunization record of the book) or ``visit`` (one visit's
    resources: give ``visit_id``)."""
    visit_id: uuid.UUID | None = None


class IssuedCard(msgspec.Struct, kw_only=True):
    """A card just signed."""

    jws: str
    """The compact JWS (what a ``.smart-health-card`` file lists under ``verifiableCredential``)."""
    kid: str
    rid: str
    nbf: int
    types: list[str]
    qr: str | None
    """The ``shc:/`` numeric text of its QR code; ``null`` when the card is too large for one
    QR code (share it by SMART Health Link instead)."""


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    card: str
    """A ``.smart-health-card`` file's JSON, a compact JWS, or ``shc:/`` numeric text."""


class CardCheck(msgspec.Struct, kw_only=True, rename={"fhir_bundle": "fhirBundle"}):
    """One card's verdict. ``reason`` (when not valid): malformed, not_compressed,
    untrusted_issuer, issuer_unavailable, kid_not_in_jwks, kid_not_thumbprint, bad_signature,
    not_yet_valid, revoked, expired."""

    valid: bool
    reason: str | None = None
    detail: str | None = None
    issuer: str | None = None
    kid: str | None = None
    nbf: float | None = None
    types: list[str] | None = None
    fhir_bundle: dict[str, Any] | None = None
    """The decoded FHIR Bundle (also when the card fails after it could be read)."""


class Verification(CardCheck, kw_only=True):
    """The verdict on what was handed in: valid when every card in it is; the top-level
    members are the first failing card's (or the first card's)."""

    cards: list[CardCheck] = msgspec.field(default_factory=list)
