"""The hospital's appointment routes: its day list, and the statuses it records."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK

from api.appointments import docs, schemas
from api.appointments.routes.params import AUTH, BEARER, Cursor, Day, DepartmentCode, Limit
from api.appointments.service import AppointmentService
from api.core.access_tokens import Principal
from api.core.errors import Conflict, NotFound
from api.core.guards import requires_client
from api.core.openapi import problem_responses


class HospitalAppointmentController(Controller):
    path = "/hospital/appointments"
    tags = ("hospital: appointments",)
    security = BEARER

    @get(
        "/",
        operation_id="ListHospitalAppointments",
        summary="The facility's appointments of one day (its time zone; today by default)",
        guards=[requires_client("hospital", "appointments:read")],
        responses=problem_responses(*AUTH, NotFound.problem),
    )
    async def list_day(
        self,
        principal: NamedDependency[Principal],
        appointments: NamedDependency[AppointmentService],
        day: Day = None,
        department: DepartmentCode = None,
        status: FromQuery[schemas.AppointmentStatus | None] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> schemas.HospitalAppointmentPage:
        return await appointments.list_for_facility(
            facility_id=principal.facility_id,
            day=day,
            department=department,
            status=status,
            limit=limit,
            cursor=cursor,
            reader=principal.subject,
        )

    @post(
        "/{appointment_id:uuid}/status",
        operation_id="SetAppointmentStatus",
        summary="Record what happened: checked_in, completed, no_show; or cancel (citizen told)",
        description=(
            "booked → checked_in → completed | no_show; booked → no_show (from the start) or "
            "cancelled. Anything else is 409 (`current_status` says where it is)."
        ),
        guards=[requires_client("hospital", "appointments:write")],
        responses=problem_responses(*AUTH, NotFound.problem, Conflict.problem),
        status_code=HTTP_200_OK,
        request_max_body_size=4 * 1024,
    )
    async def set_status(
        self,
        appointment_id: FromPath[uuid.UUID],
        data: Annotated[schemas.AppointmentStatusChange, Body(examples=docs.STATUS_EXAMPLES)],
        principal: NamedDependency[Principal],
        appointments: NamedDependency[AppointmentService],
    ) -> schemas.HospitalAppointment:
        return await appointments.set_status(
            facility_id=principal.facility_id or "", appointment_id=appointment_id, data=data
        )
