"""Facility and department names for views and notifications, through the facilities service.

Departments are read on every booking and every list, so each facility's departments are kept in
process memory for a minute (a renamed department shows its new name within that time).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import schemas
from api.core.cache import Invalidations, LocalCache
from api.core.errors import NotFound
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities

DEPARTMENT_CACHE = "appointment-departments"
_departments: LocalCache[dict[str, facility_schemas.Department]] = LocalCache(
    DEPARTMENT_CACHE, ttl=60.0, max_entries=20_000
)


def register_cache(invalidations: Invalidations) -> None:
    invalidations.register(_departments)


async def departments(
    session: AsyncSession, facility_id: str
) -> dict[str, facility_schemas.Department]:
    """Every department of the facility (inactive ones too), by id."""
    cached = _departments.get(facility_id)
    if cached is not None:
        return cached
    generation = _departments.generation()
    found = {
        d.id: d
        for d in await facilities.list_departments(session, facility_id, include_inactive=True)
    }
    _departments.put(facility_id, found, generation)
    return found


async def department(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID
) -> schemas.Department:
    found = (await departments(session, facility_id)).get(str(department_id))
    if found is None:  # registered a moment ago, after the cached list was read
        _departments.evict(facility_id)
        found = (await departments(session, facility_id)).get(str(department_id))
    if found is None:
        raise NotFound("no such department")
    return view(found)


async def department_by_code(
    session: AsyncSession, facility_id: str, code: str, *, active_only: bool = True
) -> facility_schemas.Department:
    for attempt in range(2):
        if attempt:  # perhaps registered after the cached list was read
            _departments.evict(facility_id)
        for found in (await departments(session, facility_id)).values():
            if found.code == code and (found.active or not active_only):
                return found
    raise NotFound(f"no active department {code!r} at facility {facility_id}")


def view(department: facility_schemas.Department) -> schemas.Department:
    return schemas.Department(
        code=department.code, name=department.name, name_en=department.name_en, room=department.room
    )


async def facility_name(session: AsyncSession, facility_id: str) -> str:
    try:
        return (await facilities.require_active(session, facility_id)).name
    except NotFound:  # no longer active: its past appointments still show its name
        return (await facilities.get_facility(session, facility_id)).name
