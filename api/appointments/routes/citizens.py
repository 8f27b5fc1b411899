"""Citizens' appointment routes: book (with an Idempotency-Key), list, read, cancel, move."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.appointments import docs, errors, fhir, schemas
from api.appointments.idempotency import Answer
from api.appointments.routes.params import AUTH, BEARER, Cursor, IdempotencyKey, Limit
from api.appointments.service import AppointmentService
from api.appointments.slots import FHIR_MEDIA_TYPE
from api.core.access_tokens import Principal
from api.core.errors import PROBLEM_MEDIA_TYPE, Conflict, NotFound, Unprocessable
from api.core.guards import requires_citizen_access
from api.core.openapi import documented, fhir_resource, problem_responses
from api.core.problem_handlers import problem_renderer


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


_CITIZEN_ERRORS = problem_responses(
    *AUTH, NotFound.problem, Conflict.problem, errors.IDEMPOTENCY_MISMATCH
)


class AppointmentController(Controller):
    path = "/citizens/{citizen_id:str}/appointments"
    tags = ("appointments",)
    guards = (requires_citizen_access,)
    security = BEARER

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
        data: Annotated[schemas.AppointmentCreate, Body(examples=docs.BOOK_EXAMPLES)],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        appointments: NamedDependency[AppointmentService],
    ) -> Response[schemas.Appointment]:
        answer = await appointments.book(
            citizen_id=target_citizen_id,
            actor_id=principal.citizen_id,
            data=data,
            idempotency_key=idempotency_key,
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
        appointments: NamedDependency[AppointmentService],
        when: FromQuery[Literal["upcoming", "past"]] = "upcoming",
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> schemas.AppointmentPage:
        return await appointments.list_for_citizen(
            target_citizen_id, when=when, limit=limit, cursor=cursor
        )

    @get(
        "/{appointment_id:uuid}",
        operation_id="GetAppointment",
        summary="One appointment; `format=fhir` answers an R4 Appointment resource",
        responses=_CITIZEN_ERRORS,
        operation_class=documented(
            also={200: {FHIR_MEDIA_TYPE: fhir_resource("Appointment", "R4 Appointment")}}
        ),
    )
    async def get_appointment(
        self,
        appointment_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        appointments: NamedDependency[AppointmentService],
        format: FromQuery[Literal["json", "fhir"]] = "json",
    ) -> Response[schemas.Appointment]:
        view = await appointments.get_for_citizen(target_citizen_id, appointment_id)
        if format == "fhir":
            # the FHIR resource is a plain mapping; the declared type documents the JSON form
            resource = fhir.appointment(view)
            return Response(resource, media_type=FHIR_MEDIA_TYPE)  # type: ignore[arg-type]
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
        appointments: NamedDependency[AppointmentService],
    ) -> schemas.Appointment:
        return await appointments.cancel(
            citizen_id=target_citizen_id, appointment_id=appointment_id
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
            *AUTH, NotFound.problem, Conflict.problem, Unprocessable.problem
        ),
        status_code=HTTP_200_OK,
        request_max_body_size=4 * 1024,
    )
    async def reschedule(
        self,
        appointment_id: FromPath[uuid.UUID],
        data: Annotated[schemas.AppointmentReschedule, Body(examples=docs.BOOK_EXAMPLES)],
        target_citizen_id: NamedDependency[uuid.UUID],
        appointments: NamedDependency[AppointmentService],
    ) -> schemas.Appointment:
        return await appointments.reschedule(
            citizen_id=target_citizen_id, appointment_id=appointment_id, data=data
        )
