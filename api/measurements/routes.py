"""Home measurement routes: a citizen (or a guardian, for a dependent) records, lists, reads,
edits and deletes readings, and imports a companion app's batch."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from api.core.access_tokens import Principal
from api.core.errors import (
    CONFLICT,
    PAYLOAD_TOO_LARGE,
    TOO_MANY_REQUESTS,
    UNSUPPORTED_MEDIA_TYPE,
    InvalidInput,
    NotFound,
)
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    acting_on_behalf,
    requires_citizen_access,
)
from api.core.openapi import problem_responses
from api.measurements import docs, errors, schemas
from api.measurements.kinds import Kind
from api.measurements.service import MeasurementService
from api.measurements.uploads import MeasurementImports

_ERRORS = problem_responses(
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    NotFound.problem,
    InvalidInput.problem,
    errors.IMPOSSIBLE_VALUE,
    errors.IDEMPOTENCY_REUSED,
    errors.IMPORT_LIMIT,
)
IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="idempotency-key",
        min_length=1,
        max_length=255,
        description=(
            "Required: a unique value per reading (a UUID). The same key with the same body "
            "answers the first reading again (`Idempotent-Replayed: true`); with another body, "
            "422 `measurement-key-reused`."
        ),
    ),
]
_UPLOAD_ERRORS = problem_responses(
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    NotFound.problem,
    CONFLICT,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    TOO_MANY_REQUESTS,
)
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="1 to 200")]
Cursor = Annotated[str | None, QueryParameter(max_length=500)]
_NO_STORE = {"Cache-Control": "no-store"}


def _who(request: Request[Any, Any, Any], principal: Principal) -> tuple[str, str | None]:
    """The actor (the principal's citizen id) and, acting for a dependent, the guardian."""
    guardian = principal.subject if acting_on_behalf(request) else None
    return str(principal.citizen_id), guardian


class MeasurementController(Controller):
    path = "/citizens/{citizen_id:str}/measurements"
    tags = ("home measurements",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @post(
        "/",
        operation_id="RecordMeasurement",
        summary="Record a home reading (`me` or a dependent), with an Idempotency-Key",
        description=docs.RECORD_DESCRIPTION,
        status_code=HTTP_201_CREATED,
        responses={
            200: ResponseSpec(
                data_container=schemas.Measurement,
                description=(
                    "The same Idempotency-Key and body again: the reading recorded the first "
                    "time (`Idempotent-Replayed: true`), nothing recorded twice"
                ),
                generate_examples=False,
            ),
            **_ERRORS,
        },
        request_max_body_size=8 * 1024,
    )
    async def record(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[schemas.MeasurementCreate, Body(examples=docs.RECORD_EXAMPLES)],
        idempotency_key: IdempotencyKey,
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurements: NamedDependency[MeasurementService],
    ) -> Response[schemas.Measurement]:
        actor, guardian = _who(request, principal)
        found, created = await measurements.record(
            target_citizen_id, data, key=idempotency_key, actor=actor, guardian=guardian
        )
        headers = {**_NO_STORE, "Location": f"{request.url.path.rstrip('/')}/{found.id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            found,
            status_code=HTTP_201_CREATED if created else HTTP_200_OK,
            headers=headers,
        )

    @post(
        "/batch",
        operation_id="ImportMeasurements",
        summary="Import a companion app's samples (our shape or Health Connect records)",
        description=docs.BATCH_DESCRIPTION,
        status_code=HTTP_200_OK,
        responses=_ERRORS,
        request_max_body_size=4 * 1024 * 1024,
    )
    async def batch(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[schemas.MeasurementBatch, Body(examples=docs.BATCH_EXAMPLES)],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurements: NamedDependency[MeasurementService],
    ) -> Response[schemas.ImportSummary]:
        actor, guardian = _who(request, principal)
        summary = await measurements.import_batch(
            target_citizen_id, data, actor=actor, guardian=guardian
        )
        return Response(summary, headers=_NO_STORE)

    @post(
        "/imports",
        operation_id="UploadAppleHealthExport",
        summary="Upload an Apple Health export (export.zip or export.xml) to import it",
        description=docs.UPLOAD_DESCRIPTION,
        status_code=HTTP_202_ACCEPTED,
        responses=_UPLOAD_ERRORS,
        request_max_body_size=None,
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurement_imports: NamedDependency[MeasurementImports],
    ) -> Response[schemas.MeasurementImportJob]:
        actor, guardian = _who(request, principal)
        media_type = measurement_imports.media_type(request.headers.get("content-type"))
        await measurement_imports.check_can_start(target_citizen_id)
        declared = request.headers.get("content-length")
        job_id = uuid.uuid4()
        path, size = await measurement_imports.receive(
            request.stream(),
            declared=int(declared) if declared and declared.isdigit() else None,
            job_id=job_id,
        )
        job = await measurement_imports.start(
            target_citizen_id,
            job_id=job_id,
            path=path,
            media_type=media_type,
            size=size,
            actor=actor,
            guardian=guardian,
        )
        location = f"{request.url.path.rstrip('/')}/{job.id}"
        return Response(
            job,
            status_code=HTTP_202_ACCEPTED,
            headers={**_NO_STORE, "Location": location},
        )

    @get(
        "/imports",
        operation_id="ListAppleHealthImports",
        summary="This book's Apple Health imports, newest first",
        responses=_ERRORS,
    )
    async def list_imports(
        self,
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurement_imports: NamedDependency[MeasurementImports],
    ) -> Response[schemas.MeasurementImports]:
        del principal
        found = await measurement_imports.list(target_citizen_id)
        return Response(found, headers=_NO_STORE)

    @get(
        "/imports/{import_id:uuid}",
        operation_id="GetAppleHealthImport",
        summary="One Apple Health import: status, progress and summary (poll it)",
        responses=_ERRORS,
    )
    async def get_import(
        self,
        import_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurement_imports: NamedDependency[MeasurementImports],
    ) -> Response[schemas.MeasurementImportJob]:
        del principal
        found = await measurement_imports.get(target_citizen_id, import_id)
        return Response(found, headers=_NO_STORE)

    @get(
        "/",
        operation_id="ListMeasurements",
        summary="Home readings, newest first (by when they were measured)",
        responses=_ERRORS,
    )
    async def list_measurements(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurements: NamedDependency[MeasurementService],
        kind: FromQuery[Kind | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Response[schemas.MeasurementPage]:
        actor, guardian = _who(request, principal)
        page = await measurements.list(
            target_citizen_id,
            kind=kind,
            limit=limit,
            cursor=cursor,
            actor=actor,
            guardian=guardian,
        )
        return Response(page, headers=_NO_STORE)

    @get(
        "/{measurement_id:uuid}",
        operation_id="GetMeasurement",
        summary="One home reading, with its FHIR Observation",
        responses=_ERRORS,
    )
    async def get_measurement(
        self,
        request: Request[Any, Any, Any],
        measurement_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurements: NamedDependency[MeasurementService],
    ) -> Response[schemas.Measurement]:
        actor, guardian = _who(request, principal)
        found = await measurements.get(
            target_citizen_id, measurement_id, actor=actor, guardian=guardian
        )
        return Response(found, headers=_NO_STORE)

    @put(
        "/{measurement_id:uuid}",
        operation_id="EditMeasurement",
        summary="Correct a home reading (its kind stays): a new version of its Observation",
        responses=_ERRORS,
        request_max_body_size=8 * 1024,
    )
    async def edit(
        self,
        request: Request[Any, Any, Any],
        measurement_id: FromPath[uuid.UUID],
        data: Annotated[schemas.MeasurementCreate, Body(examples=docs.RECORD_EXAMPLES)],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurements: NamedDependency[MeasurementService],
    ) -> Response[schemas.Measurement]:
        actor, guardian = _who(request, principal)
        found = await measurements.update(
            target_citizen_id, measurement_id, data, actor=actor, guardian=guardian
        )
        return Response(found, headers=_NO_STORE)

    @delete(
        "/{measurement_id:uuid}",
        operation_id="DeleteMeasurement",
        summary="Delete a home reading: out of the book, its charts, exports and shares",
        responses=_ERRORS,
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        measurement_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        measurements: NamedDependency[MeasurementService],
    ) -> None:
        actor, guardian = _who(request, principal)
        await measurements.delete(target_citizen_id, measurement_id, actor=actor, guardian=guardian)


MEASUREMENT_ROUTES = (MeasurementController,)
