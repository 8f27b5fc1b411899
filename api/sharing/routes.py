"""Sharing routes: a citizen (or a guardian, for a dependent) makes, lists and revokes SMART
Health Links of the book and reads them as FHIR Consents; recipients open them without an
account (manifest and files), in their own SHL client or in the viewer page this service
serves (``/viewer``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.core import page_assets
from api.core.access_tokens import Principal
from api.core.errors import NOT_FOUND, Forbidden, InvalidInput, NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    acting_on_behalf,
    requires_citizen_access,
)
from api.core.openapi import documented, fhir_resource, problem_responses
from api.core.ratelimit import RATE_LIMITED
from api.sharing import docs, errors, schemas
from api.sharing.service import ShareService
from api.sharing.viewer_page import (
    CONTENT_SECURITY_POLICY,
    PERMISSIONS_POLICY,
    STATIC_PREFIX,
    VIEWER_PATH,
    ViewerPages,
)

JOSE = "application/jose"
FHIR_JSON = "application/fhir+json"
_CITIZEN_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
)
_CREATE_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem, Forbidden.problem
)
_NO_STORE = {"Cache-Control": "no-store"}


class ShareController(Controller):
    path = "/citizens/{citizen_id:str}/shares"
    tags = ("sharing",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @post(
        "/",
        operation_id="CreateShare",
        summary="Share the book as a SMART Health Link (`me` or a dependent)",
        description=docs.CREATE_DESCRIPTION,
        status_code=HTTP_201_CREATED,
        responses=_CREATE_ERRORS,
        request_max_body_size=4 * 1024,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[schemas.ShareCreate, Body(examples=docs.CREATE_EXAMPLES)],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        sharing: NamedDependency[ShareService],
    ) -> Response[schemas.ShareCreated]:
        created = await sharing.create(
            target_citizen_id,
            data,
            created_by=principal.citizen_id,
            guardian=principal.subject if acting_on_behalf(request) else None,
        )
        return Response(
            created,
            status_code=HTTP_201_CREATED,
            headers={**_NO_STORE, "Location": f"{request.url.path.rstrip('/')}/{created.id}"},
        )

    @get(
        "/",
        operation_id="ListShares",
        summary="The links made of this book, newest first, with their status",
        responses=_CITIZEN_ERRORS,
    )
    async def list_shares(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        sharing: NamedDependency[ShareService],
    ) -> schemas.ShareList:
        return await sharing.shares(target_citizen_id)

    @get(
        "/{share_id:uuid}",
        operation_id="GetShare",
        summary="One link made of this book, with its status (never its key)",
        responses=_CITIZEN_ERRORS,
    )
    async def get_share(
        self,
        share_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        sharing: NamedDependency[ShareService],
    ) -> schemas.Share:
        return await sharing.share(target_citizen_id, share_id)

    @delete(
        "/{share_id:uuid}",
        operation_id="RevokeShare",
        summary="Revoke a link: its next manifest request answers 404",
        responses=_CITIZEN_ERRORS,
    )
    async def revoke(
        self,
        share_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        sharing: NamedDependency[ShareService],
    ) -> None:
        await sharing.revoke(target_citizen_id, share_id)


class LinkController(Controller):
    """What a recipient's SMART Health Link client calls (no account: the URL is the secret)."""

    path = "/shl"
    tags = ("sharing",)

    @post(
        "/{manifest_id:str}",
        operation_id="GetShareManifest",
        summary="A SMART Health Link's manifest (POST with the recipient's name)",
        description=(
            "`files`: the IPS as `application/fhir+json`, by `location` (valid at most "
            "SHARING_FILE_URL_SECONDS) or `embedded` when it fits `embeddedLengthMax`. 404 for "
            "an unknown, expired, revoked, disabled or swept link; 401 with `remainingAttempts` "
            "for a missing or wrong passcode; 429 with `Retry-After` when a long-term (`L`) link "
            "is polled more often than SHARING_POLL_SECONDS allows. Each answer is written to "
            "the citizen's access log; the first one sends the citizen a push."
        ),
        status_code=HTTP_200_OK,
        responses=problem_responses(
            errors.LINK_NOT_FOUND, errors.PASSCODE_REQUIRED, InvalidInput.problem, RATE_LIMITED
        ),
        request_max_body_size=4 * 1024,
    )
    async def manifest(
        self,
        manifest_id: FromPath[str],
        data: Annotated[schemas.ManifestRequest, Body(examples=docs.MANIFEST_EXAMPLES)],
        sharing: NamedDependency[ShareService],
    ) -> Response[schemas.Manifest]:
        found = await sharing.manifest(manifest_id, data)
        return Response(found, headers=_NO_STORE)

    @get(
        "/{manifest_id:str}",
        operation_id="GetShareDirectFile",
        summary="A `U` link's single file (GET with the recipient's name): compact JWE",
        description=(
            "Only for links made with `direct` (flag `U`): the encrypted file itself, "
            "`application/jose`, no manifest. `recipient` is required (400 without it). 404 for "
            "a link without `U` (that link is read by `POST`), and for an unknown, expired, "
            "revoked or swept one; 429 with `Retry-After` when a long-term (`L`) link is polled "
            "too often. Written to the citizen's access log like a manifest answer."
        ),
        media_type=JOSE,
        responses=problem_responses(errors.LINK_NOT_FOUND, InvalidInput.problem, RATE_LIMITED),
    )
    async def direct(
        self,
        manifest_id: FromPath[str],
        recipient: Annotated[
            str, QueryParameter(min_length=1, max_length=200, description="the recipient's name")
        ],
        sharing: NamedDependency[ShareService],
    ) -> Response[bytes]:
        jwe = await sharing.direct(manifest_id, recipient)
        return Response(jwe.encode("ascii"), media_type=JOSE, headers=_NO_STORE)

    @get(
        "/files/{token:str}",
        operation_id="GetSharedFile",
        summary="A shared file: compact JWE (`application/jose`)",
        media_type=JOSE,
        responses=problem_responses(errors.FILE_NOT_FOUND),
    )
    async def file(
        self, token: FromPath[str], sharing: NamedDependency[ShareService]
    ) -> Response[bytes]:
        jwe = await sharing.file(token)
        return Response(jwe.encode("ascii"), media_type=JOSE, headers=_NO_STORE)


