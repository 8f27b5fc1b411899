"""OpenAPI 3.1 document and helpers to document error responses, examples and raw bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    Components,
    Contact,
    Example,
    License,
    OAuthFlow,
    OAuthFlows,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
    Tag,
)
from litestar.routes import HTTPRoute

from api.core.api_docs import OfflineSwaggerUI, documentation_router
from api.core.errors import (
    INTERNAL,
    PAYLOAD_TOO_LARGE,
    PROBLEM_MEDIA_TYPE,
    VALIDATION,
    Problem,
    ProblemType,
)
from api.core.guards import client_requirement
from api.core.ratelimit import EXEMPT, RATE_LIMITED, classify

if TYPE_CHECKING:
    from litestar import Litestar

TAGS = {
    "operations": "Health checks, metrics, problem types",
    "auth": "Tokens: citizens exchange an identity provider's ID token, clients sign assertions",
    "citizens": "The citizen's profile and the dependents they act for",
    "health book": "The citizen's health book: overview, entries, visits, charts, export, "
    "and who read it",
    "appointments": "Slots to book, and the citizen's appointments",
    "check-in": "Check-in codes (QR) for appointments, kiosk check-in, walk-in tickets",
    "queues": "Queue status of a department, live for boards and phones",
    "notifications": "Devices for push, the in-app inbox, notification preferences",
    "facilities": "Facilities and their departments (public)",
    "sharing": "SMART Health Links of the book: the citizen shares and revokes; recipients "
    "open the manifest and its encrypted files without an account",
    "home measurements": "Readings the citizen takes at home (blood pressure, glucose, weight...), "
    "entered or imported from a companion app; in the book marked patient-reported",
    "health-cards": "SMART Health Cards of the book (signed, verifiable offline): the citizen "
    "issues and revokes; anyone verifies a card and reads the revocation lists",
    "hospital: health records": "Hospitals publish FHIR R4 summaries (errors are FHIR "
    "OperationOutcome resources)",
    "hospital: appointments": "Hospitals publish slots and manage the day's appointments",
    "hospital: questionnaires": "Hospitals publish intake questionnaires (FHIR R4 Questionnaire) "
    "and read patients' answers (QuestionnaireResponse); errors are FHIR OperationOutcome",
    "hospital: queues": "Hospitals see arrivals and call patients",
    "administration": "Operators: facilities, clients, identity providers, guardianships",
    "pages": "Kiosk and queue board pages, and their assets",
    "demo identity provider": "Stands in for the national identity provider in demo mode only",
}


def problem_responses(*problems: ProblemType) -> dict[int, ResponseSpec]:
    """Document the problem+json answers a route gives besides the default 400/500."""
    responses: dict[int, ResponseSpec] = {}
    for problem in (*problems, VALIDATION, INTERNAL):
        if problem.status in responses:
            continue
        responses[problem.status] = ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=f"{problem.title} ({problem.uri})",
            generate_examples=False,
        )
    return responses


def answers(status: int, container: Any, description: str) -> dict[int, ResponseSpec]:
    """Document a second success status a handler answers with (``201`` when a PUT creates)."""
    return {
        status: ResponseSpec(
            data_container=container, description=description, generate_examples=False
        )
    }


def examples(**named: Any) -> list[Example]:
    """Request examples by name, for ``Body(examples=...)`` / ``Parameter(examples=...)``.

    Litestar writes them as the JSON Schema ``examples`` of the body or parameter schema; the
    OpenAPI test checks every one validates against that schema.
    """
    return [Example(summary=name.replace("_", " "), value=value) for name, value in named.items()]


def inline_schema(type_: Any) -> Schema:
    """The JSON Schema of a msgspec type with every ``$ref`` expanded in place (for bodies a
    handler reads itself, which Litestar cannot see)."""
    generated = msgspec.json.schema(type_)
    definitions: dict[str, Any] = generated.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return expand(definitions[reference.removeprefix("#/$defs/")])
            return {key: expand(value) for key, value in node.items()}
        if isinstance(node, list):
            return [expand(value) for value in node]
        return node

    return Schema(**_schema_fields(expand(generated)))


def _schema_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema keywords as :class:`Schema` fields (camelCase -> snake_case, nested)."""
    renamed = {
        "maxLength": "max_length",
        "minLength": "min_length",
        "maxItems": "max_items",
        "minItems": "min_items",
        "additionalProperties": "additional_properties",
        "anyOf": "any_of",
        "oneOf": "one_of",
        "allOf": "all_of",
        "exclusiveMinimum": "exclusive_minimum",
        "exclusiveMaximum": "exclusive_maximum",
    }
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = renamed.get(key, key)
        if name == "properties":
            value = {prop: Schema(**_schema_fields(sub)) for prop, sub in value.items()}
        elif name == "items" or (name == "additional_properties" and isinstance(value, dict)):
            value = Schema(**_schema_fields(value))
        elif name in ("any_of", "one_of", "all_of"):
            value = [Schema(**_schema_fields(sub)) for sub in value]
        fields[name] = value
    return fields


