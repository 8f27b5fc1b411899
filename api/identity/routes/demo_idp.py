"""The demo identity provider's routes, mounted only in demo mode (``healthbook demo``)."""

from __future__ import annotations

import html
from typing import Annotated, Any

from litestar import Controller, MediaType, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body

from api.core.errors import NotFound
from api.core.openapi import problem_responses
from api.core.settings import Settings
from api.identity.demo_idp import (
    DEMO_PATH,
    DEMO_PEOPLE,
    DemoIdentityProvider,
    IdTokenRequest,
    IdTokenResponse,
)
from api.identity.docs import DEMO_ID_TOKEN_EXAMPLES


class DemoIdpController(Controller):
    path = DEMO_PATH
    tags = ("demo identity provider",)

    @get("/jwks.json", operation_id="GetDemoIdpJwks", summary="The demo provider's keys")
    async def jwks(self, demo_idp: NamedDependency[DemoIdentityProvider]) -> dict[str, Any]:
        return demo_idp.jwks()

    @get(
        "/.well-known/openid-configuration",
        operation_id="GetDemoIdpConfiguration",
        summary="OpenID Connect discovery for the demo provider",
    )
    async def configuration(
        self, demo_idp: NamedDependency[DemoIdentityProvider]
    ) -> dict[str, Any]:
        return demo_idp.configuration()

    @post(
        "/id-token",
        operation_id="IssueDemoIdToken",
        summary="An ID token for one of the demo citizens",
        responses=problem_responses(NotFound.problem),
        status_code=200,
    )
    async def issue(
        self,
        data: Annotated[IdTokenRequest, Body(examples=DEMO_ID_TOKEN_EXAMPLES)],
        demo_idp: NamedDependency[DemoIdentityProvider],
    ) -> IdTokenResponse:
        return demo_idp.issue(data.national_id)

    @get("/", operation_id="GetDemoIdpPage", summary="Demo citizens and how to log in as them")
    async def page(self, demo_idp: NamedDependency[DemoIdentityProvider]) -> Response[str]:
        return Response(_page(demo_idp.base_url), media_type=MediaType.HTML)


def _page(base: str) -> str:
    """The demo citizens, and the two curl commands that log in as the first of them."""
    rows = "".join(
        f"<tr><td>{html.escape(p.name)}</td><td>{p.national_id}</td><td>{p.birthdate}</td>"
        f"<td>{'guardian of ' + ', '.join(p.dependents) if p.dependents else ''}</td></tr>"
        for p in DEMO_PEOPLE
    )
    curl = (
        f"ID=$(curl -s -X POST {base}{DEMO_PATH}/id-token -H 'content-type: application/json' "
        f'-d \'{{"national_id":"{DEMO_PEOPLE[0].national_id}"}}\' | jq -r .id_token)\n'
        f"curl -s -X POST {base}/auth/token "
        "-d grant_type=urn:ietf:params:oauth:grant-type:token-exchange "
        '-d subject_token="$ID" '
        "-d subject_token_type=urn:ietf:params:oauth:token-type:id_token"
    )
    return (
        "<!doctype html><html lang='vi'><meta charset='utf-8'>"
        "<title>Demo identity provider</title>"
        "<style>body{font:18px system-ui;margin:2rem;max-width:60rem}"
        "td,th{padding:.3rem 1rem;border-bottom:1px solid #ccc}</style>"
        "<h1>Demo identity provider</h1><p>Stands in for the national identity provider in "
        "demo mode only. It issues ID tokens for these citizens:</p>"
        f"<table><tr><th>Name</th><th>National ID</th><th>Born</th><th></th></tr>{rows}"
        f"</table><h2>Log in with curl</h2><pre>{html.escape(curl)}</pre></html>"
    )


def demo_routes(settings: Settings) -> list[type[Controller]]:
    return [DemoIdpController] if settings.demo else []
