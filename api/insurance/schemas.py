"""What the insurance endpoint answers, and the certificate registry's bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec


class EpisodeProblem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One thing wrong with an episode: the table (``XML1`` … ``XML15``, or ``HOSO`` /
    ``FILEHOSO`` for the envelope's own structure), its ``MA_LK``, the field, the value sent (cut
    to 200 characters; absent when there was none) and the rule it breaks."""

    table: str
    ma_lk: str | None
    field: str | None
    value: str | None
    rule: str
    row: int | None = None
    """1-based position of the record in a table of many rows."""


class EpisodeResult(msgspec.Struct, kw_only=True):
    """The answer for one ``HOSO`` (one ``MA_LK``), in the envelope's order.

    Accepted: ``outcome`` says whether it was ``created``, stored as a ``new_version`` (the same
    ``document_id``, a later ``version``) or ``unchanged``. Rejected: ``type``/``title`` as in a
    problem document, and ``problems`` lists every problem found; nothing of the episode is
    stored."""

    index: int
    """Position of the ``HOSO`` in the envelope (from 0)."""
    ma_lk: str | None
    status: Literal["accepted", "rejected"]
    outcome: Literal["created", "new_version", "unchanged"] | None = None
    restricted: bool = False
    """HIV (XML6) or TB (XML15) care, or such a diagnosis: the signed file is kept, nothing goes
    into the book (no entries, counts, push or export)."""
    document_id: str | None = None
    version: int | None = None
    entry_counts: dict[str, int] | None = None
    type: str | None = None
    title: str | None = None
    problems: list[EpisodeProblem] = msgspec.field(default_factory=list)


class SubmissionResult(msgspec.Struct, kw_only=True):
    """The answer to an envelope: one result per ``HOSO``."""

    facility_code: str
    signed: bool
    accepted: int
    rejected: int
    episodes: list[EpisodeResult]


Pem = Annotated[str, msgspec.Meta(min_length=64, max_length=20_000)]


class CertificateAdd(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pem: Pem
    """The facility's signing certificate, PEM (``-----BEGIN CERTIFICATE-----`` …)."""


class Certificate(msgspec.Struct, kw_only=True):
    id: str
    facility_id: str
    sha256: str
    subject: str
    not_after: dt.datetime
    added_at: dt.datetime
    added_by: str


class SignedFile(msgspec.Struct, kw_only=True):
    """One episode of the citizen's book that came as insurance XML, with its provenance."""

    id: str
    facility_id: str
    ma_lk: str
    document_id: str
    version: int
    received_at: dt.datetime
    signed: bool
    certificate_sha256: str | None
    restricted: bool = False
    """HIV or TB care: listed only while the citizen shows restricted data."""


class RestrictedData(msgspec.Struct, kw_only=True):
    """Whether the citizen's restricted records (HIV care, XML6; TB treatment, XML15; an HIV or
    TB diagnosis) are shown in their book, its counts, its export and their signed files."""

    show: bool
    changed_at: dt.datetime | None = None
    """When the citizen last changed it; none while it is the default (not shown)."""


class RestrictedDataChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``show``: ``true`` to show the restricted records, ``false`` to hide them again."""

    show: bool


class BookNear(msgspec.Struct, kw_only=True):
    """The slots search pre-filled around the follow-up day (``GET`` it as is)."""

    facility_id: str
    department: str
    start_from: dt.datetime = msgspec.field(name="from")
    start_to: dt.datetime = msgspec.field(name="to")
    url: str


class FollowUp(msgspec.Struct, kw_only=True):
    """A re-examination the facility asked for; ``book_near`` where it publishes slots for
    that department."""

    id: str
    facility_id: str
    ma_lk: str
    due_date: dt.date
    department: str | None
    book_near: BookNear | None = None
