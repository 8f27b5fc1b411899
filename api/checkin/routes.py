"""Check-in routes: check-in codes (citizens), kiosk check-in, walk-ins. The queues' routes are in
:mod:`api.checkin.queue_routes`; both are in ``CHECKIN_ROUTES``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import errors as appointment_errors
from api.checkin import errors, qr, schemas, service
from api.checkin.desk import Desk
from api.checkin.queue_routes import HospitalQueueController, PublicQueueController
from api.core.access_tokens import Principal
from api.core.errors import NotFound, ServiceUnavailable
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    requires_citizen_access,
    requires_client,
)
from api.core.openapi import answers, examples, problem_responses

_SCAN_EXAMPLES = examples(
    scanned_qr={
        "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjYxMTIyLWI4ZWJlMzc3IiwidHlwIjoiY2hlY2tpbitqd3Qi"
        "fQ.eyJzdWIiOiI…In0.c2lnbmF0dXJl…"
    }
)
_WALK_IN_EXAMPLES = examples(scanned_facility_qr={"code": "HBW1:01001:NOI:Zk2x9QmR0aLw4bYc"})

_AUTH = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
_NO_STORE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
DepartmentPath = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9._\-]{1,32}$")]
_CODE_ERRORS = problem_responses(
    *_AUTH,
    NotFound.problem,
    appointment_errors.APPOINTMENT_CANCELLED,
    errors.EXPIRED,
)


def desk_of(state: State) -> Desk:
    return state.checkin


_QR_MEDIA_TYPES = {"png": qr.PNG_MEDIA_TYPE, "svg": qr.SVG_MEDIA_TYPE}


async def _check_in_qr(
    image: Literal["png", "svg"],
    appointment_id: uuid.UUID,
    citizen_id: uuid.UUID,
    db_session: AsyncSession,
    state: State,
) -> Response[bytes]:
    """The check-in code as a QR image in ``image``'s format, never stored by a cache."""
    rendered = await service.check_in_qr(
        db_session,
        desk_of(state),
        citizen_id=citizen_id,
        appointment_id=appointment_id,
        image=image,
        limits=state.appointment_limits,
        now=state.clock.now(),
    )
    return Response(rendered, media_type=_QR_MEDIA_TYPES[image], headers=_NO_STORE)


