"""Guards for every kind of caller, reused by every domain, and the errors of a bearer token.

- ``requires_citizen``: a citizen's access token.
- ``requires_citizen_access``: a citizen acting on ``/citizens/{citizen_id}/...`` where
  ``citizen_id`` is ``me``, their own id, or the id of someone they are a current guardian of.
  Anything else is 404, so ids of other people cannot be probed.
- ``requires_client(kind, scope)``: a hospital, kiosk or admin client with that scope.
- ``requires_admin``: an operator.

The verified principal and the resolved target citizen are kept in the request's scope state;
``provide_principal`` and ``provide_citizen_id`` hand them to handlers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import jwt
from litestar.connection import ASGIConnection, Request
from litestar.handlers.base import BaseRouteHandler

from api.core.access_tokens import AccessTokens, CallerKind, Principal
from api.core.errors import DomainError, NotFound, problem_type

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]]

INVALID_TOKEN = problem_type(
    "invalid-token",
    "Invalid access token",
    401,
    "The bearer token is missing, malformed, expired, or not one of ours.",
)
INSUFFICIENT_SCOPE = problem_type(
    "insufficient-scope",
    "Insufficient scope",
    403,
    "The access token is valid but does not carry the scope or caller kind this route needs.",
)


class InvalidToken(DomainError):
    """A bearer token that does not authenticate (401 with ``WWW-Authenticate``)."""

    problem = INVALID_TOKEN

    def __init__(self, detail: str = "invalid access token") -> None:
        super().__init__(
            detail,
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'
            },
        )


class MissingToken(InvalidToken):
    """No bearer credentials at all (no ``Authorization``, or another scheme): the challenge
    names no ``error`` (RFC 6750 §3.1: the request lacked authentication)."""

    def __init__(self, detail: str = "a bearer token is required") -> None:
        DomainError.__init__(self, detail, headers={"WWW-Authenticate": "Bearer"})


class InsufficientScope(DomainError):
    problem = INSUFFICIENT_SCOPE

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail,
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
        )


class Guardianships(Protocol):
    """Who may act for whom: the identity domain's citizen directory (``app.state.directory``)."""

    async def may_act_for(
        self, guardian_id: uuid.UUID, dependent_id: uuid.UUID, now: dt.datetime
    ) -> bool: ...


_PRINCIPAL = "hb_principal"
_CITIZEN = "hb_citizen_id"
_ON_BEHALF = "hb_on_behalf"


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    state = connection.scope["state"]
    principal: Principal | None = state.get(_PRINCIPAL)
    if principal is not None:
        return principal
    header = connection.headers.get("authorization")
    if not header:
        raise MissingToken("a bearer token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("the Authorization header must be `Bearer <token>`")
    if not token.strip():
        raise InvalidToken("the Authorization header must be `Bearer <token>`")
    tokens: AccessTokens = connection.app.state.access_tokens
    try:
        principal = tokens.verify(token.strip())
    except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
        raise InvalidToken("the access token is invalid or expired") from exc
    state[_PRINCIPAL] = principal
    return principal


def rate_limit_caller(scope: Any) -> str | None:
    """Who a request counts against for rate limits (api/core/ratelimit.py): the principal of a
    valid access token (kept in the scope's state, so the guards do not verify it again), or None
    for anonymous requests and bad credentials (the guards answer those 401 as usual)."""
    state = scope["state"]
    principal: Principal | None = state.get(_PRINCIPAL)
    if principal is None:
        header = next((v for n, v in scope["headers"] if n == b"authorization"), None)
        if header is None:
            return None
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        tokens: AccessTokens = scope["litestar_app"].state.access_tokens
        try:
            principal = tokens.verify(token.strip())
        except (jwt.InvalidTokenError, ValueError, KeyError):
            return None
        state[_PRINCIPAL] = principal
    return ("citizen:" if principal.kind == "citizen" else "client:") + principal.subject


async def requires_authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    await authenticate(connection)


async def requires_citizen(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    principal = await authenticate(connection)
    if principal.kind != "citizen":
        raise InsufficientScope("this route is for citizens")


async def requires_citizen_access(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    principal = await authenticate(connection)
    if principal.kind != "citizen":
        raise InsufficientScope("this route is for citizens")
    raw = connection.path_params.get("citizen_id", "me")
    own = principal.citizen_id
    if raw == "me":
        target = own
    else:
        try:
            target = uuid.UUID(str(raw))
        except ValueError as exc:
            raise NotFound("no such citizen") from exc
    if target != own:
        app_state = connection.app.state
        directory: Guardianships = app_state.directory
        if not await directory.may_act_for(own, target, app_state.clock.now()):
            raise NotFound("no such citizen")
    connection.scope["state"][_CITIZEN] = target
    connection.scope["state"][_ON_BEHALF] = target != own


_CLIENT_REQUIREMENT = "client_requirement"


def requires_client(kind: CallerKind, scope: str | None = None) -> Guard:
    """A guard admitting clients of ``kind`` holding ``scope``."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        if principal.kind != kind:
            raise InsufficientScope(f"this route is for {kind} clients")
        if scope is not None and scope not in principal.scopes:
            raise InsufficientScope(f"the `{scope}` scope is required")

    guard.__name__ = f"requires_{kind}" + (f"_{scope.replace(':', '_')}" if scope else "")
    setattr(guard, _CLIENT_REQUIREMENT, (kind, scope))
    return guard


def client_requirement(guard: object) -> tuple[CallerKind, str | None] | None:
    """The client kind and scope a guard made by :func:`requires_client` admits (None for any
    other guard): the OpenAPI document names the scope an operation needs from it."""
    return getattr(guard, _CLIENT_REQUIREMENT, None)


requires_admin = requires_client("admin", "admin")


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal | None = request.scope["state"].get(_PRINCIPAL)
    if principal is None:
        raise MissingToken("a bearer token is required")
    return principal


def provide_citizen_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    """The citizen a citizen route acts on (after ``requires_citizen_access``)."""
    return request.scope["state"][_CITIZEN]


def acting_on_behalf(request: Request[Any, Any, Any]) -> bool:
    return bool(request.scope["state"].get(_ON_BEHALF))
