"""Facility routes: the public directory and the operators' registry."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, FromQuery, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.core.errors import InvalidInput, NotFound
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN, requires_admin
from api.core.openapi import answers, examples, problem_responses
from api.facilities import schemas
from api.facilities.service import FacilityService

_FACILITY_EXAMPLES = examples(
    hospital={
        "name": "Bệnh viện Đa khoa Tỉnh",
        "province": "Hà Nội",
        "address": "1 Trần Hưng Đạo, Hoàn Kiếm",
        "phone": "024 3825 3531",
    },
    with_a_fhir_endpoint={
        "name": "Bệnh viện Nhi",
        "province": "Hồ Chí Minh",
        "fhir_base_url": "https://fhir.benhviennhi.example.vn/r4",
        "fhir_token_url": "https://fhir.benhviennhi.example.vn/oauth/token",
        "fhir_client_id": "so-suc-khoe",
        "fhir_assertion_alg": "ES384",
    },
)
_DEPARTMENT_EXAMPLES = examples(
    department={"name": "Khoa Nội", "name_en": "Internal medicine", "room": "P.101"}
)

CodePath = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9._\-]{1,32}$")]


class FacilityController(Controller):
    path = "/facilities"
    tags = ("facilities",)

    @get(
        "/",
        operation_id="SearchFacilities",
        summary="Search facilities by name or code, optionally in one province",
        responses=problem_responses(InvalidInput.problem),
    )
    async def search(
        self,
        facilities: NamedDependency[FacilityService],
        q: FromQuery[Annotated[str | None, Parameter(max_length=100)]] = None,
        province: FromQuery[Annotated[str | None, Parameter(max_length=100)]] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=100)]] = 20,
        cursor: FromQuery[Annotated[str | None, Parameter(max_length=500)]] = None,
    ) -> schemas.FacilityPage:
        return await facilities.search(q=q, province=province, limit=limit, cursor=cursor)

    @get(
        "/{facility_id:str}",
        operation_id="GetFacility",
        summary="One facility",
        responses=problem_responses(NotFound.problem),
    )
    async def get_facility(
        self, facility_id: FromPath[str], facilities: NamedDependency[FacilityService]
    ) -> schemas.Facility:
        return await facilities.active_facility(facility_id)

    @get(
        "/{facility_id:str}/departments",
        operation_id="ListFacilityDepartments",
        summary="The departments of a facility",
        responses=problem_responses(NotFound.problem),
    )
    async def departments(
        self, facility_id: FromPath[str], facilities: NamedDependency[FacilityService]
    ) -> list[schemas.Department]:
        return await facilities.departments(facility_id)


_ADMIN_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem)


class AdminFacilityController(Controller):
    path = "/admin/facilities"
    # tuples: class-level and immutable; Litestar's router copies each into a list of its own
    tags = ("administration",)
    guards = (requires_admin,)
    security = ({"BearerToken": []},)

    @put(
        "/{facility_id:str}",
        operation_id="PutFacility",
        summary="Register or update a facility (id = its facility code)",
        responses={**_ADMIN_ERRORS, **answers(201, schemas.FacilityAdminView, "Registered")},
    )
    async def put_facility(
        self,
        request: Request[Any, Any, Any],
        facility_id: FromPath[CodePath],
        data: Annotated[schemas.FacilityPut, Body(examples=_FACILITY_EXAMPLES)],
        facilities: NamedDependency[FacilityService],
    ) -> Response[schemas.FacilityAdminView]:
        view, created = await facilities.put_facility(facility_id, data)
        if created:  # created at the request's URI (RFC 9110 §9.3.4)
            return Response(
                view, status_code=HTTP_201_CREATED, headers={"Location": request.url.path}
            )
        return Response(view, status_code=HTTP_200_OK)

    @get(
        "/{facility_id:str}",
        operation_id="GetFacilityAdmin",
        summary="A facility with its pull configuration",
        responses=_ADMIN_ERRORS,
    )
    async def get_facility(
        self, facility_id: FromPath[str], facilities: NamedDependency[FacilityService]
    ) -> schemas.FacilityAdminView:
        return await facilities.admin_facility(facility_id)

    @get(
        "/{facility_id:str}/departments/{code:str}",
        operation_id="GetDepartmentAdmin",
        summary="One department (active or not)",
        responses=_ADMIN_ERRORS,
    )
    async def get_department(
        self,
        facility_id: FromPath[str],
        code: FromPath[str],
        facilities: NamedDependency[FacilityService],
    ) -> schemas.Department:
        return await facilities.department(facility_id, code)

    @put(
        "/{facility_id:str}/departments/{code:str}",
        operation_id="PutDepartment",
        summary="Register or update a department",
        responses={**_ADMIN_ERRORS, **answers(201, schemas.Department, "Registered")},
    )
    async def put_department(
        self,
        request: Request[Any, Any, Any],
        facility_id: FromPath[str],
        code: FromPath[CodePath],
        data: Annotated[schemas.DepartmentPut, Body(examples=_DEPARTMENT_EXAMPLES)],
        facilities: NamedDependency[FacilityService],
    ) -> Response[schemas.Department]:
        view, created = await facilities.put_department(facility_id, code, data)
        if created:  # created at the request's URI (RFC 9110 §9.3.4)
            return Response(
                view, status_code=HTTP_201_CREATED, headers={"Location": request.url.path}
            )
        return Response(view, status_code=HTTP_200_OK)


FACILITY_ROUTES = [FacilityController, AdminFacilityController]
