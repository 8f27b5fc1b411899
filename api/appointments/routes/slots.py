"""Slot routes: the public search of bookable slots, and the hospital's publishing of its own."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, RawBody
from litestar.status_codes import HTTP_200_OK

from api.appointments import docs, errors, fhir, schemas
from api.appointments.routes.params import AUTH, BEARER, Cursor, Day, DepartmentCode, Limit
from api.appointments.service import SlotService
from api.appointments.slots import FHIR_MEDIA_TYPE
from api.core.access_tokens import Principal
from api.core.errors import InvalidInput, NotFound, Unprocessable
from api.core.guards import requires_client
from api.core.openapi import documented, inline_schema, problem_responses, raw_body
from api.core.params import INSTANT, instant


class SlotSearchController(Controller):
    path = "/facilities/{facility_id:str}/slots"
    tags = ("appointments",)

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
        slots: NamedDependency[SlotService],
        department: DepartmentCode = None,
        day: Day = None,
        start_from: Annotated[str | None, QueryParameter(name="from", **INSTANT)] = None,
        start_to: Annotated[str | None, QueryParameter(name="to", **INSTANT)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> schemas.SlotPage:
        return await slots.search(
            facility_id,
            department=department,
            day=day,
            start_from=instant(start_from, "from"),
            start_to=instant(start_to, "to"),
            limit=limit,
            cursor=cursor,
        )


class HospitalSlotController(Controller):
    path = "/hospital/slots"
    tags = ("hospital: appointments",)
    guards = (requires_client("hospital", "slots:write"),)
    security = BEARER

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
            *AUTH, NotFound.problem, Unprocessable.problem, errors.SLOT_HAS_BOOKINGS
        ),
        status_code=HTTP_200_OK,
        operation_class=documented(
            body=raw_body(
                "The facility's slots: our JSON, or FHIR R4 Slot resources",
                {
                    "application/json": (inline_schema(schemas.SlotBatch), [docs.SLOTS_EXAMPLE]),
                    FHIR_MEDIA_TYPE: (docs.FHIR_SLOTS, [docs.FHIR_SLOTS_EXAMPLE]),
                },
            )
        ),
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        body: RawBody,
        principal: NamedDependency[Principal],
        slots: NamedDependency[SlotService],
    ) -> schemas.SlotPublishResult:
        return await slots.publish(
            principal.facility_id or "", body, request.headers.get("content-type")
        )

    @post(
        "/{slot_ref:str}/block",
        operation_id="BlockSlot",
        summary="Block one slot (the hospital's id): its appointments are cancelled",
        responses=problem_responses(*AUTH, NotFound.problem),
        status_code=HTTP_200_OK,
    )
    async def block(
        self,
        slot_ref: FromPath[str],
        principal: NamedDependency[Principal],
        slots: NamedDependency[SlotService],
    ) -> schemas.SlotOutcome:
        return await slots.block(principal.facility_id or "", slot_ref)
