"""Appointment routes: slots (hospital), slot search (public), booking (citizens), day lists."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import (
    FromPath,
    FromQuery,
    HeaderParameter,
    QueryParameter,
    RawBody,
    RequestBody,
)
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import errors, fhir, schemas, service, slots
from api.appointments.records import Limits
from api.core.errors import Conflict, InvalidInput, NotFound, Unprocessable
from api.core.openapi import problem_responses
from api.identity.access_tokens import Principal
from api.identity.errors import INSUFFICIENT_SCOPE, INVALID_TOKEN
from api.identity.guards import requires_citizen_access, requires_client

_AUTH = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="idempotency-key",
        min_length=1,
        max_length=255,
        description=(
            "Required: a unique value per booking (a UUID). The same key with the same body "
            "answers the first answer again; with another body, 422; while the first is still "
            "in progress, 409. Keys are kept 24 hours, per citizen."
        ),
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=service.MAX_PAGE, description="1 to 200")]
Cursor = Annotated[str | None, QueryParameter(max_length=500)]
DepartmentCode = Annotated[str | None, QueryParameter(max_length=32, description="its code")]
Day = Annotated[
    dt.date | None, QueryParameter(name="date", description="a day in the facility's time zone")
]


def limits_of(state: State) -> Limits:
    """The booking rules, made from the settings in the lifespan."""
    return state.appointment_limits


def _json(answer_body: bytes, status: int, *, replayed: bool = False) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(answer_body, status_code=status, media_type="application/json", headers=headers)


class SlotSearchController(Controller):
    path = "/facilities/{facility_id:str}/slots"
    tags = ["appointments"]  # noqa: RUF012

    @get(
        "/",
        operation_id="SearchSlots",
        summary="Bookable slots of a facility, with their remaining places",
        description=(
            "Only slots that can be booked now: open, starting in the future and within the "
            "booking window, with a free place. `date` is a day in the facility's time zone; "
            "`from` and `to` bound the start (with an offset). The departments are at "
            "`GET /facilities/{facility_id}/departments`."
        ),
        responses=problem_responses(NotFound.problem, InvalidInput.problem),
    )
    async def search(
        self,
        facility_id: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
        department: DepartmentCode = None,
        day: Day = None,
        start_from: Annotated[dt.datetime | None, QueryParameter(name="from")] = None,
        start_to: Annotated[dt.datetime | None, QueryParameter(name="to")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> schemas.SlotPage:
        return await slots.search(
            db_session,
            state.cursors,
            facility_id,
            department=department,
            day=day,
            start_from=start_from,
            start_to=start_to,
            limit=limit,
            cursor=cursor,
            limits=limits_of(state),
            now=state.clock.now(),
        )


class HospitalSlotController(Controller):
    path = "/hospital/slots"
    tags = ["hospital: appointments"]  # noqa: RUF012
    guards = [requires_client("hospital", "slots:write")]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @put(
        "/",
        operation_id="PublishSlots",
        summary="Publish (upsert) the facility's bookable slots, by the hospital's own slot id",
        description=(
            '`application/json`: `{"slots": [{id, department, service, start, end, capacity, '
            "status}]}` (at most 1000; times with an offset). `application/fhir+json`: a Bundle "
            "of FHIR R4 Slot resources, or one Slot (department in extension "
            f"`{fhir.DEPARTMENT_EXTENSION}`, capacity in `{fhir.CAPACITY_EXTENSION}`). "
            "All or nothing. A blocked slot, or one whose capacity shrinks below its "
            "appointments, cancels the overflow (latest booked first) and tells the citizens."
        ),
        request_max_body_size=4 * 1024 * 1024,
        responses=problem_responses(
            *_AUTH, NotFound.problem, Unprocessable.problem, errors.SLOT_HAS_BOOKINGS
        ),
        status_code=HTTP_200_OK,
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        body: RawBody,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> schemas.SlotPublishResult:
        items = slots.parse_batch(body, request.headers.get("content-type"))
        return await slots.publish(
            db_session,
            principal.facility_id or "",
            items,
            limits=limits_of(state),
            now=state.clock.now(),
        )

    @post(
        "/{slot_ref:str}/block",
        operation_id="BlockSlot",
        summary="Block one slot (the hospital's id): its appointments are cancelled",
        responses=problem_responses(*_AUTH, NotFound.problem),
        status_code=HTTP_200_OK,
    )
    async def block(
        self,
        slot_ref: FromPath[str],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> schemas.SlotOutcome:
        return await slots.block(
            db_session,
            principal.facility_id or "",
            slot_ref,
            limits=limits_of(state),
            now=state.clock.now(),
        )


_CITIZEN_ERRORS = problem_responses(
    *_AUTH, NotFound.problem, Conflict.problem, errors.IDEMPOTENCY_MISMATCH
)


class AppointmentController(Controller):
    path = "/citizens/{citizen_id:str}/appointments"
    tags = ["appointments"]  # noqa: RUF012
    guards = [requires_citizen_access]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="BookAppointment",
        summary="Book a slot (for `me` or a dependent), with an Idempotency-Key",
        description=(
            "201 with the appointment. 409 when the slot is full (`/problems/slot-full`), not "
            "bookable, already booked by this citizen, or the citizen holds the most upcoming "
            "appointments allowed. A retry with the same `Idempotency-Key` and body answers "
            "the first answer again (`Idempotent-Replayed: true`)."
        ),
        responses=_CITIZEN_ERRORS,
        request_max_body_size=4 * 1024,
    )
    async def book(
        self,
        data: RequestBody[schemas.AppointmentCreate],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[schemas.Appointment]:
        answer = await service.book(
            db_session,
            citizen_id=target_citizen_id,
            actor_id=principal.citizen_id,
            data=data,
            idempotency_key=idempotency_key,
            limits=limits_of(state),
            now=state.clock.now(),
        )
        return _json(answer.body, answer.status, replayed=answer.replayed)

    @get(
        "/",
        operation_id="ListAppointments",
        summary="Upcoming (soonest first) or past (latest first) appointments",
        responses=_CITIZEN_ERRORS,
    )
    async def list_appointments(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
        when: FromQuery[Literal["upcoming", "past"]] = "upcoming",
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> schemas.AppointmentPage:
        return await service.list_for_citizen(
            db_session,
            state.cursors,
            target_citizen_id,
            when=when,
            limit=limit,
            cursor=cursor,
            limits=limits_of(state),
            now=state.clock.now(),
        )

    @get(
        "/{appointment_id:uuid}",
        operation_id="GetAppointment",
        summary="One appointment; `format=fhir` answers an R4 Appointment resource",
        responses=_CITIZEN_ERRORS,
    )
    async def get_appointment(
        self,
        appointment_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
        format: FromQuery[Literal["json", "fhir"]] = "json",
    ) -> Response[schemas.Appointment]:
        view = await service.get_for_citizen(
            db_session, target_citizen_id, appointment_id, limits_of(state)
        )
        if format == "fhir":
            return Response(fhir.appointment(view), media_type=slots.FHIR_MEDIA_TYPE)  # type: ignore[arg-type]
        return Response(view)

    @post(
        "/{appointment_id:uuid}/cancel",
        operation_id="CancelAppointment",
        summary="Cancel a booked appointment (until the cut-off before its start)",
        responses=_CITIZEN_ERRORS,
        status_code=HTTP_200_OK,
    )
    async def cancel(
        self,
        appointment_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> schemas.Appointment:
        return await service.cancel(
            db_session,
            citizen_id=target_citizen_id,
            appointment_id=appointment_id,
            limits=limits_of(state),
            now=state.clock.now(),
        )

    @post(
        "/{appointment_id:uuid}/reschedule",
        operation_id="RescheduleAppointment",
        summary="Move a booked appointment to another slot of the same facility",
        description=(
            "Atomic: the new slot's place is taken before the old one is given back; when the "
            "new slot is full (409) nothing changes. Moving to the slot it is on answers it as is."
        ),
        responses=problem_responses(
            *_AUTH, NotFound.problem, Conflict.problem, Unprocessable.problem
        ),
        status_code=HTTP_200_OK,
        request_max_body_size=4 * 1024,
    )
    async def reschedule(
        self,
        appointment_id: FromPath[uuid.UUID],
        data: RequestBody[schemas.AppointmentReschedule],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> schemas.Appointment:
        return await service.reschedule(
            db_session,
            citizen_id=target_citizen_id,
            appointment_id=appointment_id,
            data=data,
            limits=limits_of(state),
            now=state.clock.now(),
        )


class HospitalAppointmentController(Controller):
    path = "/hospital/appointments"
    tags = ["hospital: appointments"]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @get(
        "/",
        operation_id="ListHospitalAppointments",
        summary="The facility's appointments of one day (its time zone; today by default)",
        guards=[requires_client("hospital", "appointments:read")],
        responses=problem_responses(*_AUTH, NotFound.problem),
    )
    async def list_day(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
        day: Day = None,
        department: DepartmentCode = None,
        status: FromQuery[schemas.AppointmentStatus | None] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> schemas.HospitalAppointmentPage:
        return await service.list_for_facility(
            db_session,
            state.cursors,
            state.directory,
            facility_id=principal.facility_id,
            day=day,
            department=department,
            status=status,
            limit=limit,
            cursor=cursor,
            now=state.clock.now(),
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
        responses=problem_responses(*_AUTH, NotFound.problem, Conflict.problem),
        status_code=HTTP_200_OK,
        request_max_body_size=4 * 1024,
    )
    async def set_status(
        self,
        appointment_id: FromPath[uuid.UUID],
        data: RequestBody[schemas.HospitalAppointmentStatus],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> schemas.HospitalAppointment:
        return await service.set_status(
            db_session,
            facility_id=principal.facility_id or "",
            appointment_id=appointment_id,
            data=data,
            directory=state.directory,
            limits=limits_of(state),
            now=state.clock.now(),
        )


APPOINTMENT_ROUTES = [
    SlotSearchController,
    HospitalSlotController,
    AppointmentController,
    HospitalAppointmentController,
]
