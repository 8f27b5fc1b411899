"""Hospitals publish and withdraw summaries: the use cases, and what follows a book's change.

Each use case runs in one unit of work; the book's cached overview is dropped (and rebuilt) only
after the change is committed, never after a rollback.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from api.core.background import BackgroundTasks
from api.core.clock import Clock
from api.core.uow import UnitOfWorkFactory
from api.facilities import service as facilities
from api.health_book import ingest


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
            )
        return published.result

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
