"""Facilities and departments: registered by operators, searched by citizens.

Other domains reach facilities here, never through the tables: the views of :mod:`schemas`
(:func:`find`, :func:`get_view`, :func:`get_admin_view`, :func:`pulling_facilities`), the active
facility of a client (:func:`require_active`), departments (:class:`DepartmentDirectory`), and
:func:`names` for a read query of theirs that shows facility names.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
import zoneinfo
from collections.abc import Callable
from functools import partial

import msgspec
from sqlalchemy import Subquery, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.cache import Invalidations, LocalCache
from api.core.clock import Clock
from api.core.errors import InvalidInput, NotFound
from api.core.pagination import Cursors
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.core.urls import check_url
from api.facilities import schemas
from api.facilities.models import Department, Facility

MAX_PAGE = 100


def normalise_name(text: str) -> str:
    """Case- and accent-insensitive form for search: "Bệnh viện Chợ Rẫy" -> "benh vien cho ray"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(stripped.lower().split())


def facility_view(facility: Facility) -> schemas.Facility:
    return schemas.Facility(
        id=facility.id,
        name=facility.name,
        province=facility.province,
        address=facility.address,
        time_zone=facility.time_zone,
        phone=facility.phone,
        pulls_from_fhir=facility.fhir_base_url is not None,
        active=facility.active,
    )


def admin_view(facility: Facility) -> schemas.FacilityAdminView:
    base = facility_view(facility)
    return schemas.FacilityAdminView(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        fhir_base_url=facility.fhir_base_url,
        fhir_token_url=facility.fhir_token_url,
        fhir_client_id=facility.fhir_client_id,
        fhir_assertion_alg=facility.fhir_assertion_alg,
        created_at=facility.created_at,
        updated_at=facility.updated_at,
    )


def department_view(department: Department) -> schemas.Department:
    return schemas.Department(
        id=str(department.id),
        facility_id=department.facility_id,
        code=department.code,
        name=department.name,
        name_en=department.name_en,
        room=department.room,
        active=department.active,
    )


