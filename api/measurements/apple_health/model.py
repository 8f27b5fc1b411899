"""The public shapes of an Apple Health export read: limits, samples, refusals, the summary,
and the errors that refuse an upload as a whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from api.core.errors import PAYLOAD_TOO_LARGE, DomainError, problem_type

Kind = Literal[
    "blood_pressure",
    "heart_rate",
    "body_weight",
    "body_height",
    "body_temperature",
    "oxygen_saturation",
    "blood_glucose",
]
MealRelation = Literal["before_meal", "after_meal"]
Progress = Callable[[int, "int | None"], None]
"""Called with (bytes of export.xml read so far, its total size when known)."""

EXPORT_INVALID = problem_type(
    "apple-health-export-invalid",
    "Apple Health export not readable",
    400,
    "The file is not an Apple Health export this service can read safely: not a zip holding "
    "apple_health_export/export.xml nor an export.xml, a damaged zip, XML that is not "
    "well-formed (`line` says where), or a DTD that declares entities. `samples_read` says how "
    "many samples were read before the problem; the import keeps none of them.",
)


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """What the reader accepts; the defaults fit a phone's multi-gigabyte export."""

    max_xml_bytes: int = 8 * 1024**3
    """Bytes of export.xml (decompressed) read at most."""
    max_compression_ratio: float = 100.0
    """Declared size / compressed size of the zip member; real exports are about 15–30."""
    ratio_floor_bytes: int = 16 * 1024**2
    """Members smaller than this are opened whatever their ratio (they cannot hurt)."""
    max_children: int = 1_000
    """Child elements of one top-level element (a record's metadata, a correlation's records)."""
    max_pending_blood_pressure: int = 100_000
    """Blood pressure halves (and correlations) remembered to pair and deduplicate them."""
    max_refusals_kept: int = 100
    max_skipped_types: int = 256


DEFAULT_LIMITS: Final = Limits()


class Source(msgspec.Struct, frozen=True):
    name: str
    version: str | None = None


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """The record's ``device`` attribute, split into its fields where it has the usual shape
    (``<<HKDevice: 0x…>, name:…, manufacturer:…, model:…, hardware:…, software:…>``)."""

    raw: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    hardware: str | None = None
    firmware: str | None = None
    software: str | None = None
    local_identifier: str | None = None
    udi: str | None = None


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """One reading. ``value`` is in ``unit`` (UCUM): mm[Hg] (systolic; ``diastolic`` beside
    it), /min, kg, cm, Cel, %, and mg/dL or mmol/L for glucose (kept as recorded)."""

    kind: Kind
    value: float
    unit: str
    start: datetime
    end: datetime
    source: Source
    dedup_key: str
    record_type: str
    original_unit: str
    line: int | None
    diastolic: float | None = None
    meal: MealRelation | None = None
    device: Device | None = None
    user_entered: bool = False


class Refusal(msgspec.Struct, frozen=True):
    line: int | None
    record_type: str | None
    reason: str


class Summary(msgspec.Struct, kw_only=True):
    """Counters of one read; filled while the samples are iterated."""

    samples: int = 0
    refused: int = 0
    refusals: list[Refusal] = msgspec.field(default_factory=list)
    """The first :attr:`Limits.max_refusals_kept` refusals; ``refused`` counts them all."""
    skipped: dict[str, int] = msgspec.field(default_factory=dict)
    """Records and correlations of other types, by type (beyond the cap, under ``other``)."""
    bytes_read: int = 0
    total_bytes: int | None = None


class ExportRefused(DomainError):
    """The upload as a whole cannot be read; ``detail`` says why in words for the citizen."""

    problem = EXPORT_INVALID

    def __init__(
        self,
        detail: str,
        *,
        line: int | None = None,
        samples_read: int = 0,
        limits: dict[str, Any] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"samples_read": samples_read}
        if line is not None:
            extra["line"] = line
        extra.update(limits or {})
        super().__init__(detail, extra=extra)
        self.line = line
        self.samples_read = samples_read


class ExportInvalid(ExportRefused):
    """Not an export, a damaged zip, XML that is not well-formed, or a DTD with entities."""


class ExportTooLarge(ExportRefused):
    """Beyond a size limit once decompressed, or compressed like a zip bomb; the problem names
    the limit (``max_bytes`` or ``max_compression_ratio``)."""

    problem = PAYLOAD_TOO_LARGE