@get(
    VIEWER_PATH,
    operation_id="GetLinkViewerPage",
    opt={"rate_limit": "exempt"},  # served from memory, like the probes
    summary="The SMART Health Link viewer page (HTML): open `/viewer#shlink:/…`",
    description=(
        "What a link's `viewer_url` and QR open. The `shlink:/` payload (with the link's key) "
        "stays after `#`, which browsers never send; the page asks for the recipient's name "
        "and the passcode, fetches the manifest and files from this service, decrypts them in "
        "the browser and shows the summary (Vietnamese or English, printable)."
    ),
    tags=["pages"],
    media_type="text/html",
    responses=problem_responses(NOT_FOUND),
)
async def viewer_page(
    request: Request[Any, Any, Any], viewer_pages: NamedDependency[ViewerPages]
) -> Response[bytes]:
    asset = viewer_pages.asset("viewer.html")
    if asset is None:  # the package was installed without its pages
        raise NotFound("this page is not installed")
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Permissions-Policy": PERMISSIONS_POLICY,
    }
    return page_assets.answer(asset, request.headers.get("if-none-match"), headers)


@get(
    f"{STATIC_PREFIX}/{{name:str}}",
    operation_id="GetLinkViewerAsset",
    opt={"rate_limit": "exempt"},  # served from memory, like the probes
    summary="A script or stylesheet of the SMART Health Link viewer",
    description="`text/javascript` or `text/css`, with an `ETag` (`If-None-Match` answers 304).",
    media_type="text/javascript",
    tags=["pages"],
    responses=problem_responses(NOT_FOUND),
)
async def viewer_asset(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    viewer_pages: NamedDependency[ViewerPages],
) -> Response[bytes]:
    asset = viewer_pages.static(name)
    if asset is None:
        raise NotFound("no such file")
    return page_assets.answer(asset, request.headers.get("if-none-match"), {})


class ConsentController(Controller):
    """The book's shares as FHIR R4 Consents (read-only: a share is made and revoked above)."""

    path = "/citizens/{citizen_id:str}/consents"
    tags = ("sharing",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/",
        operation_id="ListConsents",
        summary="Every share of this book as a FHIR R4 Consent (a searchset Bundle)",
        description=docs.CONSENT_DESCRIPTION,
        media_type=FHIR_JSON,
        responses=_CITIZEN_ERRORS,
        operation_class=documented(
            also={200: {FHIR_JSON: fhir_resource("Bundle", "A searchset Bundle of Consents")}}
        ),
    )
    async def list_consents(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        sharing: NamedDependency[ShareService],
    ) -> Response[bytes]:
        body = await sharing.consent_bundle(target_citizen_id)
        return Response(body, media_type=FHIR_JSON, headers={"Cache-Control": "private, no-store"})

    @get(
        "/{consent_id:uuid}",
        operation_id="GetConsent",
        summary="One share of this book as a FHIR R4 Consent",
        description=docs.CONSENT_DESCRIPTION,
        media_type=FHIR_JSON,
        responses=_CITIZEN_ERRORS,
        operation_class=documented(also={200: {FHIR_JSON: fhir_resource("Consent", "A Consent")}}),
    )
    async def get_consent(
        self,
        consent_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        sharing: NamedDependency[ShareService],
    ) -> Response[bytes]:
        body = await sharing.consent(target_citizen_id, consent_id)
        return Response(body, media_type=FHIR_JSON, headers={"Cache-Control": "private, no-store"})


SHARING_ROUTES = (ShareController, LinkController, ConsentController, viewer_page, viewer_asset)
