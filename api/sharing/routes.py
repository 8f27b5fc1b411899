"""Sharing routes: a citizen (or a guardian, for a dependent) makes, lists and revokes SMART
Health Links of the book; recipients open them without an account (manifest and files)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.core.access_tokens import Principal
from api.core.errors import InvalidInput, NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    acting_on_behalf,
    requires_citizen_access,
)
from api.core.openapi import problem_responses
from api.core.ratelimit import RATE_LIMITED
from api.sharing import docs, errors, schemas
from api.sharing.service import ShareService

JOSE = "application/jose"
_CITIZEN_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
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
        description=(
            "201 with the `shlink:/` payload (the only time its key is shown), a viewer URL "
            "carrying it after `#`, and its QR code (PNG, base64). `expires_at` is required and "
            "at most SHARING_MAX_DAYS ahead; a `passcode` adds flag `P`, `long_term` flag `L` "
            "(each access gets the book as it is then), `direct` flag `U` (the URL is the file, "
            "fetched by `GET ?recipient=`; never with a `passcode`: 400 naming `direct`)."
        ),
        status_code=HTTP_201_CREATED,
        responses=_CITIZEN_ERRORS,
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


SHARING_ROUTES = (ShareController, LinkController)
