"""Facilities and departments for check-ins and queues, through the facilities service.

Every check-in reads its facility and department, so each facility's departments are kept in
process memory for a minute (a renamed department or a new room shows within that time), in the
runtime's :class:`~api.facilities.service.Places`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities

ActiveFacility = facilities.ActiveFacility


async def facility(session: AsyncSession, facility_id: str | None) -> ActiveFacility:
    """An active facility (404 otherwise), from the facilities service's process cache."""
    return await facilities.require_active(session, facility_id)


async def department_by_id(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID
) -> facility_schemas.Department:
    directory = facilities.places_of(session).departments
    return await directory.by_id(session, facility_id, department_id)


async def department_by_code(
    session: AsyncSession, facility_id: str, code: str, *, active_only: bool = True
) -> facility_schemas.Department:
    directory = facilities.places_of(session).departments
    return await directory.by_code(session, facility_id, code, active_only=active_only)
