"""The database side of a pull: facilities to pull from, pull links, and publishing through the
ingestion. Each method is one short transaction of its own; none does network I/O."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from api.core.errors import Conflict, NotFound
from api.core.uow import UnitOfWorkFactory
from api.facilities import service as facilities
from api.facilities.schemas import FacilityAdminView
from api.health_book import ingest
from api.health_book.fhir import FhirError, extract, parse_bundle
from api.health_book.models import PullLink
from api.health_book.pull.errors import PullError, PullNotConfigured, UnusableContent
from api.health_book.pull.fetch import Target
from api.health_book.pull.http import Endpoint
from api.identity import citizens, national_id

PUBLISHER = "fhir-pull"
"""``published_by`` of pulled documents and ``actor_id`` of their access-log rows."""


class PullStore:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        config: ingest.IngestConfig,
        *,
        on_change: ingest.BookChanged,
    ) -> None:
        self._uow = uow
        self._config = config
        self._on_change = on_change

    async def target(self, facility_id: str) -> Target:
        async with self._uow() as uow:
            session = uow.session
            try:
                facility = await facilities.get_admin_view(session, facility_id)
            except NotFound as exc:
                raise PullNotConfigured(f"no facility {facility_id!r}") from exc
            return target_of(facility)

    async def pulling_targets(self) -> list[Target]:
        """Every active facility with a FHIR base URL."""
        async with self._uow() as uow:
            return [target_of(f) for f in await facilities.pulling_facilities(uow.session)]

    async def link(self, facility_id: str, remote_id: str) -> PullLink | None:
        async with self._uow() as uow:
            session = uow.session
            return await session.get(PullLink, (facility_id, remote_id))

    async def linked_patients(self, facility_id: str) -> list[str]:
        """Remote Patient ids linked at the facility, least recently checked first."""
        async with self._uow() as uow:
            session = uow.session
            rows = await session.scalars(
                select(PullLink.remote_patient_id)
                .where(PullLink.facility_id == facility_id)
                .order_by(PullLink.checked_at, PullLink.remote_patient_id)
            )
            return list(rows)

    async def linked_facilities(self) -> list[str]:
        async with self._uow() as uow:
            session = uow.session
            rows = await session.scalars(
                select(PullLink.facility_id).distinct().order_by(PullLink.facility_id)
            )
            return list(rows)

    async def publish(self, target: Target, body: bytes, now: dt.datetime) -> ingest.Publication:
        """Store the bundle through the ingestion; the result and the citizen it is about (the
        overview is rebuilt once it is committed)."""
        try:
            async with self._uow() as uow:
                return await ingest.publish(
                    uow,
                    body,
                    config=self._config,
                    facility_id=target.facility_id,
                    facility_name=target.facility_name,
                    publisher=PUBLISHER,
                    source="pull",
                    now=now,
                    on_change=self._on_change,
                )
        except FhirError as exc:
            raise UnusableContent(f"the facility's answer cannot be stored: {exc}") from exc
        except Conflict as exc:
            raise UnusableContent(exc.detail or "conflict") from exc
        except IntegrityError as exc:
            raise PullError(
                "another pull stored this patient's record at the same time; try again"
            ) from exc

    async def citizen_of(self, body: bytes, now: dt.datetime) -> uuid.UUID:
        """The citizen a Patient-only bundle is about, made if new (as a publish would)."""
        config = self._config
        try:
            parsed = parse_bundle(body, max_bytes=config.max_bytes, max_depth=config.max_depth)
            patient = extract(parsed, national_id_systems=config.national_id_systems).patient
            number = national_id.normalise(patient.national_id.value)
        except (FhirError, national_id.InvalidNationalId) as exc:
            raise UnusableContent(f"the facility's Patient cannot be matched: {exc}") from exc
        async with self._uow() as uow:
            citizen_id, _ = await citizens.find_or_register(
                uow.session,
                national_id.keyed_hash(config.identifier_key, number),
                national_id.mask(number),
                now,
            )
        return citizen_id

    async def save_link(
        self,
        facility_id: str,
        remote_id: str,
        *,
        citizen_id: uuid.UUID,
        as_of: dt.datetime,
        fingerprint: str | None,
        now: dt.datetime,
    ) -> None:
        """Record a successful sync (creating the link on the first)."""
        for attempt in (1, 2):
            try:
                async with self._uow() as uow:
                    session = uow.session
                    link = await session.get(PullLink, (facility_id, remote_id))
                    if link is None:
                        link = PullLink(
                            facility_id=facility_id, remote_patient_id=remote_id, created_at=now
                        )
                        session.add(link)
                    link.citizen_id = citizen_id
                    link.last_synced_at = as_of
                    link.content_sha256 = fingerprint
                    link.checked_at = now
                    link.last_error = None
                return
            except IntegrityError:
                if attempt == 2:
                    raise
                # a concurrent sync made the link first: the next attempt updates it

    async def record_failure(
        self, facility_id: str, remote_id: str, message: str, now: dt.datetime
    ) -> None:
        async with self._uow() as uow:
            await uow.session.execute(
                update(PullLink)
                .where(PullLink.facility_id == facility_id, PullLink.remote_patient_id == remote_id)
                .values(checked_at=now, last_error=message[:500])
            )


def target_of(facility: FacilityAdminView) -> Target:
    if not facility.active:
        raise PullNotConfigured(f"facility {facility.id} is not active")
    if not facility.fhir_base_url:
        raise PullNotConfigured(f"facility {facility.id} has no FHIR base URL (fhir_base_url)")
    return Target(
        facility_id=facility.id,
        facility_name=facility.name,
        endpoint=Endpoint(
            facility_id=facility.id,
            base_url=facility.fhir_base_url,
            token_url=facility.fhir_token_url,
            client_id=facility.fhir_client_id,
            assertion_alg=facility.fhir_assertion_alg or "ES384",
        ),
    )