def raw_body(description: str, content: dict[str, tuple[Schema, list[Any]]]) -> RequestBody:
    """The request body of a handler that reads ``RawBody`` or the request stream itself (which
    Litestar cannot see): ``content`` maps each media type to its schema and examples."""
    return RequestBody(
        description=description,
        required=True,
        content={
            media_type: OpenAPIMediaType(
                schema=schema,
                examples={
                    f"example-{index}": Example(value=value)
                    for index, value in enumerate(values, 1)
                },
            )
            for media_type, (schema, values) in content.items()
        },
    )


def fhir_resource(resource_type: str, description: str) -> Schema:
    """A FHIR R4 resource of one type, as documented for answers (its elements are FHIR's)."""
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["resourceType"],
        properties={"resourceType": Schema(const=resource_type)},
        description=description,
    )


def documented(
    *,
    body: RequestBody | None = None,
    optional_body: bool = False,
    also: dict[int, dict[str, Schema]] | None = None,
) -> type[Operation]:
    """An ``operation_class`` adding what Litestar cannot infer from a handler's signature.

    ``body``: the request body of a handler that reads it itself. ``optional_body``: the JSON body
    may be left out (Litestar marks every body required). ``also``: more media types a status
    answers with, by status (``{200: {"application/fhir+json": schema}}`` for ``?format=fhir``).
    """

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            if body is not None:
                self.request_body = body
            if optional_body and isinstance(self.request_body, RequestBody):
                self.request_body.required = False
            for status, content in (also or {}).items():
                response = (self.responses or {}).get(str(status))
                if not isinstance(response, OpenAPIResponse):
                    raise ValueError(f"{self.operation_id}: no {status} answer to add media to")
                response.content = {
                    **(response.content or {}),
                    **{media: OpenAPIMediaType(schema=schema) for media, schema in content.items()},
                }

    return DocumentedOperation


BEARER = "BearerToken"
CLIENT_CREDENTIALS = "ClientCredentials"
METRICS_TOKEN = "MetricsToken"

TOKEN_URL = "/auth/token"

BEARER_DESCRIPTION = f"""\
An access token (a JWT, minutes long) from `POST {TOKEN_URL}` (form-encoded), sent as
`Authorization: Bearer <token>`.

- **Citizens** (the app): token exchange (RFC 8693). Sign in at the national identity provider,
  then send its ID token: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
  `subject_token=<ID token>`, `subject_token_type=urn:ietf:params:oauth:token-type:id_token`.
  The answer holds an access token (scope `citizen`) and a refresh token: rotate it with
  `grant_type=refresh_token&refresh_token=<token>`; `POST /auth/logout` ends the session.
- **Hospitals, kiosks and operators**: the client credentials grant, see `{CLIENT_CREDENTIALS}`.
"""

CLIENT_CREDENTIALS_DESCRIPTION = f"""\
Registered clients (hospital systems, kiosks, operators' tools) use the OAuth 2.0 client
credentials grant at `POST {TOKEN_URL}`, authenticating with a JWT signed by their own key
(RFC 7523 `private_key_jwt`; there are no client secrets): `grant_type=client_credentials`,
`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
`client_assertion=<JWT with iss = sub = the client id, aud = the token URL, a fresh jti and exp>`,
and optionally `scope` (space separated; by default every scope the client holds). An operator
registers the client and its public keys (`POST /admin/clients`). The access token is then sent
as `Authorization: Bearer <token>`.
"""

