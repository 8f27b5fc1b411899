"""Questionnaire routes: the hospital's FHIR ``Questionnaire`` and ``QuestionnaireResponse``
endpoints, the operators' equivalent for any facility, and the citizen's forms of an
appointment. Every answer is FHIR JSON; every error an ``OperationOutcome``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.core.access_tokens import Principal
from api.core.guards import (
    acting_on_behalf,
    requires_admin,
    requires_citizen_access,
    requires_client,
)
from api.core.openapi import documented, fhir_resource, raw_body
from api.health_book.fhir_http import (
    FHIR_EXCEPTION_HANDLERS,
    FHIR_JSON,
    OperationOutcome,
    read_fhir_body,
)
from api.questionnaires.docs import QUESTIONNAIRE_EXAMPLE, RESPONSE_EXAMPLE
from api.questionnaires.service import QuestionnaireService

_OUTCOME = ResponseSpec(
    data_container=OperationOutcome,
    media_type=FHIR_JSON,
    description="FHIR OperationOutcome: what was wrong and where (issue.expression)",
    generate_examples=False,
)
_ERRORS = {status: _OUTCOME for status in (400, 401, 403, 404, 409, 413, 415, 422)}
_QUESTIONNAIRE_BODY = documented(
    body=raw_body(
        "A FHIR R4 Questionnaire (`application/fhir+json`)",
        {FHIR_JSON: (fhir_resource("Questionnaire", "R4 Questionnaire"), [QUESTIONNAIRE_EXAMPLE])},
    )
)
_RESPONSE_BODY = documented(
    body=raw_body(
        "A FHIR R4 QuestionnaireResponse (`application/fhir+json`)",
        {
            FHIR_JSON: (
                fhir_resource("QuestionnaireResponse", "R4 QuestionnaireResponse"),
                [RESPONSE_EXAMPLE],
            )
        },
    )
)
LogicalId = Annotated[str, Parameter(max_length=64)]
Department = FromQuery[Annotated[str | None, Parameter(max_length=32)]]
Required = FromQuery[bool]
PUBLISH_DESCRIPTION = (
    "Body: a FHIR R4 Questionnaire (`status` active; items string, text, boolean, choice with "
    "answerOption, integer, decimal, date, group, display; `required`, `repeats`, `enableWhen` "
    "pointing to earlier questions with `enableBehavior`). `department` (query): the department "
    "whose appointments ask for it; `required` (query, default true): whether the kiosk reminds "
    "patients who have not completed it. Changed content is a new version (201, `meta.versionId`) "
    "that supersedes the current one (answers keep their version); the same content again is "
    "200. An invalid Questionnaire is 422 with an OperationOutcome listing every issue."
)


def _fhir(resource: dict[str, Any], status: int = HTTP_200_OK, **headers: str) -> Response[Any]:
    return Response(resource, status_code=status, media_type=FHIR_JSON, headers=headers or None)


class HospitalQuestionnaireController(Controller):
    path = "/hospital/fhir"
    tags = ("hospital: questionnaires",)
    exception_handlers = FHIR_EXCEPTION_HANDLERS
    security = ({"BearerToken": []},)

    @put(
        "/Questionnaire/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="PublishQuestionnaire",
        summary="Publish a questionnaire (new version of the same id supersedes)",
        description=PUBLISH_DESCRIPTION,
        guards=[requires_client("hospital", "questionnaires:write")],
        responses={
            201: ResponseSpec(
                data_container=dict[str, Any], media_type=FHIR_JSON, description="New version"
            ),
            **_ERRORS,
        },
        request_max_body_size=None,
        operation_class=_QUESTIONNAIRE_BODY,
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        questionnaire_id: FromPath[LogicalId],
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
        department: Department = None,
        required: Required = True,
    ) -> Response[Any]:
        body, _ = await read_fhir_body(request, questionnaires.max_body_bytes)
        resource, created = await questionnaires.publish(
            facility_id=principal.facility_id,
            logical_id=questionnaire_id,
            body=body,
            department=department,
            required=required,
            publisher=principal.subject,
        )
        return _fhir(
            resource,
            HTTP_201_CREATED if created else HTTP_200_OK,
            Location=f"/hospital/fhir/Questionnaire/{questionnaire_id}/_history/{resource['meta']['versionId']}",
        )

    @get(
        "/Questionnaire",
        media_type=FHIR_JSON,
        operation_id="SearchQuestionnaires",
        summary="The facility's questionnaires (latest version of each), as a searchset Bundle",
        guards=[requires_client("hospital")],
        responses=_ERRORS,
    )
    async def search(
        self,
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
        department: Department = None,
        status: FromQuery[Annotated[str | None, Parameter(pattern=r"^(active|retired)$")]] = None,
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.search(
                facility_id=principal.facility_id, department=department, status=status
            )
        )

    @get(
        "/Questionnaire/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="ReadQuestionnaire",
        summary="A questionnaire at its latest version",
        guards=[requires_client("hospital")],
        responses=_ERRORS,
    )
    async def read(
        self,
        questionnaire_id: FromPath[LogicalId],
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.read(
                facility_id=principal.facility_id, logical_id=questionnaire_id
            )
        )

    @get(
        "/Questionnaire/{questionnaire_id:str}/_history/{version:str}",
        media_type=FHIR_JSON,
        operation_id="ReadQuestionnaireVersion",
        summary="One version of a questionnaire",
        guards=[requires_client("hospital")],
        responses=_ERRORS,
    )
    async def read_version(
        self,
        questionnaire_id: FromPath[LogicalId],
        version: FromPath[Annotated[int, Parameter(ge=1, le=2**31 - 1)]],
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.read(
                facility_id=principal.facility_id, logical_id=questionnaire_id, version=version
            )
        )

    @delete(
        "/Questionnaire/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="RetireQuestionnaire",
        summary="Retire a questionnaire: no longer asked for; answers keep their version",
        guards=[requires_client("hospital", "questionnaires:write")],
        responses=_ERRORS,
        status_code=HTTP_200_OK,
    )
    async def retire(
        self,
        questionnaire_id: FromPath[LogicalId],
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.retire(
                facility_id=principal.facility_id, logical_id=questionnaire_id
            )
        )

    @get(
        "/QuestionnaireResponse/{response_id:str}",
        media_type=FHIR_JSON,
        operation_id="ReadQuestionnaireResponse",
        summary="A patient's answers (written to the patient's access log)",
        guards=[requires_client("hospital", "appointments:read")],
        responses=_ERRORS,
    )
    async def read_response(
        self,
        response_id: FromPath[Annotated[str, Parameter(max_length=64)]],
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.hospital_response(
                facility_id=principal.facility_id,
                client_id=principal.subject,
                response_id=response_id,
            )
        )

    @get(
        "/QuestionnaireResponse",
        media_type=FHIR_JSON,
        operation_id="SearchQuestionnaireResponses",
        summary="Answers by appointment and/or patient (each read written to the access log)",
        guards=[requires_client("hospital", "appointments:read")],
        responses=_ERRORS,
    )
    async def search_responses(
        self,
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
        appointment: FromQuery[Annotated[str | None, Parameter(max_length=80)]] = None,
        patient: FromQuery[Annotated[str | None, Parameter(max_length=80)]] = None,
        questionnaire: FromQuery[Annotated[str | None, Parameter(max_length=64)]] = None,
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.hospital_search(
                facility_id=principal.facility_id,
                client_id=principal.subject,
                appointment=appointment,
                patient=patient,
                questionnaire=questionnaire,
            )
        )


class AdminQuestionnaireController(Controller):
    """Operators manage any facility's questionnaires, as they manage its departments."""

    path = "/admin/facilities/{facility_id:str}/questionnaires"
    tags = ("administration",)
    guards = (requires_admin,)
    exception_handlers = FHIR_EXCEPTION_HANDLERS
    security = ({"BearerToken": []},)

    @put(
        "/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="PublishQuestionnaireAdmin",
        summary="Publish a facility's questionnaire (as the hospital's PUT)",
        description=PUBLISH_DESCRIPTION,
        responses=_ERRORS,
        request_max_body_size=None,
        operation_class=_QUESTIONNAIRE_BODY,
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        facility_id: FromPath[str],
        questionnaire_id: FromPath[LogicalId],
        principal: NamedDependency[Principal],
        questionnaires: NamedDependency[QuestionnaireService],
        department: Department = None,
        required: Required = True,
    ) -> Response[Any]:
        body, _ = await read_fhir_body(request, questionnaires.max_body_bytes)
        resource, created = await questionnaires.publish(
            facility_id=facility_id,
            logical_id=questionnaire_id,
            body=body,
            department=department,
            required=required,
            publisher=principal.subject,
        )
        return _fhir(resource, HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="ReadQuestionnaireAdmin",
        summary="A facility's questionnaire at its latest version",
        responses=_ERRORS,
    )
    async def read(
        self,
        facility_id: FromPath[str],
        questionnaire_id: FromPath[LogicalId],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.read(facility_id=facility_id, logical_id=questionnaire_id)
        )

    @delete(
        "/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="RetireQuestionnaireAdmin",
        summary="Retire a facility's questionnaire",
        responses=_ERRORS,
        status_code=HTTP_200_OK,
    )
    async def retire(
        self,
        facility_id: FromPath[str],
        questionnaire_id: FromPath[LogicalId],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.retire(facility_id=facility_id, logical_id=questionnaire_id)
        )


