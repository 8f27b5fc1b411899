"""Hospitals publish and withdraw summaries: the use cases, and what follows a book's change.

Each use case runs in one unit of work; the book's cached overview is dropped (and rebuilt) only
after the change is committed, never after a rollback.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

import msgspec

from api.core.background import BackgroundTasks
from api.core.clock import Clock
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.facilities import service as facilities
from api.health_book import ingest
from api.health_book.fhir import FhirError


class Overviews(Protocol):
    """The book's materialised overviews (``BookReader``)."""

    async def changed(self, citizen_id: uuid.UUID) -> bool: ...

    async def rebuild(self, citizen_id: uuid.UUID, now: dt.datetime) -> object: ...


class BookChanges:
    """What follows a committed change of a citizen's book (after-commit effects)."""

    def __init__(self, book: Overviews, background: BackgroundTasks, clock: Clock) -> None:
        self._book = book
        self._background = background
        self._clock = clock

    async def changed(self, citizen_id: uuid.UUID) -> None:
        """After a publish: no cached overview survives it. When one was materialised (the book
        is being read), a fresh one is built in the background — the hospital does not wait, and
        a reader arriving first builds it itself. Books nobody reads are built on first read."""
        if await self._book.changed(citizen_id):
            self._background.start(
                "overview-rebuild", self._book.rebuild(citizen_id, self._clock.now())
            )

    async def rebuilt(self, citizen_id: uuid.UUID) -> None:
        """After a pull: the overview is rebuilt at once (and every process's copy dropped), so
        a sync that ends its process leaves the book ready to read."""
        await self._book.rebuild(citizen_id, self._clock.now())


class SummaryService:
    """``POST /hospital/summaries`` and withdrawals, for the hospital a client is bound to."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        config: ingest.IngestConfig,
        changes: BookChanges,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._config = config
        self.max_body_bytes = config.max_bytes
        self._changes = changes
        self._clock = clock

    async def publish(
        self, body: bytes, *, facility_id: str | None, publisher: str, fhir_version: str | None
    ) -> ingest.PublishResult:
        """Store a bundle from the client's facility (which must be active)."""
        async with self._uow() as uow:
            facility = await facilities.require_active(uow.session, facility_id)
            published = await ingest.publish(
                uow,
                body,
                config=self._config,
                facility_id=facility.id,
                facility_name=facility.name,
                publisher=publisher,
                source="push",
                now=self._clock.now(),
                on_change=self._changes.changed,
                fhir_version=fhir_version,
                quiet_new_books=True,
            )
        return published.result

    async def publish_in(
        self,
        uow: UnitOfWork,
        body: bytes,
        *,
        facility_id: str,
        facility_name: str,
        publisher: str,
        national_id_systems: tuple[str, ...],
        validate: bool = True,
        restricted: bool = False,
    ) -> ingest.Publication:
        """Store a FHIR document built by another domain (the insurance XML's episodes) in
        ``uow``'s transaction, matching the patient only by ``national_id_systems``. A document
        that cannot be accepted raises ``ValueError`` saying why (nothing stored).
        ``validate=False``: the document comes from a writer of this service tested to produce
        valid R4 (the insurance mapping), so its R4 validation is not run again. A
        ``restricted`` one (HIV/TB care) is for a citizen who shows restricted data only."""
        config = msgspec.structs.replace(self._config, national_id_systems=national_id_systems)
        try:
            return await ingest.publish(
                uow,
                body,
                config=config,
                facility_id=facility_id,
                facility_name=facility_name,
                publisher=publisher,
                source="push",
                now=self._clock.now(),
                on_change=self._changes.changed,
                validate=validate,
                restricted=restricted,
                # changed() drops cached copies and rebuilds only a materialised overview: a
                # book registered by this publish has neither
                quiet_new_books=True,
            )
        except FhirError as exc:
            raise ValueError(str(exc)) from None

    async def publish_restricted_in(
        self,
        uow: UnitOfWork,
        body: bytes,
        *,
        facility_id: str,
        facility_name: str,
        publisher: str,
        national_id_systems: tuple[str, ...],
    ) -> tuple[uuid.UUID, ingest.Publication | None]:
        """A restricted document (HIV/TB care) in ``uow``'s transaction: into the book of a
        citizen who shows restricted data; otherwise it stays out and takes the document's
        earlier versions out with it (:func:`~api.health_book.ingest.publish_restricted`).
        ``ValueError`` when it cannot be accepted."""
        config = msgspec.structs.replace(self._config, national_id_systems=national_id_systems)
        try:
            return await ingest.publish_restricted(
                uow,
                body,
                config=config,
                facility_id=facility_id,
                facility_name=facility_name,
                publisher=publisher,
                now=self._clock.now(),
                on_change=self._changes.changed,
            )
        except FhirError as exc:
            raise ValueError(str(exc)) from None

    async def shows_restricted_in(self, uow: UnitOfWork, citizen_id: uuid.UUID) -> bool:
        """Whether the citizen shows their restricted (HIV/TB) records."""
        return await ingest.shows_restricted(uow.session, citizen_id)

    async def restricted_choice_in(
        self, uow: UnitOfWork, citizen_id: uuid.UUID
    ) -> tuple[bool, dt.datetime | None]:
        """The citizen's choice (shown or not) and when they last changed it."""
        choice = await ingest.restricted_choice(uow.session, citizen_id)
        return (False, None) if choice is None else (choice.show, choice.changed_at)

    async def choose_restricted_in(
        self, uow: UnitOfWork, citizen_id: uuid.UUID, *, show: bool
    ) -> bool:
        """Record the citizen's choice (logged); hiding takes every restricted document out of
        the book. The overview is dropped after the commit. Answers whether it changed."""
        return await ingest.choose_restricted(
            uow, citizen_id, show=show, now=self._clock.now(), on_change=self._changes.changed
        )

    async def describe(
        self, document_id: uuid.UUID, *, facility_id: str | None
    ) -> ingest.PublishedDocument:
        """A document the client's facility published: its versions and their status."""
        async with self._uow() as uow:
            facility = await facilities.require_active(uow.session, facility_id)
            return await ingest.describe(
                uow.session, facility_id=facility.id, document_id=document_id
            )

    async def withdraw(
        self, document_id: uuid.UUID, *, facility_id: str | None, publisher: str
    ) -> ingest.PublishResult:
        """Mark a document the client's facility published as entered in error."""
        async with self._uow() as uow:
            facility = await facilities.require_active(uow.session, facility_id)
            return await ingest.mark_entered_in_error(
                uow,
                facility_id=facility.id,
                document_id=document_id,
                publisher=publisher,
                now=self._clock.now(),
                on_change=self._changes.changed,
            )