HEADERS: dict[str, OpenAPIHeader] = {
    "X-Request-ID": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description="The request's id: the caller's own `X-Request-ID` when well formed, "
        "otherwise one the service made. Logs carry it; quote it when reporting a problem.",
    ),
    "RateLimit-Policy": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description='The rate limit this operation counts against (IETF draft "RateLimit '
        'header fields for HTTP"): `"<class>";q=<requests>;w=<window seconds>`. Sent while '
        "rate limits are on and the limiter could be asked.",
    ),
    "RateLimit": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description='What is left of it: `"<class>";r=<remaining>;t=<seconds until a request '
        "leaves the window>`.",
    ),
    "Retry-After": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
        description="Seconds to wait before sending the request again.",
    ),
    "Location": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description="The path of what was created (for a PUT, the request's own path; for a "
        "queue ticket, the queue it joined).",
    ),
    "ETag": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description="The version of the representation: send it back in `If-None-Match` to get "
        "`304 Not Modified` while it has not changed.",
    ),
    "Idempotent-Replayed": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, enum=["true"]),
        description="`true` when this is the stored answer to an earlier request with the same "
        "`Idempotency-Key` (nothing was done again).",
    ),
}
"""Response headers, documented once under ``components.headers`` and referenced by the
responses that carry them."""

ETAG_OPERATIONS = frozenset(
    {
        "GetHealthBookOverview",
        "GetKioskPage",
        "GetQueueBoardPage",
        "GetCheckInPageAsset",
        "GetLinkViewerPage",
        "GetLinkViewerAsset",
    }
)
"""Operations whose 200 (and 304) answers carry an ``ETag``."""

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _response_headers(
    operation_id: str, status: str, description: str, *, rate_limited: bool, idempotent: bool
) -> list[str]:
    """The headers (of :data:`HEADERS`) an answer of an operation carries. A 503 says when to
    retry, unless it only means a setting is missing (a ``…-not-configured`` problem)."""
    names = ["X-Request-ID"]
    if rate_limited:
        names += ["RateLimit-Policy", "RateLimit"]
    transient = status == "503" and "not-configured" not in description
    if status == "429" or transient or (idempotent and status == "409"):
        names.append("Retry-After")
    if status == "201":
        names.append("Location")
    if operation_id in ETAG_OPERATIONS and status in ("200", "304"):
        names.append("ETag")
    if idempotent and (status[0] == "2" or status in ("409", "422")):
        names.append("Idempotent-Replayed")
    return names


def _finishing(
    base: type[Operation],
    *,
    security: list[dict[str, list[str]]] | None,
    rate_limited: bool,
    examples: Mapping[str, Mapping[int, Any]],
) -> type[Operation]:
    """``base`` (a handler's operation class) also setting the operation's security, the
    headers of its answers and the examples of its main answers."""

    @dataclass
    class FinishedOperation(base):
        def __post_init__(self) -> None:
            parent = getattr(super(), "__post_init__", None)
            if parent is not None:
                parent()
            if security is not None:
                self.security = security
            idempotent = any(
                str(getattr(parameter, "name", "")).lower() == IDEMPOTENCY_HEADER.lower()
                for parameter in self.parameters or ()
            )
            for status, response in (self.responses or {}).items():
                if not isinstance(response, OpenAPIResponse):
                    continue
                names = _response_headers(
                    self.operation_id or "",
                    status,
                    response.description or "",
                    rate_limited=rate_limited,
                    idempotent=idempotent,
                )
                response.headers = {
                    **(response.headers or {}),
                    **{name: Reference(ref=f"#/components/headers/{name}") for name in names},
                }
                example = examples.get(self.operation_id or "", {}).get(int(status))
                if example is not None:
                    for media in (response.content or {}).values():
                        media.examples = {"example": Example(value=example)}

    return FinishedOperation


def _security(handler: Any, path: str) -> list[dict[str, list[str]]] | None:
    """The security requirement of an operation: the client scope its guard asks for, the
    citizen's bearer token (declared on the route), the scraper's token for ``/metrics``, or
    none at all (``[]``: a public operation). None keeps what the route declared."""
    scopes: list[str] = []
    for guard in handler.resolve_guards():
        requirement = client_requirement(guard)
        if requirement is not None:
            scopes += [requirement[1]] if requirement[1] else []
            return [{CLIENT_CREDENTIALS: scopes}]
    if handler.resolve_security():
        return None
    if path == "/metrics":
        return [{METRICS_TOKEN: []}, {}]
    return []


