"""Facility and department names for views and notifications, through the facilities service.

Departments are read on every booking and every list, so each facility's departments are kept in
process memory for a minute (a renamed department shows its new name within that time), in the
runtime's :class:`~api.facilities.service.Places`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import schemas
from api.core.errors import NotFound
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities


async def departments(
    session: AsyncSession, facility_id: str
) -> dict[str, facility_schemas.Department]:
    return await facilities.places_of(session).departments.all(session, facility_id)


async def department_by_code(
    session: AsyncSession, facility_id: str, code: str, *, active_only: bool = True
) -> facility_schemas.Department:
    directory = facilities.places_of(session).departments
    return await directory.by_code(session, facility_id, code, active_only=active_only)


async def department(
    session: AsyncSession, facility_id: str, department_id: uuid.UUID
) -> schemas.SlotDepartment:
    directory = facilities.places_of(session).departments
    return view(await directory.by_id(session, facility_id, department_id))


def view(department: facility_schemas.Department) -> schemas.SlotDepartment:
    return schemas.SlotDepartment(
        code=department.code, name=department.name, name_en=department.name_en, room=department.room
    )


async def facility_name(session: AsyncSession, facility_id: str) -> str:
    try:
        return (await facilities.require_active(session, facility_id)).name
    except NotFound:  # no longer active: its past appointments still show its name
        return (await facilities.get_view(session, facility_id)).name
