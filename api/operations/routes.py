"""Operational endpoints: liveness, readiness, Prometheus metrics, the problem type registry."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp

from api.core.errors import NOT_READY, UNAUTHORIZED
from api.core.errors import NotFound as NotFoundError
from api.core.openapi import problem_responses
from api.operations.service import CheckResult, OperationsService, ProblemTypeDoc


class Liveness(msgspec.Struct, frozen=True):
    status: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, CheckResult]


# Liveness is probed every few seconds by every orchestrator: the answer is encoded once and
# handed to the server as a ready ASGI response (Litestar's path for ASGI return values).
_LIVE = ASGIResponse(body=msgspec.json.encode(Liveness(status="ok")), media_type="application/json")


class OperationsController(Controller):
    tags = ("operations",)

    @get(
        "/health/live",
        operation_id="GetLiveness",
        summary="Is the process alive?",
        responses={200: ResponseSpec(data_container=Liveness, description="The process runs")},
    )
    async def live(self) -> ASGIApp:
        return _LIVE

    @get(
        "/health/ready",
        operation_id="GetReadiness",
        summary="Can this instance serve traffic (database and Redis answer)?",
        responses=problem_responses(NOT_READY),
    )
    async def ready(self, operations: NamedDependency[OperationsService]) -> Readiness:
        return Readiness(status="ok", checks=await operations.readiness())

    @get(
        "/metrics",
        operation_id="GetMetrics",
        summary="Prometheus metrics (text exposition format)",
        description=(
            "With METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>` (401 "
            "otherwise): the scraper's credential, not a user's."
        ),
        media_type="text/plain",
        responses=problem_responses(UNAUTHORIZED),
    )
    async def metrics(
        self, request: Request[Any, Any, Any], operations: NamedDependency[OperationsService]
    ) -> Response[bytes]:
        body, content_type = operations.metrics(request.headers.get("authorization"))
        return Response(content=body, media_type=content_type)

    @get("/problems", operation_id="ListProblemTypes", summary="Every problem type this API uses")
    async def problem_types(
        self, operations: NamedDependency[OperationsService]
    ) -> list[ProblemTypeDoc]:
        return operations.problem_types()

    @get(
        "/problems/{slug:str}",
        operation_id="GetProblemType",
        summary="What one problem type means",
        responses=problem_responses(NotFoundError.problem),
    )
    async def problem_type(
        self, slug: FromPath[str], operations: NamedDependency[OperationsService]
    ) -> ProblemTypeDoc:
        return operations.problem_type(slug)


__all__: list[Any] = ["OperationsController"]
