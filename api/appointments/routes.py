"""Appointment routes: slots (hospital), slot search (public), booking (citizens), day lists."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, QueryParameter, RawBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import errors, fhir, schemas, service, slots
from api.appointments.idempotency import Answer
from api.appointments.records import Limits
from api.core.access_tokens import Principal
from api.core.errors import PROBLEM_MEDIA_TYPE, Conflict, InvalidInput, NotFound, Unprocessable
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    requires_citizen_access,
    requires_client,
)
from api.core.openapi import (
    documented,
    examples,
    fhir_resource,
    inline_schema,
    problem_responses,
    raw_body,
)
from api.core.params import INSTANT, instant
from api.core.problem_handlers import problem_renderer

_BOOK_EXAMPLES = examples(
    a_slot_from_the_search={"slot_id": "3f2c8a9e-5b7d-4c1e-9a0b-2d6e8f1a4c7b"}
)
_STATUS_EXAMPLES = examples(
    arrived={"status": "checked_in"},
    cancelled_by_the_facility={"status": "cancelled", "reason": "Bác sĩ nghỉ đột xuất"},
)

_AUTH = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
_SLOTS_EXAMPLE = {
    "slots": [
        {
            "id": "KB-2026-03-02-0800",
            "department": "NOI",
            "service": "Khám nội tổng quát",
            "start": "2026-03-02T08:00:00+07:00",
            "end": "2026-03-02T08:15:00+07:00",
            "capacity": 3,
        },
        {
            "id": "KB-2026-03-02-0815",
            "department": "NOI",
            "start": "2026-03-02T08:15:00+07:00",
            "end": "2026-03-02T08:30:00+07:00",
            "capacity": 3,
            "status": "blocked",
        },
    ]
}
_STRING = Schema(type=OpenAPIType.STRING)
_ARRAY_OF_OBJECTS = Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT))
_FHIR_SLOT = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType", "status"],
    properties={
        "resourceType": Schema(const="Slot"),
        "id": _STRING,
        "identifier": _ARRAY_OF_OBJECTS,
        "status": Schema(enum=["free", "busy-unavailable", "entered-in-error"]),
        "start": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
        "end": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
        "serviceType": _ARRAY_OF_OBJECTS,
        "extension": _ARRAY_OF_OBJECTS,
    },
    description=f"Department in extension `{fhir.DEPARTMENT_EXTENSION}`, capacity in "
    f"`{fhir.CAPACITY_EXTENSION}`",
)
_FHIR_SLOTS = Schema(
    one_of=[
        _FHIR_SLOT,
        Schema(
            type=OpenAPIType.OBJECT,
            required=["resourceType", "entry"],
            properties={
                "resourceType": Schema(const="Bundle"),
                "entry": Schema(
                    type=OpenAPIType.ARRAY,
                    min_items=1,
                    items=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["resource"],
                        properties={"resource": _FHIR_SLOT},
                    ),
                ),
            },
        ),
    ]
)
_FHIR_SLOTS_EXAMPLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "Slot",
                "identifier": [{"system": "urn:example:his-slots", "value": "KB-0900"}],
                "status": "free",
                "start": "2026-03-02T09:00:00+07:00",
                "end": "2026-03-02T09:15:00+07:00",
                "serviceType": [{"text": "Khám nội tổng quát"}],
                "extension": [
                    {"url": fhir.DEPARTMENT_EXTENSION, "valueCode": "NOI"},
                    {"url": fhir.CAPACITY_EXTENSION, "valuePositiveInt": 3},
                ],
            }
        }
    ],
}
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


class _Created(msgspec.Struct):
    id: str


def _answer(answer: Answer, collection_path: str) -> Response[Any]:
    """A booking's answer (first or replayed): the appointment with its ``Location``, or the
    stored problem document, byte for byte."""
    headers: dict[str, str] = {}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    if answer.status >= 400:
        media_type = PROBLEM_MEDIA_TYPE
    else:
        media_type = "application/json"
        if answer.status == HTTP_201_CREATED:
            created = msgspec.json.decode(answer.body, type=_Created)
            headers["Location"] = f"{collection_path.rstrip('/')}/{created.id}"
    return Response(answer.body, status_code=answer.status, media_type=media_type, headers=headers)


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
        start_from: Annotated[str | None, QueryParameter(name="from", **INSTANT)] = None,
        start_to: Annotated[str | None, QueryParameter(name="to", **INSTANT)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> schemas.SlotPage:
        return await slots.search(
            db_session,
            state.cursors,
            facility_id,
            department=department,
            day=day,
            start_from=instant(start_from, "from"),
            start_to=instant(start_to, "to"),
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
        operation_class=documented(
            body=raw_body(
                "The facility's slots: our JSON, or FHIR R4 Slot resources",
                {
                    "application/json": (inline_schema(schemas.SlotBatch), [_SLOTS_EXAMPLE]),
                    slots.FHIR_MEDIA_TYPE: (_FHIR_SLOTS, [_FHIR_SLOTS_EXAMPLE]),
                },
            )
        ),
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
        request: Request[Any, Any, Any],
        data: Annotated[schemas.AppointmentCreate, Body(examples=_BOOK_EXAMPLES)],
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
            render_error=problem_renderer(request),
        )
        return _answer(answer, request.url.path)

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
        operation_class=documented(
            also={200: {slots.FHIR_MEDIA_TYPE: fhir_resource("Appointment", "R4 Appointment")}}
        ),
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
        data: Annotated[schemas.AppointmentReschedule, Body(examples=_BOOK_EXAMPLES)],
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
        data: Annotated[schemas.HospitalAppointmentStatus, Body(examples=_STATUS_EXAMPLES)],
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