async def put_facility(
    uow: UnitOfWork,
    facility_id: str,
    data: schemas.FacilityPut,
    *,
    production: bool,
    now: dt.datetime,
    invalidations: Invalidations | None = None,
) -> tuple[schemas.FacilityAdminView, bool]:
    """Register or change a facility in ``uow``'s transaction; once committed, every process's
    cached copy of it is dropped."""
    session = uow.session
    try:
        zoneinfo.ZoneInfo(data.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {data.time_zone!r}") from exc
    for field in ("fhir_base_url", "fhir_token_url"):
        value = getattr(data, field)
        if value is not None:
            check_url(value, field, allow_plain_http=not production)
    if data.fhir_token_url and not data.fhir_client_id:
        raise InvalidInput("fhir_token_url needs fhir_client_id (our client id at the facility)")
    facility = await session.get(Facility, facility_id)
    created = facility is None
    if facility is None:
        facility = Facility(id=facility_id, created_at=now)
        session.add(facility)
    for field in schemas.FacilityPut.__struct_fields__:
        setattr(facility, field, getattr(data, field))
    facility.name_normalised = normalise_name(data.name)
    facility.updated_at = now
    await session.flush()
    if invalidations is not None:
        uow.after_commit(partial(invalidations.publish, FACILITY_CACHE, [facility_id]))
    return admin_view(facility), created


async def get_facility(session: AsyncSession, facility_id: str) -> Facility:
    facility = await session.get(Facility, facility_id)
    if facility is None:
        raise NotFound("no such facility")
    return facility


class ActiveFacility(msgspec.Struct, frozen=True):
    id: str
    name: str
    time_zone: str


FACILITY_CACHE = "facility"
DEPARTMENT_CACHE = "departments"


class Places:
    """Facilities and departments as every domain reads them on each booking, list or check-in:
    kept in process memory for a minute, invalidated in every process when an operator changes
    one. The runtime owns one and gives it to the sessions it makes (:func:`places_of`)."""

    def __init__(self) -> None:
        self.active: LocalCache[ActiveFacility] = LocalCache(
            FACILITY_CACHE, ttl=60.0, max_entries=20_000
        )
        self.departments = DepartmentDirectory(DEPARTMENT_CACHE)

    def register(self, invalidations: Invalidations) -> None:
        invalidations.register(self.active)
        self.departments.register_cache(invalidations)

    def session_info(self) -> dict[str, Places]:
        """What a sessionmaker's ``info`` carries so its sessions find these caches."""
        return {_PLACES: self}


_PLACES = "healthbook_places"


def places_of(session: AsyncSession) -> Places:
    """The caches of the runtime that made ``session``; a session made elsewhere reads the
    database every time (fresh caches, never enabled)."""
    places: Places | None = session.info.get(_PLACES)
    return places if places is not None else Places()


async def require_active(session: AsyncSession, facility_id: str | None) -> ActiveFacility:
    """The facility a hospital or kiosk client is bound to; it must exist and be active.

    Read on every hospital and kiosk request, so kept in process memory; ``put_facility``
    publishes an invalidation to every process.
    """
    if facility_id is None:
        raise NotFound("the client is not bound to a facility")
    cache = places_of(session).active
    cached = cache.get(facility_id)
    if cached is not None:
        return cached
    generation = cache.generation()
    facility = await get_facility(session, facility_id)
    if not facility.active:
        raise NotFound("the facility is not active")
    found = ActiveFacility(id=facility.id, name=facility.name, time_zone=facility.time_zone)
    cache.put(facility_id, found, generation)
    return found


class DepartmentDirectory:
    """Each facility's departments (inactive ones too), kept in process memory for a minute.

    :func:`put_department` invalidates the facility's entry in every process; a department
    missing from a cached list (registered elsewhere while Redis was away) is looked for once
    more.
    """

    def __init__(self, cache_name: str) -> None:
        self._cache: LocalCache[dict[str, schemas.Department]] = LocalCache(
            cache_name, ttl=60.0, max_entries=20_000
        )

    def register_cache(self, invalidations: Invalidations) -> None:
        invalidations.register(self._cache)

    async def all(self, session: AsyncSession, facility_id: str) -> dict[str, schemas.Department]:
        """Every department of the facility (inactive ones too), by id."""
        cached = self._cache.get(facility_id)
        if cached is not None:
            return cached
        generation = self._cache.generation()
        found = {
            d.id: d for d in await list_departments(session, facility_id, include_inactive=True)
        }
        self._cache.put(facility_id, found, generation)
        return found

    async def by_id(
        self, session: AsyncSession, facility_id: str, department_id: uuid.UUID
    ) -> schemas.Department:
        key = str(department_id)
        found = await self._find(session, facility_id, lambda departments: departments.get(key))
        if found is None:
            raise NotFound("no such department")
        return found

    async def by_code(
        self, session: AsyncSession, facility_id: str, code: str, *, active_only: bool = True
    ) -> schemas.Department:
        def pick(departments: dict[str, schemas.Department]) -> schemas.Department | None:
            for department in departments.values():
                if department.code == code and (department.active or not active_only):
                    return department
            return None

        found = await self._find(session, facility_id, pick)
        if found is None:
            raise NotFound(f"no active department {code!r} at facility {facility_id}")
        return found

    async def _find(
        self,
        session: AsyncSession,
        facility_id: str,
        pick: Callable[[dict[str, schemas.Department]], schemas.Department | None],
    ) -> schemas.Department | None:
        for attempt in range(2):
            if attempt:  # perhaps registered after the cached list was read
                self._cache.evict(facility_id)
            found = pick(await self.all(session, facility_id))
            if found is not None:
                return found
        return None


async def search(
    session: AsyncSession,
    cursors: Cursors,
    *,
    q: str | None,
    province: str | None,
    limit: int,
    cursor: str | None,
) -> schemas.FacilityPage:
    limit = max(1, min(limit, MAX_PAGE))
    scope = f"facilities|{q or ''}|{province or ''}"
    after = cursors.decode(scope, cursor)
    query = select(Facility).where(Facility.active.is_(True))
    if q:
        needle = normalise_name(q)
        query = query.where(
            or_(Facility.name_normalised.contains(needle, autoescape=True), Facility.id == q)
        )
    if province:
        query = query.where(Facility.province == province)
    if after is not None:
        if len(after) != 2 or not all(isinstance(v, str) for v in after):
            raise InvalidInput("invalid cursor", field="cursor", source="query")
        name, last_id = after
        query = query.where(
            or_(
                Facility.name_normalised > name,
                and_(Facility.name_normalised == name, Facility.id > last_id),
            )
        )
    rows = list(
        await session.scalars(
            query.order_by(Facility.name_normalised, Facility.id).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        cursors.encode(scope, [rows[-1].name_normalised, rows[-1].id]) if more and rows else None
    )
    return schemas.FacilityPage(items=[facility_view(f) for f in rows], next_cursor=next_cursor)


async def put_department(
    uow: UnitOfWork,
    facility_id: str,
    code: str,
    data: schemas.DepartmentPut,
    *,
    now: dt.datetime,
    invalidations: Invalidations | None = None,
) -> tuple[schemas.Department, bool]:
    """Register or change a department in ``uow``'s transaction; every process's cached
    departments of the facility are dropped once it is committed (a renamed or closed
    department shows at once)."""
    session = uow.session
    await get_facility(session, facility_id)
    department = await session.scalar(
        select(Department).where(Department.facility_id == facility_id, Department.code == code)
    )
    created = department is None
    if department is None:
        department = Department(facility_id=facility_id, code=code, created_at=now)
        session.add(department)
    for field in schemas.DepartmentPut.__struct_fields__:
        setattr(department, field, getattr(data, field))
    department.updated_at = now
    await session.flush()  # the view shows the new department's id
    if invalidations is not None:
        uow.after_commit(partial(invalidations.publish, DEPARTMENT_CACHE, [facility_id]))
    return department_view(department), created


async def list_departments(
    session: AsyncSession, facility_id: str, *, include_inactive: bool = False
) -> list[schemas.Department]:
    await get_facility(session, facility_id)
    query = select(Department).where(Department.facility_id == facility_id)
    if not include_inactive:
        query = query.where(Department.active.is_(True))
    return [department_view(d) for d in await session.scalars(query.order_by(Department.code))]


async def get_department(session: AsyncSession, facility_id: str, code: str) -> Department:
    department = await session.scalar(
        select(Department).where(Department.facility_id == facility_id, Department.code == code)
    )
    if department is None:
        raise NotFound("no such department")
    return department


async def find(session: AsyncSession, facility_id: str) -> schemas.Facility | None:
    """The facility's public view, or None when there is no such facility."""
    facility = await session.get(Facility, facility_id)
    return None if facility is None else facility_view(facility)


async def get_view(session: AsyncSession, facility_id: str) -> schemas.Facility:
    """The facility's public view; ``NotFound`` when there is no such facility."""
    return facility_view(await get_facility(session, facility_id))


async def get_admin_view(session: AsyncSession, facility_id: str) -> schemas.FacilityAdminView:
    """The facility as its operator sees it (with its FHIR endpoint); ``NotFound`` when absent."""
    return admin_view(await get_facility(session, facility_id))


async def pulling_facilities(session: AsyncSession) -> list[schemas.FacilityAdminView]:
    """Every active facility with a FHIR base URL (whose records are pulled), by id."""
    rows = await session.scalars(
        select(Facility)
        .where(Facility.active.is_(True), Facility.fhir_base_url.is_not(None))
        .order_by(Facility.id)
    )
    return [admin_view(facility) for facility in rows]


def names() -> Subquery:
    """Facility ids and names (columns ``id``, ``name``) for another domain's read query to join:
    the names come in the same round trip as that domain's own rows."""
    return select(Facility.id, Facility.name).subquery("facility_name")


class FacilityService:
    """The facilities domain's use cases, each in a unit of work of its own."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        invalidations: Invalidations,
        cursors: Cursors,
        clock: Clock,
        production: bool,
    ) -> None:
        self._uow = uow
        self._invalidations = invalidations
        self._cursors = cursors
        self._clock = clock
        self._production = production

    async def search(
        self, *, q: str | None, province: str | None, limit: int, cursor: str | None
    ) -> schemas.FacilityPage:
        async with self._uow() as uow:
            return await search(
                uow.session, self._cursors, q=q, province=province, limit=limit, cursor=cursor
            )

    async def active_facility(self, facility_id: str) -> schemas.Facility:
        """A facility citizens may see (404 when it is not active)."""
        async with self._uow() as uow:
            facility = await get_facility(uow.session, facility_id)
        if not facility.active:
            raise NotFound("no such facility")
        return facility_view(facility)

    async def admin_facility(self, facility_id: str) -> schemas.FacilityAdminView:
        async with self._uow() as uow:
            return admin_view(await get_facility(uow.session, facility_id))

    async def departments(self, facility_id: str) -> list[schemas.Department]:
        async with self._uow() as uow:
            return await list_departments(uow.session, facility_id)

    async def department(self, facility_id: str, code: str) -> schemas.Department:
        async with self._uow() as uow:
            return department_view(await get_department(uow.session, facility_id, code))

    async def put_facility(
        self, facility_id: str, data: schemas.FacilityPut
    ) -> tuple[schemas.FacilityAdminView, bool]:
        async with self._uow() as uow:
            return await put_facility(
                uow,
                facility_id,
                data,
                production=self._production,
                now=self._clock.now(),
                invalidations=self._invalidations,
            )

    async def put_department(
        self, facility_id: str, code: str, data: schemas.DepartmentPut
    ) -> tuple[schemas.Department, bool]:
        async with self._uow() as uow:
            return await put_department(
                uow,
                facility_id,
                code,
                data,
                now=self._clock.now(),
                invalidations=self._invalidations,
            )
