"""Facility and department names for views and notifications, through the facilities service.

Departments are read on every booking and every list, so each facility's departments are kept in
process memory for a minute (a renamed department shows its new name within that time).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import schemas
from api.core.cache import Invalidations
from api.core.errors import NotFound
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities

DEPARTMENT_CACHE = "appointment-departments"
_departments = facilities.DepartmentDirectory(DEPARTMENT_CACHE)


def register_cache(invalidations: Invalidations) -> None:
    _departments.register_cache(invalidations)


departments = _departments.all
department_by_code = _departments.by_code


async def department(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID
) -> schemas.Department:
    return view(await _departments.by_id(session, facility_id, department_id))


def view(department: facility_schemas.Department) -> schemas.Department:
    return schemas.Department(
        code=department.code, name=department.name, name_en=department.name_en, room=department.room
    )


async def facility_name(session: AsyncSession, facility_id: str) -> str:
    try:
        return (await facilities.require_active(session, facility_id)).name
    except NotFound:  # no longer active: its past appointments still show its name
        return (await facilities.get_view(session, facility_id)).name
