"""The kiosk's check-in: a scanned appointment code in, a queue ticket out."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import Body
from litestar.status_codes import HTTP_201_CREATED

from api.checkin import errors, schemas
from api.checkin.docs import SCAN_EXAMPLES
from api.checkin.routes.shared import AUTH_ERRORS, ticket_location
from api.checkin.services import CheckInService
from api.core.access_tokens import Principal
from api.core.errors import NotFound, ServiceUnavailable
from api.core.guards import requires_client
from api.core.openapi import problem_responses


class KioskCheckInController(Controller):
    path = "/kiosk/check-ins"
    tags = ("check-in",)
    guards = (requires_client("kiosk", "checkin:write"),)
    security = ({"BearerToken": []},)

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
            *AUTH_ERRORS,
            NotFound.problem,
            errors.TOKEN_INVALID,
            errors.TOKEN_USED,
            ServiceUnavailable.problem,
        ),
    )
    async def check_in(
        self,
        data: Annotated[schemas.KioskCheckIn, Body(examples=SCAN_EXAMPLES)],
        principal: NamedDependency[Principal],
        checkin: NamedDependency[CheckInService],
    ) -> Response[schemas.Ticket]:
        ticket = await checkin.kiosk_check_in(
            kiosk_facility_id=principal.facility_id, code=data.code
        )
        return Response(ticket, status_code=HTTP_201_CREATED, headers=ticket_location(ticket))
