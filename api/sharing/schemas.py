"""What the sharing routes take and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Passcode = Annotated[str, msgspec.Meta(min_length=4, max_length=64)]
Recipient = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ShareCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new SMART Health Link of the book."""

    expires_at: dt.datetime
    """When the link stops working (RFC 3339 with offset); at most SHARING_MAX_DAYS ahead."""
    content: Literal["ips"] = "ips"
    """What is shared: ``ips``, the International Patient Summary of the whole book."""
    label: Label | None = None
    """Shown to the recipient (≤ 80 characters)."""
    passcode: Passcode | None = None
    """Set: flag ``P``; the recipient must give it (only its hash is stored)."""
    long_term: bool = False
    """Flag ``L``: each access gets the book as it is then, not as it was at sharing time."""
    direct: bool = False
    """Flag ``U``: the link's URL is the single encrypted file, fetched by ``GET
    <url>?recipient=…`` (no manifest needed); never with a ``passcode``."""


class Share(msgspec.Struct, kw_only=True):
    """A link as its owner lists it (the key is never shown again)."""

    id: uuid.UUID
    content: str
    label: str | None
    flag: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    status: Literal["active", "expired", "revoked", "disabled"]
    passcode_attempts_remaining: int | None
    url: str
    """The manifest URL."""


class ShareCreated(Share, kw_only=True):
    """The new link: the only answer that carries its key."""

    shlink: str
    """The ``shlink:/`` payload (base64url JSON of ``url``, ``key``, ``exp``, ``flag``,
    ``label``)."""
    viewer_url: str | None
    """``SHARING_VIEWER_URL#shlink:/…`` (the payload only after ``#``) when the operator
    configured an SHL viewer; ``null`` otherwise."""
    qr_png: str
    """The QR code of ``viewer_url``, or of the bare ``shlink:/`` payload without a viewer
    (error correction M), PNG in base64."""


class ShareList(msgspec.Struct):
    items: list[Share]


class ManifestRequest(msgspec.Struct, forbid_unknown_fields=False, rename="camel"):
    """``POST <url>`` by a recipient (unknown members ignored)."""

    recipient: Recipient
    passcode: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    embedded_length_max: Annotated[int, msgspec.Meta(ge=0)] | None = None


class ManifestFile(msgspec.Struct, omit_defaults=True, rename="camel"):
    content_type: str
    location: str | None = None
    embedded: str | None = None
    last_updated: str | None = None
    status: str | None = None


class Manifest(msgspec.Struct):
    files: list[ManifestFile]