class CheckInCodeController(Controller):
    path = "/citizens/{citizen_id:str}/appointments/{appointment_id:uuid}"
    tags = ["check-in"]  # noqa: RUF012
    guards = [requires_citizen_access]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @get(
        "/check-in",
        operation_id="GetCheckInCode",
        summary="The appointment's check-in code, to show as a QR code at the kiosk",
        description=(
            "A signed token (EdDSA, `typ` `checkin+jwt`, verifiable offline with "
            "`/.well-known/jwks.json`) valid from `valid_from` (the start minus "
            "`CHECKIN_LEAD_MINUTES`) until `valid_until` (the start plus "
            "`CHECKIN_GRACE_MINUTES`). The same code each time for one version of the "
            "appointment. 409 when the appointment is not booked; 422 after its window."
        ),
        responses=_CODE_ERRORS,
    )
    async def code(
        self,
        appointment_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[schemas.CheckInToken]:
        token = await service.check_in_token(
            db_session,
            desk_of(state),
            citizen_id=target_citizen_id,
            appointment_id=appointment_id,
            limits=state.appointment_limits,
            now=state.clock.now(),
        )
        return Response(token, headers=_NO_STORE)

    @get(
        "/check-in.png",
        operation_id="GetCheckInQrPng",
        summary="The check-in code as a QR code (PNG, 8 px per module)",
        media_type=qr.PNG_MEDIA_TYPE,
        responses=_CODE_ERRORS,
    )
    async def png(
        self,
        appointment_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        return await _check_in_qr("png", appointment_id, target_citizen_id, db_session, state)

    @get(
        "/check-in.svg",
        operation_id="GetCheckInQrSvg",
        summary="The check-in code as a QR code (SVG)",
        media_type=qr.SVG_MEDIA_TYPE,
        responses=_CODE_ERRORS,
    )
    async def svg(
        self,
        appointment_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        return await _check_in_qr("svg", appointment_id, target_citizen_id, db_session, state)


def ticket_location(ticket: schemas.Ticket) -> dict[str, str]:
    """``Location`` of a new ticket: a ticket has no URL of its own, so the queue it joined,
    whose status (``GET``) shows the numbers being called."""
    return {"Location": f"/facilities/{ticket.facility_id}/queues/{ticket.department}"}


class KioskCheckInController(Controller):
    path = "/kiosk/check-ins"
    tags = ["check-in"]  # noqa: RUF012
    guards = [requires_client("kiosk", "checkin:write")]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="KioskCheckIn",
        summary="Check in the appointment of a scanned code; answers the queue ticket",
        description=(
            '`{"code": <scanned text>}`. 201 with the ticket (number, department, room, people '
            "ahead, estimated wait). 422 `check-in-code-invalid`, `check-in-wrong-facility`, "
            "`check-in-too-early` (`valid_from`), `check-in-expired` (`valid_until`); 409 "
            "`check-in-code-used`, `appointment-already-checked-in`, `appointment-cancelled`, "
            "`check-in-code-superseded`; 503 when the single-use store cannot be reached "
            "(nothing was checked in: retry)."
        ),
        status_code=HTTP_201_CREATED,
        request_max_body_size=4 * 1024,
        responses=problem_responses(
            *_AUTH,
            NotFound.problem,
            errors.TOKEN_INVALID,
            errors.TOKEN_USED,
            ServiceUnavailable.problem,
        ),
    )
    async def check_in(
        self,
        data: Annotated[schemas.KioskCheckIn, Body(examples=_SCAN_EXAMPLES)],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[schemas.Ticket]:
        ticket = await service.kiosk_check_in(
            db_session,
            state.redis,  # not injected: Litestar would check it against one client class
            desk_of(state),
            kiosk_facility_id=principal.facility_id,
            code=data.code,
            now=state.clock.now(),
        )
        return Response(ticket, status_code=HTTP_201_CREATED, headers=ticket_location(ticket))


class WalkInController(Controller):
    path = "/citizens/{citizen_id:str}/walk-ins"
    tags = ["check-in"]  # noqa: RUF012
    guards = [requires_citizen_access]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="WalkIn",
        summary="Take a queue ticket with a scanned facility code (shares the profile)",
        description=(
            '`{"code": <scanned text>}` from a facility\'s printed QR code. 201 with a new '
            "ticket; 200 with the same ticket when this citizen scanned the same department's "
            "code within `WALK_IN_REUSE_MINUTES`. The facility then sees the citizen's name, "
            "birth year, sex and insurance card with the ticket."
        ),
        status_code=HTTP_201_CREATED,
        request_max_body_size=4 * 1024,
        responses={
            **problem_responses(*_AUTH, NotFound.problem, errors.WALK_IN_CODE_INVALID),
            **answers(200, schemas.Ticket, "The ticket this citizen took a moment ago"),
        },
    )
    async def walk_in(
        self,
        data: Annotated[schemas.WalkIn, Body(examples=_WALK_IN_EXAMPLES)],
        target_citizen_id: NamedDependency[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[schemas.Ticket]:
        ticket, created = await service.walk_in(
            db_session,
            desk_of(state),
            citizen_id=target_citizen_id,
            code=data.code,
            now=state.clock.now(),
        )
        if created:
            return Response(ticket, status_code=HTTP_201_CREATED, headers=ticket_location(ticket))
        return Response(ticket, status_code=HTTP_200_OK)


CHECKIN_ROUTES: list[Any] = [
    CheckInCodeController,
    KioskCheckInController,
    WalkInController,
    PublicQueueController,
    HospitalQueueController,
]
