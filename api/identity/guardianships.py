"""Guardianships: recorded by operators, or asserted by an identity provider's dependents claim."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.clock import Clock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.uow import UnitOfWorkFactory
from api.identity import national_id
from api.identity.citizens import CitizenDirectory, effective_until, find_or_create
from api.identity.models import Citizen, Guardianship
from api.identity.schemas import GuardianshipCreate, GuardianshipView

SOURCE_OPERATOR = "operator"
SOURCE_PROVIDER = "identity_provider"


def view(
    guardianship: Guardianship, dependent_birth: dt.date | None, max_age: int
) -> GuardianshipView:
    return GuardianshipView(
        id=str(guardianship.id),
        guardian_id=str(guardianship.guardian_id),
        dependent_id=str(guardianship.dependent_id),
        kind=guardianship.kind,
        source=guardianship.source,
        valid_from=guardianship.valid_from,
        valid_until=guardianship.valid_until,
        effective_until=effective_until(guardianship, dependent_birth, max_age),
        note=guardianship.note,
    )


def _dependent_entries(claim: Any, pattern: str) -> list[tuple[str, dt.date | None]]:
    """The claim is a list of national IDs, or of objects ``{national_id, birthdate}``."""
    entries: list[tuple[str, dt.date | None]] = []
    for item in claim if isinstance(claim, list) else []:
        number: Any = item
        birth: dt.date | None = None
        if isinstance(item, dict):
            number = item.get("national_id")
            raw_birth = item.get("birthdate")
            if isinstance(raw_birth, str):
                try:
                    birth = dt.date.fromisoformat(raw_birth[:10])
                except ValueError:
                    birth = None
        try:
            entries.append((national_id.normalise(number, pattern), birth))
        except national_id.InvalidNationalId:
            continue
    return entries


async def sync_provider_dependents(
    session: AsyncSession,
    *,
    guardian: Citizen,
    claim: Any,
    pattern: str,
    identifier_key: str,
    now: dt.datetime,
) -> list[uuid.UUID]:
    """Make the provider-sourced guardianships of ``guardian`` equal the claim. Returns the
    citizens whose cached profiles changed."""
    wanted: dict[uuid.UUID, dt.date | None] = {}
    for number, birth in _dependent_entries(claim, pattern):
        dependent, _ = await find_or_create(
            session, national_id.keyed_hash(identifier_key, number), national_id.mask(number), now
        )
        if dependent.id == guardian.id:
            continue
        if birth is not None and dependent.birth_date is None:
            dependent.birth_date = birth
        wanted[dependent.id] = birth
    current = (
        await session.scalars(
            select(Guardianship).where(
                Guardianship.guardian_id == guardian.id,
                Guardianship.source == SOURCE_PROVIDER,
                or_(Guardianship.valid_until.is_(None), Guardianship.valid_until > now),
            )
        )
    ).all()
    changed: list[uuid.UUID] = []
    present = {g.dependent_id for g in current}
    for guardianship in current:
        if guardianship.dependent_id not in wanted:
            guardianship.valid_until = now
            changed.append(guardianship.dependent_id)
    for dependent_id in wanted.keys() - present:
        session.add(
            Guardianship(
                id=uuid.uuid4(),
                guardian_id=guardian.id,
                dependent_id=dependent_id,
                kind="parent",
                source=SOURCE_PROVIDER,
                valid_from=now,
                valid_until=None,
                created_at=now,
            )
        )
        changed.append(dependent_id)
    return changed


class GuardianshipService:
    """Who may act for whom: operators record and end guardianships, citizens list theirs.
    Every change drops the cached profiles of both citizens once it is committed."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        directory: CitizenDirectory,
        identifier_key: str,
        child_max_age: int,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._identifier_key = identifier_key
        self._max_age = child_max_age
        self._clock = clock

    async def record(self, data: GuardianshipCreate) -> GuardianshipView:
        """An operator records a guardianship (citizens not yet known are created by hash)."""
        try:
            guardian_number = national_id.normalise(data.guardian_national_id)
            dependent_number = national_id.normalise(data.dependent_national_id)
        except national_id.InvalidNationalId as exc:
            raise InvalidInput(str(exc)) from exc
        if guardian_number == dependent_number:
            raise InvalidInput("a citizen cannot be their own guardian")
        now = self._clock.now()
        valid_from = data.valid_from or now
        if data.valid_until is not None and data.valid_until <= valid_from:
            raise InvalidInput("valid_until must be after valid_from")
        key = self._identifier_key
        async with self._uow() as uow:
            session = uow.session
            guardian, _ = await find_or_create(
                session,
                national_id.keyed_hash(key, guardian_number),
                national_id.mask(guardian_number),
                now,
            )
            dependent, _ = await find_or_create(
                session,
                national_id.keyed_hash(key, dependent_number),
                national_id.mask(dependent_number),
                now,
            )
            if data.dependent_birth_date is not None:
                known = dependent.birth_date
                if known is not None and known != data.dependent_birth_date:
                    raise Conflict("the dependent's birth date differs from the one on record")
                dependent.birth_date = data.dependent_birth_date
            if data.kind == "parent" and dependent.birth_date is None:
                raise InvalidInput("a parent guardianship needs the dependent's birth date")
            guardianship = Guardianship(
                id=uuid.uuid4(),
                guardian_id=guardian.id,
                dependent_id=dependent.id,
                kind=data.kind,
                source=SOURCE_OPERATOR,
                valid_from=valid_from,
                valid_until=data.valid_until,
                note=data.note,
                created_at=now,
            )
            session.add(guardianship)
            await session.flush()
            result = view(guardianship, dependent.birth_date, self._max_age)
            uow.after_commit(partial(self._directory.invalidate, [guardian.id, dependent.id]))
        return result

    async def get(self, guardianship_id: uuid.UUID) -> GuardianshipView:
        async with self._uow() as uow:
            session = uow.session
            guardianship = await session.get(Guardianship, guardianship_id)
            if guardianship is None:
                raise NotFound("no such guardianship")
            dependent = await session.get(Citizen, guardianship.dependent_id)
            birth = dependent.birth_date if dependent else None
            return view(guardianship, birth, self._max_age)

    async def end(self, guardianship_id: uuid.UUID) -> GuardianshipView:
        """End a guardianship now (one that has ended already keeps its end)."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            guardianship = await session.get(Guardianship, guardianship_id)
            if guardianship is None:
                raise NotFound("no such guardianship")
            if guardianship.valid_until is None or guardianship.valid_until > now:
                guardianship.valid_until = now
            dependent = await session.get(Citizen, guardianship.dependent_id)
            birth = dependent.birth_date if dependent else None
            result = view(guardianship, birth, self._max_age)
            uow.after_commit(
                partial(
                    self._directory.invalidate,
                    [guardianship.guardian_id, guardianship.dependent_id],
                )
            )
        return result

    async def list_for(self, citizen_id: uuid.UUID) -> list[GuardianshipView]:
        """The guardianships where ``citizen_id`` is the guardian or the dependent."""
        async with self._uow() as uow:
            rows = (
                await uow.session.execute(
                    select(Guardianship, Citizen.birth_date)
                    .join(Citizen, Citizen.id == Guardianship.dependent_id)
                    .where(
                        or_(
                            Guardianship.guardian_id == citizen_id,
                            Guardianship.dependent_id == citizen_id,
                        )
                    )
                    .order_by(Guardianship.created_at)
                )
            ).all()
            return [view(g, birth, self._max_age) for g, birth in rows]
