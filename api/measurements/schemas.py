"""Home measurements as the API takes and answers them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from api.core.pagination import Page
from api.measurements.kinds import Kind, MealRelation

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
SampleKey = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class DeviceInfo(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """The meter a reading came from (a FHIR ``Device``, contained in the Observation)."""

    manufacturer: Text | None = None
    model: Text | None = None
    serial: Text | None = None
    name: Text | None = None


class MeasurementCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One reading. ``value`` for every kind but ``blood_pressure``, which takes ``systolic``
    and ``diastolic``; ``unit`` in UCUM or its common spellings (see the README)."""

    kind: Kind
    unit: Unit
    effective_at: dt.datetime
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    effective_end: dt.datetime | None = None
    meal: MealRelation | None = None
    """Blood glucose only: fasting, before_meal, after_meal or random."""
    device: DeviceInfo | None = None
    note: Note | None = None
    source: Text | None = None
    """The app the reading was entered in, if not this service's own."""


class Entered(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What was sent, before conversion."""

    unit: str
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None


class Measurement(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    kind: str
    unit: str
    """The UCUM unit the values are stored in (converted from ``entered.unit``)."""
    effective_at: dt.datetime
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    effective_end: dt.datetime | None = None
    meal: str | None = None
    device: DeviceInfo | None = None
    note: str | None = None
    source: str | None = None
    entered: Entered | None = None
    origin: Literal["entered", "imported"]
    """``entered`` through the API one by one, or ``imported`` (a batch, a file)."""
    patient_reported: bool
    """Always true: the citizen's own reading, never a facility's."""
    recorded_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    fhir: msgspec.Raw
    """The reading as a FHIR R4 Observation."""


class MeasurementPage(Page, kw_only=True):
    items: list[Measurement]


# Batches ---------------------------------------------------------------------------------------


class MeasurementBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Samples from a companion app. Each sample is decoded alone: one that does not decode or
    is refused does not stop the others (its reason is in the answer)."""

    samples: list[dict[str, Any]]
    source: Text | None = None
    """The app the batch comes from (a sample's own ``source`` or Health Connect
    ``metadata.dataOrigin.packageName`` wins)."""


Outcome = Literal["imported", "duplicate", "refused"]


class SampleResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    outcome: Outcome
    id: str | None = None
    """The reading's id: the new one, or the one a duplicate repeats."""
    key: str | None = None
    reason: str | None = None
    field: str | None = None


class ImportSummary(msgspec.Struct, kw_only=True):
    imported: int
    duplicates: int
    refused: int
    results: list[SampleResult]
    """One per sample that was not imported (duplicates and refusals), and per imported sample
    when the caller asked for them."""


ImportStatus = Literal["queued", "running", "done", "failed"]


class ImportRefusal(msgspec.Struct, kw_only=True):
    """A record of the export that was not imported: where (``line`` of export.xml), what
    (its HealthKit type) and why."""

    line: int | None = None
    record_type: str | None = None
    reason: str


class MeasurementImportJob(msgspec.Struct, kw_only=True):
    """An Apple Health export upload and its background import (poll it until ``done`` or
    ``failed``)."""

    id: str
    status: ImportStatus
    media_type: str
    size: int
    """Bytes uploaded."""
    bytes_read: int
    """Bytes of export.xml read so far (decompressed); with ``bytes_total``, the progress."""
    bytes_total: int | None
    samples: int
    """Samples of the kinds this service keeps read so far."""
    imported: int
    duplicates: int
    refused: int
    refusals: list[ImportRefusal]
    """The first refusals (``refused`` counts them all)."""
    skipped: dict[str, int]
    """Records of other types (steps, workouts…), by type: not imported."""
    problem: dict[str, Any] | None
    """Why a failed import failed (a problem detail); none of its readings were kept."""
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


class MeasurementImports(msgspec.Struct, kw_only=True):
    items: list[MeasurementImportJob]
