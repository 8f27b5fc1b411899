"""What the sharing routes take and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Passcode = Annotated[str, msgspec.Meta(min_length=4, max_length=64)]
Recipient = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
RecipientHint = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Content = Literal["ips", "visit", "immunizations", "categories"]
Category = Literal[
    "visits",
    "conditions",
    "allergies",
    "medications",
    "immunizations",
    "observations",
    "diagnostic_reports",
    "procedures",
]
"""The book's categories (as ``GET /citizens/me/health-book/{category}`` names them)."""


class ShareCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new SMART Health Link of the book."""

    expires_at: dt.datetime
    """When the link stops working (RFC 3339 with offset); at most SHARING_MAX_DAYS ahead."""
    content: Content = "ips"
    """What is shared, always as an IPS-shaped FHIR R4 document: ``ips``, the International
    Patient Summary of the whole book; ``visit``, one visit (``visit_id``) with what was recorded
    for it; ``immunizations``; ``categories``, the book's ``categories`` chosen."""
    visit_id: uuid.UUID | None = None
    """For ``visit`` (and only then): the visit's id as the book's API gives it
    (``GET /citizens/me/health-book/visits``)."""
    categories: Annotated[list[Category], msgspec.Meta(min_length=1, max_length=8)] | None = None
    """For ``categories`` (and only then): the book's categories shared."""
    include_restricted: bool = False
    """Restricted data (HIV/TB care from the insurance records, anything a hospital labelled
    restricted) is shared only when ticked, for this share; never by a guardian."""
    recipient: RecipientHint | None = None
    """Whom the share is for, as the citizen types it (≤ 80 characters; the Consent's actor)."""
    label: Label | None = None
    """Shown to the recipient (≤ 80 characters)."""
    passcode: Passcode | None = None
    """Set: flag ``P``; the recipient must give it (only its hash is stored)."""
    long_term: bool = False
    """Flag ``L``: each access gets the book as it is then, not as it was at sharing time."""
    pdf: bool = False
    """Also carry the shared content as a printable PDF (``application/pdf``, the book's
    episode or book PDF), a second file of the manifest encrypted like the first; not with
    ``direct`` (a ``U`` link has a single file)."""
    direct: bool = False
    """Flag ``U``: the link's URL is the single encrypted file, fetched by ``GET
    <url>?recipient=…`` (no manifest needed); never with a ``passcode``."""


class Share(msgspec.Struct, kw_only=True):
    """A link as its owner lists it (the key is never shown again)."""

    id: uuid.UUID
    content: Content
    visit_id: uuid.UUID | None
    categories: list[str] | None
    """The categories shared (``immunizations`` and ``categories``)."""
    include_restricted: bool
    recipient: str | None
    label: str | None
    flag: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    status: Literal["active", "expired", "revoked", "disabled"]
    passcode_attempts_remaining: int | None
    url: str
    """The manifest URL."""
    pdf: bool = False
    """The link also carries the content as a PDF file."""


class ShareCreated(Share, kw_only=True):
    """The new link: the only answer that carries its key."""

    shlink: str
    """The ``shlink:/`` payload (base64url JSON of ``url``, ``key``, ``exp``, ``flag``,
    ``label``)."""
    viewer_url: str
    """The viewer with the payload after ``#`` (which browsers never send): this service's own
    ``PUBLIC_BASE_URL/viewer#shlink:/…``, or ``SHARING_VIEWER_URL#shlink:/…`` when the operator
    configured an external SHL viewer."""
    qr_png: str
    """The QR code of ``viewer_url`` (error correction M), PNG in base64."""
    qr_svg: str
    """The same QR code as an SVG document (vector: for print or any screen size)."""


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
