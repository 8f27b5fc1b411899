"""Citizens and guardianships: find-or-create by keyed hash, cached profiles, who acts for whom.

Other domains reach citizens here, never through the tables: the health book finds or registers
the person a hospital's record is about (:func:`find_or_register`), locks their row
(:func:`lock_citizen`), reads them (:func:`get_record`) and versions its overview by their profile
(:func:`profile_changed_at`); the relay asks who may act for them (:func:`guardians_of`).

The profile and the list of dependents of a citizen are cached in Redis, msgspec-encoded, under
keys hash-tagged by citizen id; every write that changes them deletes the cache in the same use
case after it commits. A guard therefore decides "self or a current guardian" without a database
round trip when nothing changed.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import ScalarSelect, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.core.cache import Invalidations, LocalCache
from api.core.clock import Clock, SystemClock
from api.core.dialect import dialect_of
from api.core.errors import NotFound
from api.core.redis import RedisClient
from api.identity.models import Citizen, Guardianship
from api.identity.schemas import CitizenProfile, CitizenRecord, Demographics, Dependent

logger = logging.getLogger("healthbook.citizens")

PROFILE_TTL_S = 300
LOCAL_TTL_S = 30.0
LOCAL_CACHE = "citizen"


class CachedDependent(msgspec.Struct, frozen=True, array_like=True):
    dependent_id: str
    relationship: str
    valid_from: dt.datetime
    effective_until: dt.datetime | None


class CachedCitizen(msgspec.Struct, frozen=True):
    profile: CitizenProfile
    dependents: list[CachedDependent]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedCitizen)


def profile_key(citizen_id: uuid.UUID | str) -> str:
    return f"citizen:{{{citizen_id}}}:profile"


def effective_until(
    guardianship: Guardianship, dependent_birth: dt.date | None, child_max_age: int
) -> dt.datetime | None:
    """A parent's guardianship also ends when the child comes of age."""
    ends = guardianship.valid_until
    if guardianship.kind == "parent" and dependent_birth is not None:
        try:
            adulthood = dependent_birth.replace(year=dependent_birth.year + child_max_age)
        except ValueError:  # 29 February
            adulthood = dt.date(dependent_birth.year + child_max_age, 3, 1)
        coming_of_age = dt.datetime.combine(adulthood, dt.time(), tzinfo=dt.UTC)
        ends = coming_of_age if ends is None else min(ends, coming_of_age)
    return ends


async def find_or_create(
    session: AsyncSession,
    national_id_hash: str,
    masked: str | None,
    now: dt.datetime,
    *,
    lock: bool = False,
    **new_values: Any,
) -> tuple[Citizen, bool]:
    """The citizen with this hash, created if new (a race on the unique hash is retried).
    ``new_values`` (name, birth date...) are written only when the row is created. ``lock``: an
    existing citizen is read locked until the transaction ends (:func:`lock_citizen`, in the same
    round trip); a row this transaction inserts is its own anyway."""
    found = select(Citizen).where(Citizen.national_id_hash == national_id_hash)
    if lock:
        found = found.with_for_update()  # a plain SELECT on SQLite, whose writer is alone
    citizen = await session.scalar(found)
    if citizen is not None:
        if masked and not citizen.national_id_masked:
            citizen.national_id_masked = masked
        return citizen, False
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent login or publish of the same person
    # cannot fail this transaction; whoever lost the race reads the winner's row.
    values = {
        "id": uuid.uuid4(),
        "national_id_hash": national_id_hash,
        "national_id_masked": masked,
        "locale": "vi",
        "created_at": now,
        "updated_at": now,
        **new_values,
    }
    created = await session.scalar(
        dialect_of(session)
        .insert_ignoring(Citizen, on=[Citizen.national_id_hash])
        .values(**values)
        .returning(Citizen)
    )
    if created is not None:
        return created, True
    citizen = await session.scalar(found)
    if citizen is None:  # pragma: no cover - the row exists after the insert, ours or theirs
        raise RuntimeError("citizen row vanished")
    return citizen, False


