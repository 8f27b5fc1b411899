"""Facilities and departments for check-ins and queues, through the facilities service.

Every check-in reads its facility and department, so each facility's departments are kept in
process memory for a minute (a renamed department or a new room shows within that time).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.cache import Invalidations, LocalCache
from api.core.errors import NotFound
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities

DEPARTMENT_CACHE = "checkin-departments"
_departments: LocalCache[dict[str, facility_schemas.Department]] = LocalCache(
    DEPARTMENT_CACHE, ttl=60.0, max_entries=20_000
)

ActiveFacility = facilities.ActiveFacility


def register_cache(invalidations: Invalidations) -> None:
    invalidations.register(_departments)


async def facility(session: AsyncSession, facility_id: str | None) -> ActiveFacility:
    """An active facility (404 otherwise), from the facilities service's process cache."""
    return await facilities.require_active(session, facility_id)


async def _all(session: AsyncSession, facility_id: str) -> dict[str, facility_schemas.Department]:
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


async def department_by_id(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID
) -> facility_schemas.Department:
    key = str(department_id)
    for attempt in range(2):
        if attempt:  # registered after the cached list was read
            _departments.evict(facility_id)
        found = (await _all(session, facility_id)).get(key)
        if found is not None:
            return found
    raise NotFound("no such department")


async def department_by_code(
    session: AsyncSession, facility_id: str, code: str, *, active_only: bool = True
) -> facility_schemas.Department:
    for attempt in range(2):
        if attempt:
            _departments.evict(facility_id)
        for found in (await _all(session, facility_id)).values():
            if found.code == code and (found.active or not active_only):
                return found
    raise NotFound(f"no active department {code!r} at facility {facility_id}")
