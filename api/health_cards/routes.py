"""Health card routes: a citizen (or a guardian, for a dependent) issues SMART Health Cards of
the book (JSON, the ``.smart-health-card`` file, the QR code) and revokes them; anyone reads the
issuer's revocation lists and verifies a card (no account: a verifier learns nothing the card
does not already say, and only trusted issuers' keys are ever fetched)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from api.core.access_tokens import Principal
from api.core.errors import PAYLOAD_TOO_LARGE, InvalidInput, MalformedBody, NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    acting_on_behalf,
    requires_citizen_access,
)
from api.core.openapi import documented, problem_responses, raw_body
from api.health_cards import docs, errors, schemas
from api.health_cards.cards import MEDIA_TYPE
from api.health_cards.service import HealthCardService

_CITIZEN_ERRORS = problem_responses(
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    NotFound.problem,
    InvalidInput.problem,
    errors.NOTHING_TO_ISSUE,
    errors.ISSUER_NOT_CONFIGURED,
)
_QR_ERRORS = problem_responses(
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    NotFound.problem,
    errors.NOTHING_TO_ISSUE,
    errors.ISSUER_NOT_CONFIGURED,
    errors.CARD_TOO_LARGE_FOR_QR,
)
_NO_STORE = {"Cache-Control": "no-store"}
_OPEN = {"Access-Control-Allow-Origin": "*"}
_IMAGES = {"png": "image/png", "svg": "image/svg+xml"}
_IMMUNIZATIONS = schemas.CardRequest(content="immunizations")
_QR_DESCRIPTION = (
    "One QR symbol: `shc:/` in byte mode, the digits in numeric mode, error correction L, at "
    "most version 22. 422 (`health-card-too-large-for-qr`) when the card is longer than 1195 "
    "characters: cards are never split over several codes; share by SMART Health Link instead."
)


def _guardian(request: Request[Any, Any, Any], principal: Principal) -> str | None:
    return principal.subject if acting_on_behalf(request) else None


def _file(service: HealthCardService, card: schemas.IssuedCard, name: str) -> Response[bytes]:
    return Response(
        service.file(card.jws),
        media_type=MEDIA_TYPE,
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def _qr(
    service: HealthCardService, card: schemas.IssuedCard, image: Literal["png", "svg"]
) -> Response[bytes]:
    return Response(service.qr(card, image), media_type=_IMAGES[image], headers=_NO_STORE)


class HealthCardController(Controller):
    path = "/citizens/{citizen_id:str}/health-cards"
    tags = ("health-cards",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @post(
        "/",
        operation_id="IssueHealthCard",
        summary="Sign a SMART Health Card of the book (`me` or a dependent)",
        description=(
            "`immunizations`: every immunization record of the book; `visit`: one visit's "
            "records (`visit_id`). Answers the compact JWS (ES256, raw-DEFLATE payload, issuer "
            "PUBLIC_BASE_URL), its `kid` and revocation id `rid`, and the `shc:/` numeric text "
            "of its QR code (`null` when the card is too large for one QR code: share by "
            "SMART Health Link). Nothing is stored; each call signs anew."
        ),
        status_code=HTTP_200_OK,
        responses=_CITIZEN_ERRORS,
        request_max_body_size=1024,
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[schemas.CardRequest, Body(examples=docs.ISSUE_EXAMPLES)],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[schemas.IssuedCard]:
        card = await health_cards.issue(
            target_citizen_id, data, guardian=_guardian(request, principal)
        )
        return Response(card, headers=_NO_STORE)

    @get(
        "/immunizations/card.smart-health-card",
        operation_id="DownloadImmunizationHealthCard",
        summary="The immunization records as a `.smart-health-card` file",
        description=(
            '`{"verifiableCredential": [JWS]}`, media type `application/smart-health-card`.'
        ),
        media_type=MEDIA_TYPE,
        responses=_CITIZEN_ERRORS,
    )
    async def immunization_file(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[bytes]:
        card = await health_cards.issue(
            target_citizen_id, _IMMUNIZATIONS, guardian=_guardian(request, principal)
        )
        return _file(health_cards, card, "immunizations.smart-health-card")

    @get(
        "/immunizations/qr.png",
        operation_id="GetImmunizationHealthCardQrPng",
        summary="The immunization card as one `shc:/` QR code (PNG)",
        description=_QR_DESCRIPTION,
        media_type="image/png",
        responses=_QR_ERRORS,
    )
    async def immunization_qr_png(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[bytes]:
        card = await health_cards.issue(
            target_citizen_id, _IMMUNIZATIONS, guardian=_guardian(request, principal)
        )
        return _qr(health_cards, card, "png")

    @get(
        "/immunizations/qr.svg",
        operation_id="GetImmunizationHealthCardQrSvg",
        summary="The immunization card as one `shc:/` QR code (SVG)",
        description=_QR_DESCRIPTION,
        media_type="image/svg+xml",
        responses=_QR_ERRORS,
    )
    async def immunization_qr_svg(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[bytes]:
        card = await health_cards.issue(
            target_citizen_id, _IMMUNIZATIONS, guardian=_guardian(request, principal)
        )
        return _qr(health_cards, card, "svg")

    @get(
        "/visits/{visit_id:uuid}/card.smart-health-card",
        operation_id="DownloadVisitHealthCard",
        summary="One visit's records as a `.smart-health-card` file",
        media_type=MEDIA_TYPE,
        responses=_CITIZEN_ERRORS,
    )
    async def visit_file(
        self,
        request: Request[Any, Any, Any],
        visit_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[bytes]:
        wanted = schemas.CardRequest(content="visit", visit_id=visit_id)
        card = await health_cards.issue(
            target_citizen_id, wanted, guardian=_guardian(request, principal)
        )
        return _file(health_cards, card, f"visit-{visit_id}.smart-health-card")

    @get(
        "/visits/{visit_id:uuid}/qr.png",
        operation_id="GetVisitHealthCardQrPng",
        summary="One visit's card as one `shc:/` QR code (PNG)",
        description=_QR_DESCRIPTION,
        media_type="image/png",
        responses=_QR_ERRORS,
    )
    async def visit_qr_png(
        self,
        request: Request[Any, Any, Any],
        visit_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[bytes]:
        wanted = schemas.CardRequest(content="visit", visit_id=visit_id)
        card = await health_cards.issue(
            target_citizen_id, wanted, guardian=_guardian(request, principal)
        )
        return _qr(health_cards, card, "png")

    @get(
        "/visits/{visit_id:uuid}/qr.svg",
        operation_id="GetVisitHealthCardQrSvg",
        summary="One visit's card as one `shc:/` QR code (SVG)",
        description=_QR_DESCRIPTION,
        media_type="image/svg+xml",
        responses=_QR_ERRORS,
    )
    async def visit_qr_svg(
        self,
        request: Request[Any, Any, Any],
        visit_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[bytes]:
        wanted = schemas.CardRequest(content="visit", visit_id=visit_id)
        card = await health_cards.issue(
            target_citizen_id, wanted, guardian=_guardian(request, principal)
        )
        return _qr(health_cards, card, "svg")

    @post(
        "/revoke",
        operation_id="RevokeHealthCards",
        summary="Revoke every health card issued so far of this book",
        description=(
            "Adds the book's revocation id to each issuer key's revocation list "
            "(`/.well-known/crl/{kid}.json`) as `rid.<now>`: cards signed before this second "
            "fail verification as `revoked`; cards signed afterwards are valid."
        ),
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem),
    )
    async def revoke(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        health_cards: NamedDependency[HealthCardService],
    ) -> None:
        await health_cards.revoke(target_citizen_id)


class HealthCardPublicController(Controller):
    """What verifiers call: revocation lists and the verifier (no account)."""

    tags = ("health-cards",)

    @get(
        "/.well-known/crl/{name:str}",
        operation_id="GetHealthCardCrl",
        summary="An issuer key's revocation list (`/.well-known/crl/{kid}.json`)",
        description=(
            '`{"kid", "method": "rid", "ctr", "rids": ["rid.<epoch>", ...]}`: a card of that '
            "key whose `vc.rid` is listed and whose `nbf` is before the epoch is revoked. "
            "`ctr` is the key's `crlVersion` in the JWKS. Readable from any origin."
        ),
        responses=problem_responses(errors.CRL_NOT_FOUND),
    )
    async def crl(
        self, name: FromPath[str], health_cards: NamedDependency[HealthCardService]
    ) -> Response[dict[str, Any]]:
        kid, dot, ext = name.rpartition(".")
        if not dot or ext != "json":
            raise errors.CrlNotFound("the list is /.well-known/crl/{kid}.json")
        return Response(await health_cards.crl(kid), headers=_OPEN)

    @post(
        "/health-cards/verify",
        operation_id="VerifyHealthCard",
        summary="Verify a SMART Health Card (any conforming issuer this service trusts)",
        description=(
            'The body: `{"card": ...}` (JSON), or the card itself (a `.smart-health-card` '
            "file, a compact JWS, or the `shc:/` numeric text a QR code holds). Always 200 with "
            "`valid`; a failing card says why in `reason`: `malformed`, `not_compressed`, "
            "`untrusted_issuer`, `issuer_unavailable`, `kid_not_in_jwks`, `kid_not_thumbprint`, "
            "`bad_signature`, `not_yet_valid`, `revoked`, `expired`. `fhirBundle` is the card's "
            "content. "
            "Cards of this service are checked with its own keys; other issuers' only when "
            "listed in HEALTH_CARD_TRUSTED_ISSUERS (their keys fetched from their JWKS)."
        ),
        status_code=HTTP_200_OK,
        responses=problem_responses(InvalidInput.problem, MalformedBody.problem, PAYLOAD_TOO_LARGE),
        request_max_body_size=256 * 1024,
        operation_class=documented(
            body=raw_body(
                'The card: `{"card": …}` as JSON, or the card itself (`shc:/` text or a JWS as '
                "text, a `.smart-health-card` file as sent)",
                {
                    "application/json": (docs.VERIFY_JSON_SCHEMA, docs.VERIFY_JSON_EXAMPLES),
                    "text/plain": (docs.TEXT_SCHEMA, [docs.QR_TEXT_EXAMPLE]),
                },
            )
        ),
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        health_cards: NamedDependency[HealthCardService],
    ) -> Response[schemas.Verification]:
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody("the body is not UTF-8 text: a card is ASCII") from exc
        if not text.strip():
            raise InvalidInput("the body must hold the card")
        if request.content_type[0] == "application/json":
            text = _card_of(text)
        return Response(await health_cards.verify(text), headers=_OPEN)


def _card_of(text: str) -> str:
    """The ``card`` of a JSON body ``{"card": "..."}``."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("the body is not JSON") from exc
    card = document.get("card") if isinstance(document, dict) else None
    if not isinstance(card, str) or not card.strip():
        raise InvalidInput('a JSON body is {"card": "..."}', field="card")
    return card


HEALTH_CARD_ROUTES = (HealthCardController, HealthCardPublicController)