def document_shared_answers(
    app: Litestar,
    *,
    rate_limits: bool,
    examples: Mapping[str, Mapping[int, Any]] | None = None,
) -> None:
    """Document what routes share without declaring it one by one.

    - 413 on every operation that takes a body (each body has a size limit: the route's, or
      ``MAX_REQUEST_BODY_BYTES``);
    - 429 on every operation the rate limiter counts, when rate limits are on;
    - the security requirement: the client scope of a ``requires_client`` guard
      (``ClientCredentials``), the citizen's ``BearerToken`` the route declares, or ``[]`` for
      public operations;
    - the response headers of :data:`HEADERS` on the answers that carry them;
    - ``examples``: answers by operation id and status, shown in their media types.

    A route whose errors are not problem details (the FHIR endpoints) gets them in the media type
    and schema of its other errors, as its exception handlers answer them.
    """
    client_scopes: dict[str, set[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if not handler.resolve_include_in_schema():
                continue
            added: dict[int, ProblemType] = {}
            parameters = handler.parsed_fn_signature.parameters
            if "data" in parameters or "body" in parameters:
                added[413] = PAYLOAD_TOO_LARGE
            override = handler.opt.get("rate_limit")
            limited = override != EXEMPT and (
                override is not None or classify(method, route.path) is not None
            )
            if rate_limits and limited:
                added[429] = RATE_LIMITED
            responses = dict(handler.responses or {})
            like = next(
                (spec for status, spec in sorted(responses.items()) if 400 <= status < 500),
                None,
            )
            if like is not None and like.media_type != PROBLEM_MEDIA_TYPE:
                container, media_type = like.data_container, like.media_type
            else:
                container, media_type = Problem, PROBLEM_MEDIA_TYPE
            for status, problem in added.items():
                responses.setdefault(
                    status,
                    ResponseSpec(
                        data_container=container,
                        media_type=media_type,
                        description=f"{problem.title} ({problem.uri})",
                        generate_examples=False,
                    ),
                )
            handler.responses = responses
            for guard in handler.resolve_guards():
                requirement = client_requirement(guard)
                if requirement is not None and requirement[1] is not None:
                    client_scopes.setdefault(requirement[1], set()).add(requirement[0])
            handler.operation_class = _finishing(
                handler.operation_class,
                security=_security(handler, route.path),
                rate_limited=rate_limits and limited,
                examples=examples or {},
            )
    _declare_client_scopes(app, client_scopes)


def _declare_client_scopes(app: Litestar, scopes: dict[str, set[str]]) -> None:
    """List in the ``ClientCredentials`` flow every scope a route asks for, and who holds it."""
    config = app.openapi_config
    components = config.components if config is not None else None
    if not isinstance(components, Components) or not components.security_schemes:
        return
    scheme = components.security_schemes.get(CLIENT_CREDENTIALS)
    if not isinstance(scheme, SecurityScheme) or scheme.flows is None:
        return
    flow = scheme.flows.client_credentials
    if flow is not None:
        flow.scopes = {
            scope: f"{' and '.join(sorted(kinds))} clients"
            for scope, kinds in sorted(scopes.items())
        }


DOCS_PATH = "/schema"


def openapi_config(version: str, issuer: str) -> OpenAPIConfig:
    """The OpenAPI document's settings and its documentation pages (built per app). ``issuer``:
    the public base URL (OAuth requires an absolute token URL)."""
    return OpenAPIConfig(
        title="Sổ Sức Khỏe API",
        version=version,
        contact=Contact(name="Sổ Sức Khỏe operators"),
        license=License(name="Apache-2.0", identifier="Apache-2.0"),
        description=(
            "Personal electronic health book: citizens read their records and book "
            "appointments, hospitals publish FHIR R4 summaries and slots, kiosks check patients "
            "in. Errors are RFC 9457 problem details (`application/problem+json`); the meaning "
            "of each `type` is served at `/problems`."
        ),
        # served by the service itself, nothing from another origin (see api/core/api_docs.py);
        # /schema/swagger, where Swagger UI used to be, shows the same page
        openapi_router=documentation_router(DOCS_PATH),
        render_plugins=[OfflineSwaggerUI(docs_path=DOCS_PATH, path=["/", "/swagger"])],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description=BEARER_DESCRIPTION,
                ),
                CLIENT_CREDENTIALS: SecurityScheme(
                    type="oauth2",
                    description=CLIENT_CREDENTIALS_DESCRIPTION,
                    flows=OAuthFlows(
                        client_credentials=OAuthFlow(token_url=issuer + TOKEN_URL, scopes={})
                    ),
                ),
                METRICS_TOKEN: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="The scraper's token (`METRICS_TOKEN`), when one is set; "
                    "without one `/metrics` is open (keep it off the public network).",
                ),
            },
            headers=dict(HEADERS),
        ),
        tags=[Tag(name=name, description=description) for name, description in TAGS.items()],
        use_handler_docstrings=True,
    )
