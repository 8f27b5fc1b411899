"""Home readings in the book: what a citizen (or their guardian) measured, as entries of its own.

A reading is an ``observations`` entry of the pseudo-facility :data:`HOME_FACILITY` with no
document: the charts, the overview, the FHIR export, the IPS and shares read it where they read a
hospital's observations, and tell it apart by that facility (``source: home`` in a series). Its
FHIR Observation, built by the measurements domain, carries ``meta.security`` PATAST
(:data:`PATIENT_ASSERTED`, HL7 v3 ObservationValue "patient asserted") and names the patient as
its performer; the export adds a ``Provenance`` for each (api/health_book/export.py).

This module is what the book publishes to the measurements domain (through the runtime): it
writes the entry in the caller's transaction and knows nothing of idempotency or imports.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.health_book import access_log
from api.health_book.export import instant, patient_url
from api.health_book.fhir.dates import When
from api.health_book.fhir.model import ComponentOut, ObservationEntry, ObservedValue
from api.health_book.fhir.resources import Coding
from api.health_book.models import HOME_FACILITY, HealthEntry

HOME = "home"
CLINICAL = "clinical"
PATIENT_ASSERTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "PATAST",
    "display": "patient asserted",
}
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


class ReadingPart(Protocol):
    """A reading's value, or one of its components (systolic, diastolic)."""

    @property
    def code(self) -> str: ...
    @property
    def display(self) -> str: ...
    @property
    def number(self) -> float: ...
    @property
    def unit(self) -> str: ...
    @property
    def unit_code(self) -> str: ...


class Reading(Protocol):
    """What the book stores of a home reading (the measurements domain's ``BookReading``)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def codes(self) -> Sequence[tuple[str, str]]: ...
    @property
    def display(self) -> str: ...
    @property
    def categories(self) -> Sequence[str]: ...
    @property
    def effective_at(self) -> dt.datetime: ...
    @property
    def effective_end(self) -> dt.datetime | None: ...
    @property
    def value(self) -> ReadingPart | None: ...
    @property
    def components(self) -> Sequence[ReadingPart]: ...
    @property
    def notes(self) -> Sequence[str]: ...
    @property
    def home(self) -> dict[str, Any]: ...
    @property
    def resource(self) -> bytes: ...


def _when(at: dt.datetime) -> When:
    return When(instant(at), at.astimezone(dt.UTC), "second")


def _value(part: ReadingPart) -> ObservedValue:
    return ObservedValue(
        kind="quantity",
        number=part.number,
        unit=part.unit,
        unit_system=UCUM,
        unit_code=part.unit_code,
    )


def summary(reading: Reading) -> dict[str, Any]:
    """The entry's summary, in the shape extraction gives a hospital's Observation, with
    ``home`` (what the citizen entered: kind, meal relation, device, source)."""
    entry = ObservationEntry(
        key=f"Observation/{reading.id}",
        resource_type="Observation",
        full_url=None,
        codes=[Coding(system=LOINC, code=code, display=display) for code, display in reading.codes],
        text=reading.display,
        status="final",
        raw=msgspec.Raw(b"null"),
        categories=list(reading.categories),
        effective=_when(reading.effective_at),
        effective_end=_when(reading.effective_end) if reading.effective_end else None,
        issued=None,
        value=_value(reading.value) if reading.value is not None else None,
        data_absent=[],
        interpretation=[],
        reference_ranges=[],
        components=[
            ComponentOut(
                codes=[Coding(system=LOINC, code=part.code, display=part.display)],
                text=part.display,
                value=_value(part),
                data_absent=[],
                interpretation=[],
                reference_ranges=[],
            )
            for part in reading.components
        ],
        notes=list(reading.notes),
    )
    data = {name: getattr(entry, name) for name in entry.__struct_fields__ if name != "raw"}
    built: dict[str, Any] = msgspec.to_builtins(data)
    built["home"] = reading.home
    return built


def _row(citizen_id: uuid.UUID, reading: Reading, now: dt.datetime) -> dict[str, Any]:
    code, display = reading.codes[0]
    return {
        "id": reading.id,
        "document_id": None,
        "citizen_id": citizen_id,
        "facility_id": HOME_FACILITY,
        "category": "observations",
        "source_key": f"Observation/{reading.id}",
        "resource_type": "Observation",
        "code_system": LOINC,
        "code": code,
        "display": reading.display or display,
        "status": "final",
        "effective_at": reading.effective_at,
        "effective_end": reading.effective_end,
        "encounter_key": None,
        "summary": summary(reading),
        "resource": reading.resource,
        "active": True,
        "received_at": now,
    }


class HomeEntries:
    """Writes home readings into the book, in the caller's transaction; the caller registers
    the book's change (:class:`~api.health_book.publishing.BookChanges`) after its commit."""

    @staticmethod
    def patient_reference(citizen_id: uuid.UUID) -> str:
        """The reference a reading's ``subject`` and ``performer`` carry: the citizen's Patient
        as every export of the book names it."""
        return patient_url(citizen_id)

    async def add(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        readings: Sequence[Reading],
        now: dt.datetime,
    ) -> None:
        if readings:
            await session.execute(
                insert(HealthEntry), [_row(citizen_id, reading, now) for reading in readings]
            )

    async def replace(
        self, session: AsyncSession, citizen_id: uuid.UUID, reading: Reading, now: dt.datetime
    ) -> None:
        row = _row(citizen_id, reading, now)
        del row["id"], row["citizen_id"], row["document_id"], row["facility_id"]
        await session.execute(
            update(HealthEntry)
            .where(
                HealthEntry.id == reading.id,
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.facility_id == HOME_FACILITY,
            )
            .values(**row)
        )

    async def remove(
        self, session: AsyncSession, citizen_id: uuid.UUID, reading_id: uuid.UUID, now: dt.datetime
    ) -> None:
        """Out of the book (the row stays, inactive: a soft delete)."""
        await session.execute(
            update(HealthEntry)
            .where(
                HealthEntry.id == reading_id,
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.facility_id == HOME_FACILITY,
            )
            .values(active=False, received_at=now)
        )

    async def stored(
        self, session: AsyncSession, citizen_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[dict[str, Any], bytes]]:
        """The summary and FHIR resource of each of the citizen's home readings in ``ids``."""
        if not ids:
            return {}
        rows = await session.execute(
            select(HealthEntry.id, HealthEntry.summary, HealthEntry.resource).where(
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.facility_id == HOME_FACILITY,
                HealthEntry.id.in_(list(ids)),
            )
        )
        return {entry_id: (found, resource) for entry_id, found, resource in rows}

    async def discard(
        self, session: AsyncSession, citizen_id: uuid.UUID, ids: Select[uuid.UUID]
    ) -> int:
        """Delete outright the citizen's home readings whose ids ``ids`` selects (a failed
        import's readings, which never were part of the book); the number deleted."""
        result = await session.execute(
            delete(HealthEntry).where(
                HealthEntry.citizen_id == citizen_id,
                HealthEntry.facility_id == HOME_FACILITY,
                HealthEntry.id.in_(ids),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    @staticmethod
    def log(
        session: AsyncSession,
        citizen_id: uuid.UUID,
        *,
        actor_kind: str,
        actor_id: str,
        action: str,
        resource: str,
        now: dt.datetime,
        purpose: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """An access-log row, written in the caller's transaction."""
        access_log.record(
            session,
            citizen_id=citizen_id,
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            now=now,
            resource=resource,
            purpose=purpose,
            detail=detail,
        )