class CitizenQuestionnaireController(Controller):
    path = "/citizens/{citizen_id:str}/appointments/{appointment_id:str}/questionnaires"
    tags = ("appointments",)
    guards = (requires_citizen_access,)
    exception_handlers = FHIR_EXCEPTION_HANDLERS
    security = ({"BearerToken": []},)

    @get(
        "/{questionnaire_id:str}",
        media_type=FHIR_JSON,
        operation_id="GetAppointmentQuestionnaire",
        summary="A form to fill in for the appointment (FHIR Questionnaire)",
        responses=_ERRORS,
    )
    async def questionnaire(
        self,
        appointment_id: FromPath[uuid.UUID],
        questionnaire_id: FromPath[LogicalId],
        target_citizen_id: NamedDependency[uuid.UUID],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.questionnaire_for_appointment(
                citizen_id=target_citizen_id,
                appointment_id=appointment_id,
                logical_id=questionnaire_id,
            )
        )

    @put(
        "/{questionnaire_id:str}/response",
        media_type=FHIR_JSON,
        operation_id="AnswerAppointmentQuestionnaire",
        summary="Answer (or amend the answers to) a form, until the visit",
        description=(
            "Body: a FHIR R4 QuestionnaireResponse, `status` `completed` or `in-progress` (saved; "
            "required items may wait). Checked against the questionnaire: linkIds and nesting, "
            "value types, choices among answerOption, no answers to items enableWhen disables, "
            "required items (when completed). 422 with an OperationOutcome listing every issue "
            "(`expression` and the item's linkId path in `diagnostics`); nothing is stored then. "
            "201 the first time, 200 when amended; 409 once the appointment is checked in, over "
            "or cancelled."
        ),
        responses=_ERRORS,
        request_max_body_size=None,
        operation_class=_RESPONSE_BODY,
    )
    async def answer(
        self,
        request: Request[Any, Any, Any],
        appointment_id: FromPath[uuid.UUID],
        questionnaire_id: FromPath[LogicalId],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        body, _ = await read_fhir_body(request, questionnaires.max_body_bytes)
        resource, created = await questionnaires.answer(
            citizen_id=target_citizen_id,
            actor_id=principal.citizen_id,
            appointment_id=appointment_id,
            logical_id=questionnaire_id,
            body=body,
            guardian=principal.subject if acting_on_behalf(request) else None,
        )
        return _fhir(resource, HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/{questionnaire_id:str}/response",
        media_type=FHIR_JSON,
        operation_id="GetAppointmentQuestionnaireResponse",
        summary="The answers given to a form",
        responses=_ERRORS,
    )
    async def response(
        self,
        request: Request[Any, Any, Any],
        appointment_id: FromPath[uuid.UUID],
        questionnaire_id: FromPath[LogicalId],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        questionnaires: NamedDependency[QuestionnaireService],
    ) -> Response[Any]:
        return _fhir(
            await questionnaires.response_for_citizen(
                citizen_id=target_citizen_id,
                appointment_id=appointment_id,
                logical_id=questionnaire_id,
                guardian=principal.subject if acting_on_behalf(request) else None,
            )
        )


QUESTIONNAIRE_ROUTES = [
    HospitalQuestionnaireController,
    AdminQuestionnaireController,
    CitizenQuestionnaireController,
]
