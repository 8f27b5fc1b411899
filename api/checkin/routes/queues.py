"""Queue routes: the public status and printable facility codes, and the hospital's queue desk
(arrivals, call-next, skip, recall)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK

from api.checkin import errors, qr, schemas
from api.checkin.docs import ROOM_EXAMPLES
from api.checkin.routes.shared import AUTH_ERRORS, DepartmentPath
from api.checkin.services import CheckInService, QueueDeskService
from api.checkin.services.queue_desk import MAX_PAGE
from api.core.access_tokens import Principal
from api.core.errors import NotFound
from api.core.guards import requires_client
from api.core.openapi import documented, problem_responses


class PublicQueueController(Controller):
    path = "/facilities/{facility_id:str}"
    tags = ("queues",)

    @get(
        "/queues/{department:str}",
        operation_id="GetQueueStatus",
        summary="A department's queue today: now serving, waiting, pace, latest calls",
        description=(
            "Public (a waiting-room screen shows it). `average_service_minutes` is the mean "
            "time between calls over the last hour (null with fewer than two calls). Live "
            "updates: the board's server-sent events."
        ),
        responses=problem_responses(NotFound.problem),
    )
    async def status(
        self,
        facility_id: FromPath[str],
        department: FromPath[DepartmentPath],
        checkin: NamedDependency[CheckInService],
    ) -> schemas.QueueStatus:
        return await checkin.queue_status(facility_id, department)

    @get(
        "/departments/{code:str}/qr.svg",
        operation_id="GetWalkInQr",
        summary="The printable walk-in QR code of a department (SVG, captioned)",
        description=(
            "Contains `HBW1:<facility>:<department>:<mac>` (an HMAC: it cannot be altered to "
            "name another department). Citizens scan it in the app (`POST "
            "/citizens/me/walk-ins`)."
        ),
        media_type=qr.SVG_MEDIA_TYPE,
        responses=problem_responses(NotFound.problem),
    )
    async def walk_in_qr(
        self,
        facility_id: FromPath[str],
        code: FromPath[DepartmentPath],
        checkin: NamedDependency[CheckInService],
    ) -> Response[bytes]:
        image = await checkin.facility_qr(facility_id=facility_id, department=code)
        return Response(
            image,
            media_type=qr.SVG_MEDIA_TYPE,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )


_DESK_ERRORS = problem_responses(*AUTH_ERRORS, NotFound.problem, errors.NOTHING_CALLED)


class HospitalQueueController(Controller):
    path = "/hospital/queues/{department:str}"
    tags = ("hospital: queues",)
    guards = (requires_client("hospital", "queues:write"),)
    security = ({"BearerToken": []},)

    @get(
        "/arrivals",
        operation_id="ListQueueArrivals",
        summary="The department's tickets of a day, with each citizen's shared profile",
        description=(
            "In number order; `status` filters, `after` (a number) pages on. Each arrival "
            "carries the name, birth year, sex and insurance card the citizen shares."
        ),
        responses=problem_responses(*AUTH_ERRORS, NotFound.problem),
    )
    async def arrivals(
        self,
        department: FromPath[DepartmentPath],
        principal: NamedDependency[Principal],
        queue_desk: NamedDependency[QueueDeskService],
        day: Annotated[
            dt.date | None, QueryParameter(name="date", description="the facility's local day")
        ] = None,
        status: Annotated[schemas.TicketStatus | None, QueryParameter()] = None,
        after: Annotated[int, QueryParameter(ge=0)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> schemas.ArrivalPage:
        return await queue_desk.arrivals(
            facility_id=principal.facility_id,
            department_code=department,
            day=day,
            status=status,
            after=after,
            limit=limit,
        )

    @post(
        "/call-next",
        operation_id="CallNextInQueue",
        summary="Finish the ticket being called (served) and call the next one",
        description=(
            'Optional body `{"room": "P.102"}` (default: the department\'s room). The called '
            'citizen is told ("your turn, room N"), and so is each waiting citizen who now has '
            "`QUEUE_APPROACHING_THRESHOLD` or fewer people ahead. `called` is null when nobody "
            "waits."
        ),
        status_code=HTTP_200_OK,
        request_max_body_size=1024,
        responses=_DESK_ERRORS,
        operation_class=documented(optional_body=True),
    )
    async def call_next(
        self,
        department: FromPath[DepartmentPath],
        principal: NamedDependency[Principal],
        queue_desk: NamedDependency[QueueDeskService],
        data: Annotated[schemas.CallNext | None, Body(examples=ROOM_EXAMPLES)] = None,
    ) -> schemas.CallOutcome:
        return await queue_desk.call_next(
            facility_id=principal.facility_id,
            department_code=department,
            room=data.room if data else None,
            skip=False,
        )

    @post(
        "/skip",
        operation_id="SkipInQueue",
        summary="Mark the ticket being called as skipped (did not come) and call the next one",
        status_code=HTTP_200_OK,
        request_max_body_size=1024,
        responses=_DESK_ERRORS,
        operation_class=documented(optional_body=True),
    )
    async def skip(
        self,
        department: FromPath[DepartmentPath],
        principal: NamedDependency[Principal],
        queue_desk: NamedDependency[QueueDeskService],
        data: Annotated[schemas.CallNext | None, Body(examples=ROOM_EXAMPLES)] = None,
    ) -> schemas.CallOutcome:
        return await queue_desk.call_next(
            facility_id=principal.facility_id,
            department_code=department,
            room=data.room if data else None,
            skip=True,
        )

    @post(
        "/recall",
        operation_id="RecallInQueue",
        summary="Call the ticket being called again (board and push repeat it)",
        status_code=HTTP_200_OK,
        request_max_body_size=1024,
        responses=_DESK_ERRORS,
        operation_class=documented(optional_body=True),
    )
    async def recall(
        self,
        department: FromPath[DepartmentPath],
        principal: NamedDependency[Principal],
        queue_desk: NamedDependency[QueueDeskService],
        data: Annotated[schemas.CallNext | None, Body(examples=ROOM_EXAMPLES)] = None,
    ) -> schemas.CallOutcome:
        return await queue_desk.recall(
            facility_id=principal.facility_id,
            department_code=department,
            room=data.room if data else None,
        )
