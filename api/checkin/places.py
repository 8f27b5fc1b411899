"""Facilities and departments for check-ins and queues, through the facilities service.

Every check-in reads its facility and department, so each facility's departments are kept in
process memory for a minute (a renamed department or a new room shows within that time).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.cache import Invalidations
from api.facilities import service as facilities

DEPARTMENT_CACHE = "checkin-departments"
_departments = facilities.DepartmentDirectory(DEPARTMENT_CACHE)

ActiveFacility = facilities.ActiveFacility


def register_cache(invalidations: Invalidations) -> None:
    _departments.register_cache(invalidations)


async def facility(session: AsyncSession, facility_id: str | None) -> ActiveFacility:
    """An active facility (404 otherwise), from the facilities service's process cache."""
    return await facilities.require_active(session, facility_id)


department_by_id = _departments.by_id
department_by_code = _departments.by_code