async def _load(
    session: AsyncSession, citizen_id: uuid.UUID, child_max_age: int, now: dt.datetime
) -> CachedCitizen | None:
    citizen = await session.get(Citizen, citizen_id)
    if citizen is None:
        return None
    rows = (
        await session.execute(
            select(Guardianship, Citizen)
            .join(Citizen, Citizen.id == Guardianship.dependent_id)
            .where(
                Guardianship.guardian_id == citizen_id,
                or_(Guardianship.valid_until.is_(None), Guardianship.valid_until > now),
            )
        )
    ).all()
    dependents: list[Dependent] = []
    cached: list[CachedDependent] = []
    for guardianship, dependent in rows:
        until = effective_until(guardianship, dependent.birth_date, child_max_age)
        if until is not None and until <= now:
            continue
        cached.append(
            CachedDependent(
                dependent_id=str(dependent.id),
                relationship=guardianship.kind,
                valid_from=guardianship.valid_from,
                effective_until=until,
            )
        )
        dependents.append(
            Dependent(
                id=str(dependent.id),
                full_name=dependent.full_name,
                birth_date=dependent.birth_date,
                relationship=guardianship.kind,
                valid_until=until,
            )
        )
    profile = CitizenProfile(
        id=str(citizen.id),
        national_id_masked=citizen.national_id_masked,
        full_name=citizen.full_name,
        birth_date=citizen.birth_date,
        sex=citizen.sex,
        phone=citizen.phone,
        insurance_card=citizen.insurance_card,
        locale=citizen.locale,
        dependents=dependents,
    )
    return CachedCitizen(profile=profile, dependents=cached)


