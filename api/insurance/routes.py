"""Insurance XML routes: hospitals' envelopes, operators' certificate registry, citizens'
signed files."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.core.access_tokens import Principal
from api.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MalformedBody,
    NotFound,
    UnsupportedMediaType,
)
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    acting_on_behalf,
    provide_principal,
    requires_admin,
    requires_citizen_access,
    requires_client,
)
from api.core.openapi import (
    answers,
    documented,
    examples,
    fhir_resource,
    problem_responses,
    raw_body,
)
from api.insurance import docs, schemas
from api.insurance.errors import (
    ENVELOPE_INVALID,
    SIGNATURE_INVALID,
    EnvelopeTooLarge,
    EpisodesRejected,
)
from api.insurance.service import InsuranceService

XML_TYPES = frozenset({"application/xml", "text/xml"})
SCOPE = "insurance-xml:write"

_SUBMIT_ERRORS = problem_responses(
    ENVELOPE_INVALID,
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    NotFound.problem,
    EnvelopeTooLarge.problem,
    UnsupportedMediaType.problem,
    SIGNATURE_INVALID,
)
_ADMIN_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem)
_CITIZEN_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem)
_CHOICE_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, Forbidden.problem, InvalidInput.problem
)

Sha256Path = Annotated[str, Parameter(pattern=r"^[0-9a-fA-F]{64}$")]


async def read_envelope(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The body, refused early when its type is wrong or it grows past ``limit``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in XML_TYPES:
        raise UnsupportedMediaType(f"send application/xml, not {media or 'no content type'}")
    too_large = EnvelopeTooLarge(f"the envelope is larger than {limit:,} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    try:  # QĐ 130 files are UTF-8, as every text this API reads
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(
            f"the envelope must be UTF-8: byte {exc.start} is not ({exc.reason})"
        ) from None
    return body


class HospitalInsuranceXmlController(Controller):
    path = "/hospital/insurance-xml"
    tags = ("hospital: health records",)
    guards = (requires_client("hospital", SCOPE),)
    security = ({"BearerToken": []},)

    @post(
        "/",
        operation_id="SubmitInsuranceXml",
        summary="Publish a signed insurance XML envelope (QĐ 130/4750/3176), episode by episode",
        description=docs.SUBMIT_DESCRIPTION,
        request_max_body_size=None,
        responses=_SUBMIT_ERRORS,
        status_code=HTTP_200_OK,
        operation_class=documented(
            body=raw_body(
                "A GIAMDINHHS envelope (`application/xml`; `text/xml` is accepted too)",
                {"application/xml": (docs.ENVELOPE_SCHEMA, [docs.ENVELOPE_EXAMPLE])},
            )
        ),
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        insurance: NamedDependency[InsuranceService],
    ) -> schemas.SubmissionResult:
        body = await read_envelope(request, insurance.limits.max_envelope_bytes)
        result = await insurance.submit(
            body, facility_id=principal.facility_id, publisher=principal.subject
        )
        if result.accepted == 0:
            raise EpisodesRejected(
                f"all {result.rejected} episode(s) were rejected; nothing was stored",
                extra={"episodes": [_plain(e) for e in result.episodes]},
            )
        return result


def guardian_of(request: Request[Any, Any, Any]) -> str | None:
    """Who reads a dependent's files (the principal's subject), or ``None`` for the owner."""
    return provide_principal(request).subject if acting_on_behalf(request) else None


def _plain(value: schemas.EpisodeResult) -> dict[str, Any]:
    import msgspec

    return msgspec.to_builtins(value)


class AdminInsuranceCertificateController(Controller):
    path = "/admin/facilities/{facility_id:str}/insurance-certificates"
    tags = ("administration",)
    guards = (requires_admin,)
    security = ({"BearerToken": []},)

    @post(
        "/",
        operation_id="AddInsuranceCertificate",
        summary="Register a certificate the facility signs its insurance XML with",
        responses={
            **_ADMIN_ERRORS,
            **problem_responses(InvalidInput.problem),
            **answers(200, schemas.Certificate, "Already registered"),
        },
        status_code=HTTP_201_CREATED,
    )
    async def add(
        self,
        facility_id: FromPath[str],
        data: Annotated[
            schemas.CertificateAdd,
            Body(examples=examples(certificate=docs.CERTIFICATE_EXAMPLE)),
        ],
        principal: NamedDependency[Principal],
        insurance: NamedDependency[InsuranceService],
    ) -> Response[schemas.Certificate]:
        view, created = await insurance.add_certificate(
            facility_id, data.pem, added_by=principal.subject
        )
        if not created:
            return Response(view, status_code=HTTP_200_OK)
        location = f"/admin/facilities/{facility_id}/insurance-certificates/{view.sha256}"
        return Response(view, status_code=HTTP_201_CREATED, headers={"Location": location})

    @get(
        "/{sha256:str}",
        operation_id="GetInsuranceCertificate",
        summary="One certificate registered for a facility's insurance XML (by its SHA-256)",
        responses=_ADMIN_ERRORS,
    )
    async def get_certificate(
        self,
        facility_id: FromPath[str],
        sha256: FromPath[Sha256Path],
        insurance: NamedDependency[InsuranceService],
    ) -> schemas.Certificate:
        return await insurance.certificate(facility_id, sha256)

    @get(
        "/",
        operation_id="ListInsuranceCertificates",
        summary="The certificates registered for a facility's insurance XML",
        responses=_ADMIN_ERRORS,
    )
    async def list_certificates(
        self, facility_id: FromPath[str], insurance: NamedDependency[InsuranceService]
    ) -> list[schemas.Certificate]:
        return await insurance.certificates(facility_id)

    @delete(
        "/{sha256:str}",
        operation_id="RemoveInsuranceCertificate",
        summary="Stop accepting envelopes signed with a certificate (by its SHA-256)",
        responses=_ADMIN_ERRORS,
        status_code=HTTP_204_NO_CONTENT,
    )
    async def remove(
        self,
        facility_id: FromPath[str],
        sha256: FromPath[Sha256Path],
        insurance: NamedDependency[InsuranceService],
    ) -> None:
        await insurance.remove_certificate(facility_id, sha256)


class CitizenInsuranceFileController(Controller):
    path = "/citizens/{citizen_id:str}/health-book/insurance-files"
    tags = ("health book",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/",
        operation_id="ListInsuranceFiles",
        summary="Episodes of the book that came as signed insurance XML",
        responses=_CITIZEN_ERRORS,
    )
    async def list_files(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        insurance: NamedDependency[InsuranceService],
    ) -> list[schemas.SignedFile]:
        return await insurance.signed_files(target_citizen_id, guardian=guardian_of(request))

    @get(
        "/follow-ups",
        operation_id="ListInsuranceFollowUps",
        summary="Re-examinations facilities asked for, with a pre-filled slots search",
        description=(
            "From today on. `book_near` (where the facility publishes slots for the department) "
            "is the slots search around the day, ready to `GET`."
        ),
        responses=_CITIZEN_ERRORS,
    )
    async def follow_ups(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        insurance: NamedDependency[InsuranceService],
    ) -> list[schemas.FollowUp]:
        return await insurance.follow_ups(target_citizen_id, guardian=guardian_of(request))

    @get(
        "/{file_id:uuid}/provenance",
        operation_id="GetInsuranceFileProvenance",
        summary="The FHIR Provenance of an episode: the facility's signature over its file",
        responses=_CITIZEN_ERRORS,
        media_type="application/fhir+json",
        operation_class=documented(
            also={200: {"application/fhir+json": fhir_resource("Provenance", "The Provenance")}}
        ),
    )
    async def provenance(
        self,
        request: Request[Any, Any, Any],
        file_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        insurance: NamedDependency[InsuranceService],
    ) -> dict[str, Any]:
        return await insurance.provenance(target_citizen_id, file_id, guardian=guardian_of(request))

    @get(
        "/{file_id:uuid}/file",
        operation_id="GetInsuranceFile",
        summary="The episode's file as the facility sent it (application/xml)",
        description=(
            "The signed envelope byte for byte when it carried only this citizen's episodes; "
            "otherwise this episode's `HOSO` alone in an unsigned `GIAMDINHHS` (the signature "
            "covers other patients' records, which are never sent)."
        ),
        responses=_CITIZEN_ERRORS,
        media_type="application/xml",
    )
    async def file(
        self,
        request: Request[Any, Any, Any],
        file_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        insurance: NamedDependency[InsuranceService],
    ) -> Response[bytes]:
        body = await insurance.signed_file(
            target_citizen_id, file_id, guardian=guardian_of(request)
        )
        return Response(
            body,
            media_type="application/xml",
            headers={"Content-Disposition": f'attachment; filename="{file_id}.xml"'},
        )


def _own_choice(request: Request[Any, Any, Any]) -> None:
    if acting_on_behalf(request):
        raise Forbidden(
            "only the citizen chooses whether their restricted records are shown; a guardian "
            "reads that choice but never changes it"
        )


class CitizenRestrictedDataController(Controller):
    path = "/citizens/{citizen_id:str}/health-book/restricted-data"
    tags = ("health book",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/",
        operation_id="GetRestrictedDataChoice",
        summary="Whether the citizen's restricted (HIV/TB) records are shown in their book",
        description=docs.RESTRICTED_DATA_DESCRIPTION,
        responses=_CITIZEN_ERRORS,
    )
    async def get_choice(
        self,
        request: Request[Any, Any, Any],
        target_citizen_id: NamedDependency[uuid.UUID],
        insurance: NamedDependency[InsuranceService],
    ) -> schemas.RestrictedData:
        return await insurance.restricted_data(target_citizen_id, guardian=guardian_of(request))

    @put(
        "/",
        operation_id="PutRestrictedDataChoice",
        summary="Show or hide the citizen's restricted (HIV/TB) records in their book",
        description=docs.RESTRICTED_DATA_DESCRIPTION,
        responses={**_CHOICE_ERRORS, **problem_responses(Conflict.problem)},
        status_code=HTTP_200_OK,
    )
    async def put_choice(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            schemas.RestrictedDataChange,
            Body(examples=examples(show={"show": True}, hide={"show": False})),
        ],
        target_citizen_id: NamedDependency[uuid.UUID],
        insurance: NamedDependency[InsuranceService],
    ) -> schemas.RestrictedData:
        _own_choice(request)
        return await insurance.choose_restricted_data(target_citizen_id, show=data.show)


INSURANCE_ROUTES = [
    HospitalInsuranceXmlController,
    AdminInsuranceCertificateController,
    CitizenInsuranceFileController,
    CitizenRestrictedDataController,
]
