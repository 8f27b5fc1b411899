"""Queue routes: the public status and printable facility codes, and the hospital's queue desk
(arrivals, call-next, skip, recall)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from api.checkin import errors, qr, schemas, service
from api.checkin.calls import MAX_PAGE
from api.checkin.desk import Desk
from api.core.access_tokens import Principal
from api.core.errors import NotFound
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN, requires_client
from api.core.openapi import documented, examples, problem_responses

_AUTH = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
_ROOM_EXAMPLES = examples(to_a_room={"room": "P.102"})
DepartmentPath = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9._\-]{1,32}$")]


def desk_of(state: State) -> Desk:
    return state.checkin


class PublicQueueController(Controller):
    path = "/facilities/{facility_id:str}"
    tags = ["queues"]  # noqa: RUF012

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
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> schemas.QueueStatus:
        return await service.queue_status(db_session, facility_id, department, state.clock.now())

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
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        image = await service.facility_qr(
            db_session, desk_of(state), facility_id=facility_id, department=code
        )
        return Response(
            image,
            media_type=qr.SVG_MEDIA_TYPE,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )


_DESK_ERRORS = problem_responses(*_AUTH, NotFound.problem, errors.NOTHING_CALLED)


async def _desk_call(
    action: Literal["call-next", "skip", "recall"],
    department: str,
    principal: Principal,
    db_session: AsyncSession,
    state: State,
    data: schemas.CallNext | None,
) -> schemas.CallOutcome:
    """What the desk's three buttons share: the caller's facility, the room asked for (if any),
    now. ``call-next`` and ``skip`` finish the called ticket (served or skipped) and call the
    next one; ``recall`` calls the same ticket again."""
    use_case = (
        service.recall
        if action == "recall"
        else functools.partial(service.call_next, skip=action == "skip")
    )
    return await use_case(
        db_session,
        desk_of(state),
        facility_id=principal.facility_id,
        department_code=department,
        room=data.room if data else None,
        now=state.clock.now(),
    )


class HospitalQueueController(Controller):
    path = "/hospital/queues/{department:str}"
    tags = ["hospital: queues"]  # noqa: RUF012
    guards = [requires_client("hospital", "queues:write")]  # noqa: RUF012
    security = [{"BearerToken": []}]  # noqa: RUF012

    @get(
        "/arrivals",
        operation_id="ListQueueArrivals",
        summary="The department's tickets of a day, with each citizen's shared profile",
        description=(
            "In number order; `status` filters, `after` (a number) pages on. Each arrival "
            "carries the name, birth year, sex and insurance card the citizen shares."
        ),
        responses=problem_responses(*_AUTH, NotFound.problem),
    )
    async def arrivals(
        self,
        department: FromPath[DepartmentPath],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
        day: Annotated[
            dt.date | None, QueryParameter(name="date", description="the facility's local day")
        ] = None,
        status: Annotated[schemas.TicketStatus | None, QueryParameter()] = None,
        after: Annotated[int, QueryParameter(ge=0)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> schemas.ArrivalPage:
        return await service.arrivals(
            db_session,
            desk_of(state),
            facility_id=principal.facility_id,
            department_code=department,
            day=day,
            status=status,
            after=after,
            limit=limit,
            now=state.clock.now(),
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
        db_session: NamedDependency[AsyncSession],
        state: State,
        data: Annotated[schemas.CallNext | None, Body(examples=_ROOM_EXAMPLES)] = None,
    ) -> schemas.CallOutcome:
        return await _desk_call("call-next", department, principal, db_session, state, data)

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
        db_session: NamedDependency[AsyncSession],
        state: State,
        data: Annotated[schemas.CallNext | None, Body(examples=_ROOM_EXAMPLES)] = None,
    ) -> schemas.CallOutcome:
        return await _desk_call("skip", department, principal, db_session, state, data)

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
        db_session: NamedDependency[AsyncSession],
        state: State,
        data: Annotated[schemas.CallNext | None, Body(examples=_ROOM_EXAMPLES)] = None,
    ) -> schemas.CallOutcome:
        return await _desk_call("recall", department, principal, db_session, state, data)