class CitizenDirectory:
    """Profiles and guardianship checks, served from Redis when nothing changed.

    It opens a database session only on a cache miss, so the hot path (a guard deciding "self or
    guardian", ``GET /citizens/me``) costs one Redis round trip and no database work.
    """

    def __init__(
        self,
        redis: RedisClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        invalidations: Invalidations,
        *,
        child_max_age: int,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self.clock: Clock = clock or SystemClock()
        self.sessionmaker = sessionmaker
        self.invalidations = invalidations
        self.child_max_age = child_max_age
        self.local: LocalCache[CachedCitizen] = LocalCache(LOCAL_CACHE, ttl=LOCAL_TTL_S)
        invalidations.register(self.local)

    @staticmethod
    def _current(entry: CachedCitizen, now: dt.datetime) -> bool:
        return all(d.effective_until is None or d.effective_until > now for d in entry.dependents)

    async def cached(self, citizen_id: uuid.UUID, now: dt.datetime) -> CachedCitizen:
        key = str(citizen_id)
        entry = self.local.get(key)
        if entry is not None and self._current(entry, now):
            return entry
        generation = self.local.generation()
        raw = await self.redis.get(profile_key(citizen_id))
        if isinstance(raw, bytes):  # the client answers bytes (no decode_responses)
            entry = _decoder.decode(raw)
            if self._current(entry, now):
                self.local.put(key, entry, generation)
                return entry
        async with self.sessionmaker() as session:
            entry = await _load(session, citizen_id, self.child_max_age, now)
        if entry is None:
            raise NotFound("no such citizen")
        await self.redis.set(profile_key(citizen_id), _encoder.encode(entry), ex=PROFILE_TTL_S)
        self.local.put(key, entry, generation)
        return entry

    async def profile(
        self, citizen_id: uuid.UUID, now: dt.datetime | None = None
    ) -> CitizenProfile:
        """The citizen's profile and their current dependents (as of ``now``, the clock's time
        when not given)."""
        return (await self.cached(citizen_id, now or self.clock.now())).profile

    async def may_act_for(
        self, guardian_id: uuid.UUID, dependent_id: uuid.UUID, now: dt.datetime
    ) -> bool:
        entry = await self.cached(guardian_id, now)
        target = str(dependent_id)
        return any(
            d.dependent_id == target
            and d.valid_from <= now
            and (d.effective_until is None or d.effective_until > now)
            for d in entry.dependents
        )

    async def invalidate(self, citizen_ids: Sequence[uuid.UUID | str]) -> None:
        """Drop cached profiles (after the change committed). A Redis failure is logged: the
        entries also expire on their own."""
        if not citizen_ids:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for citizen_id in citizen_ids:
                    pipe.delete(profile_key(citizen_id))
                await pipe.execute()
        except RedisError as exc:
            logger.error("could not invalidate cached profiles: %s", type(exc).__name__)
        await self.invalidations.publish(LOCAL_CACHE, [str(c) for c in citizen_ids])


async def guardians_of(
    session: AsyncSession, dependent_id: uuid.UUID, now: dt.datetime, child_max_age: int
) -> list[uuid.UUID]:
    """The citizens who may currently act for ``dependent_id`` (for notifications about them)."""
    dependent = await session.get(Citizen, dependent_id)
    if dependent is None:
        return []
    rows = await session.scalars(
        select(Guardianship).where(
            Guardianship.dependent_id == dependent_id,
            Guardianship.valid_from <= now,
            or_(Guardianship.valid_until.is_(None), Guardianship.valid_until > now),
        )
    )
    result: list[uuid.UUID] = []
    for guardianship in rows:
        until = effective_until(guardianship, dependent.birth_date, child_max_age)
        if (until is None or until > now) and guardianship.guardian_id not in result:
            result.append(guardianship.guardian_id)
    return result


async def find_or_register(
    session: AsyncSession,
    national_id_hash: str,
    masked: str | None,
    now: dt.datetime,
    *,
    demographics: Demographics | None = None,
) -> tuple[uuid.UUID, bool]:
    """The citizen a hospital's record is about, registered if new (the caller commits): their
    id, and whether this transaction registered them.

    With ``demographics`` (what the record says about the person), a new citizen is registered
    with them; an existing one is locked for the rest of the transaction (records about one
    person are stored one at a time) and gets what we did not know yet, never over what the
    identity provider told us, except the insurance card: the hospital's to know, the latest wins.
    """
    if demographics is None:
        citizen, created = await find_or_create(session, national_id_hash, masked, now)
        return citizen.id, created
    given = {
        field: value
        for field in demographics.__struct_fields__
        if (value := getattr(demographics, field)) is not None
    }
    # One round trip, new citizen or not: INSERT … ON CONFLICT DO UPDATE … RETURNING. A new row
    # is ours (the id we chose comes back); an existing one is locked by the update until the
    # transaction ends, as SELECT … FOR UPDATE would, and gets what we did not know yet in the
    # same statement. Both backends run it (SQLite ≥ 3.35).
    table = cast(Table, Citizen.__table__)
    inserting = dialect_of(session).insert(table)
    excluded = inserting.excluded
    current = table.c
    changes: dict[str, Any] = {"national_id_hash": excluded.national_id_hash}
    if masked:
        changes["national_id_masked"] = func.coalesce(
            func.nullif(current.national_id_masked, ""), excluded.national_id_masked
        )
    for field in given:
        changes[field] = (
            excluded[field]  # the hospital's to know: the latest wins
            if field == "insurance_card"
            else func.coalesce(current[field], excluded[field])
        )
    new_id = uuid.uuid4()
    statement = (
        inserting.values(
            id=new_id,
            national_id_hash=national_id_hash,
            national_id_masked=masked,
            locale="vi",
            created_at=now,
            updated_at=now,
            **given,
        )
        .on_conflict_do_update(index_elements=[current.national_id_hash], set_=changes)
        .returning(current.id)
    )
    citizen_id = (await session.execute(statement)).scalar_one()
    return citizen_id, citizen_id == new_id


async def lock_citizen(session: AsyncSession, citizen_id: uuid.UUID) -> None:
    """Serialise, until the transaction ends, the writers of what belongs to one citizen
    (PostgreSQL row lock; SQLite writes are serial)."""
    await dialect_of(session).lock_rows(session, select(Citizen.id).where(Citizen.id == citizen_id))


async def get_record(session: AsyncSession, citizen_id: uuid.UUID) -> CitizenRecord:
    """The citizen as another domain reads them; ``NotFound`` when there is no such citizen."""
    citizen = await session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound("no such citizen")
    return CitizenRecord(
        id=citizen.id,
        national_id_masked=citizen.national_id_masked,
        full_name=citizen.full_name,
        birth_date=citizen.birth_date,
        sex=citizen.sex,
        insurance_card=citizen.insurance_card,
    )


def profile_changed_at(citizen_id: uuid.UUID) -> ScalarSelect[dt.datetime]:
    """When the citizen's profile last changed, as a scalar subquery for another domain's own
    query (what is built from the profile is versioned in the same round trip)."""
    return select(Citizen.updated_at).where(Citizen.id == citizen_id).scalar_subquery()
