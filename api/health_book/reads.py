"""Reads of a book by someone other than its owner: logged before the answer leaves."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.clock import Clock
from api.core.uow import UnitOfWorkFactory
from api.health_book import access_log, export


class ReadLog:
    """Writes a guardian's read of a dependent's records to the access log, in a transaction of
    its own that has committed when :meth:`guardian_read` returns: no unlogged access."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def guardian_read(self, citizen_id: uuid.UUID, guardian: str, resource: str) -> None:
        async with self._uow() as uow:
            access_log.record(
                uow.session,
                citizen_id=citizen_id,
                actor_kind="guardian",
                actor_id=guardian,
                action="read",
                now=self._clock.now(),
                resource=resource,
                purpose="guardian access",
            )


class BookExport:
    """The book as FHIR R4 (a collection Bundle or an IPS document), dated by the clock and
    naming this service (``service_url``) as its author."""

    def __init__(self, *, clock: Clock, service_url: str) -> None:
        self._clock = clock
        self._service_url = service_url

    async def export(
        self, session: AsyncSession, citizen_id: uuid.UUID, *, kind: export.ExportKind
    ) -> bytes:
        return await export.export_book(
            session, citizen_id, kind=kind, now=self._clock.now(), service_url=self._service_url
        )
