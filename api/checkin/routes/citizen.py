"""The citizen's check-in routes: the appointment's check-in code (JSON and QR images) and
walk-ins with a scanned facility code."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.appointments import errors as appointment_errors
from api.checkin import errors, qr, schemas
from api.checkin.docs import WALK_IN_EXAMPLES
from api.checkin.routes.shared import AUTH_ERRORS, NO_STORE, ticket_location
from api.checkin.services import CheckInService
from api.core.errors import NotFound
from api.core.guards import requires_citizen_access
from api.core.openapi import answers, problem_responses

_CODE_ERRORS = problem_responses(
    *AUTH_ERRORS,
    NotFound.problem,
    appointment_errors.APPOINTMENT_CANCELLED,
    errors.EXPIRED,
)
_QR_MEDIA_TYPES = {"png": qr.PNG_MEDIA_TYPE, "svg": qr.SVG_MEDIA_TYPE}


async def _check_in_qr(
    checkin: CheckInService,
    image: Literal["png", "svg"],
    appointment_id: uuid.UUID,
    citizen_id: uuid.UUID,
) -> Response[bytes]:
    """The check-in code as a QR image in ``image``'s format, never stored by a cache."""
    rendered = await checkin.check_in_qr(
        citizen_id=citizen_id, appointment_id=appointment_id, image=image
    )
    return Response(rendered, media_type=_QR_MEDIA_TYPES[image], headers=NO_STORE)


class CheckInCodeController(Controller):
    path = "/citizens/{citizen_id:str}/appointments/{appointment_id:uuid}"
    tags = ("check-in",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

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
        checkin: NamedDependency[CheckInService],
    ) -> Response[schemas.CheckInToken]:
        token = await checkin.check_in_token(
            citizen_id=target_citizen_id, appointment_id=appointment_id
        )
        return Response(token, headers=NO_STORE)

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
        checkin: NamedDependency[CheckInService],
    ) -> Response[bytes]:
        return await _check_in_qr(checkin, "png", appointment_id, target_citizen_id)

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
        checkin: NamedDependency[CheckInService],
    ) -> Response[bytes]:
        return await _check_in_qr(checkin, "svg", appointment_id, target_citizen_id)


class WalkInController(Controller):
    path = "/citizens/{citizen_id:str}/walk-ins"
    tags = ("check-in",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

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
            **problem_responses(*AUTH_ERRORS, NotFound.problem, errors.WALK_IN_CODE_INVALID),
            **answers(200, schemas.Ticket, "The ticket this citizen took a moment ago"),
        },
    )
    async def walk_in(
        self,
        data: Annotated[schemas.WalkIn, Body(examples=WALK_IN_EXAMPLES)],
        target_citizen_id: NamedDependency[uuid.UUID],
        checkin: NamedDependency[CheckInService],
    ) -> Response[schemas.Ticket]:
        ticket, created = await checkin.walk_in(citizen_id=target_citizen_id, code=data.code)
        if created:
            return Response(ticket, status_code=HTTP_201_CREATED, headers=ticket_location(ticket))
        return Response(ticket, status_code=HTTP_200_OK)
