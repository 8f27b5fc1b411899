"""The OpenAPI document: complete, consistent with what the app serves, and valid OpenAPI 3.1.

Rules each operation keeps (and why they are checkable):

- an ``operationId`` (unique, ``PascalCase`` as the house style names them), a summary, and tags
  that the document declares with a description;
- its error answers documented: at least one 4xx, and every documented 4xx/5xx answer in the
  media type the app really uses (``application/problem+json`` with the ``Problem`` schema; the
  FHIR endpoints ``application/fhir+json`` with an ``OperationOutcome``). The two probes that
  cannot answer any client error are listed below with the reason;
- a request body shows at least one example for each media type it accepts (in the media type
  object, or as JSON Schema ``examples`` of the body's schema), and every example validates
  against that schema — so the examples in the docs are ones the API accepts, and schemathesis'
  example phase starts from real requests.

The routes in the document are exactly those the app serves, minus the ones listed in
``NOT_DOCUMENTED`` with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from litestar import Litestar
from litestar.routes import HTTPRoute

from api.app import create_app
from tests.conftest import base_settings

METHODS = ("get", "put", "post", "delete", "patch", "head")
PROBLEM = "application/problem+json"
FHIR = "application/fhir+json"

# Operations whose errors are FHIR OperationOutcome resources instead of problem details.
FHIR_ERROR_OPERATIONS = frozenset(
    {
        "PublishSummary",
        "ReadPublishedSummary",
        "MarkSummaryEnteredInError",
        # questionnaires: the hospital's, the operators' and the citizen's FHIR endpoints
        "PublishQuestionnaire",
        "SearchQuestionnaires",
        "ReadQuestionnaire",
        "ReadQuestionnaireVersion",
        "RetireQuestionnaire",
        "ReadQuestionnaireResponse",
        "SearchQuestionnaireResponses",
        "PublishQuestionnaireAdmin",
        "ReadQuestionnaireAdmin",
        "RetireQuestionnaireAdmin",
        "GetAppointmentQuestionnaire",
        "AnswerAppointmentQuestionnaire",
        "GetAppointmentQuestionnaireResponse",
    }
)

# Operations that cannot answer any client error: no parameters, no body, no authentication,
# never rate limited (the probes an orchestrator and Prometheus call).
NO_CLIENT_ERRORS = {
    "GetLiveness": "a precomputed 200 for any GET; failing is a 5xx or no answer",
}

# Handlers that read their body themselves (raw bytes): the document must still describe it.
RAW_BODY_OPERATIONS = {
    "PublishSummary": {FHIR},
    "PublishSlots": {"application/json", FHIR},
    "PublishQuestionnaire": {FHIR},
    "PublishQuestionnaireAdmin": {FHIR},
    "AnswerAppointmentQuestionnaire": {FHIR},
}

# (method, path) the app serves that the document leaves out on purpose.
NOT_DOCUMENTED = {
    ("GET", "/schema"): "the API reference page (Swagger UI) rendering this document",
    ("GET", "/schema/swagger"): "the same page, at the address Swagger UI had before",
    ("GET", "/schema/openapi.json"): "the document itself",
    ("GET", "/schema/{path}"): "Litestar's not-found page for other paths under /schema",
    (
        "GET",
        f"/schema/assets/swagger-ui-{version('swagger-ui-bundle-v2')}/{{file_name}}",
    ): "the reference page's script, stylesheet and icon, from the swagger-ui-bundle-v2 package",
}


@pytest.fixture(scope="module", params=["default", "demo"])
def built_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    """The app as configured by default and in demo mode (which mounts the demo identity
    provider); building the document needs no database, so no lifespan runs."""
    folder: Path = tmp_path_factory.mktemp(f"openapi-{request.param}")
    return create_app(base_settings(folder, demo=request.param == "demo"))


@pytest.fixture(scope="module")
def document(built_app: Litestar) -> dict[str, Any]:
    return built_app.openapi_schema.to_schema()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` (or the single ``allOf`` Litestar wraps a described $ref in)."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = document["components"]["schemas"][name]
        elif len(schema.get("allOf", ())) == 1 and "$ref" in schema["allOf"][0]:
            target = resolve(document, schema["allOf"][0])
            schema = {**target, **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A JSON Schema 2020-12 validator for ``schema`` that resolves ``#/components/...``."""
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root)


def test_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()


def test_every_operation_has_an_id_summary_and_declared_tags(document: dict[str, Any]) -> None:
    declared = {tag["name"]: tag.get("description") for tag in document.get("tags", [])}
    seen: dict[str, str] = {}
    problems: list[str] = []
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        operation_id = operation.get("operationId")
        if not operation_id or not re.fullmatch(r"[A-Z][A-Za-z0-9]+", operation_id):
            problems.append(f"{where}: operationId {operation_id!r} is not PascalCase")
        elif operation_id in seen:
            problems.append(f"{where}: operationId {operation_id} also on {seen[operation_id]}")
        else:
            seen[operation_id] = where
        if not (operation.get("summary") or "").strip():
            problems.append(f"{where}: no summary")
        tags = operation.get("tags") or []
        if not tags:
            problems.append(f"{where}: no tags")
        for tag in tags:
            if not declared.get(tag):
                problems.append(f"{where}: tag {tag!r} is not declared with a description")
    assert not problems, "\n".join(problems)


def test_every_operation_documents_its_errors(document: dict[str, Any]) -> None:
    problems: list[str] = []
    for method, path, operation in operations(document):
        where = f"{method} {path} ({operation['operationId']})"
        responses = operation.get("responses", {})
        errors = {code: spec for code, spec in responses.items() if code[0] in "45"}
        if not any(code.startswith("4") for code in errors):
            if operation["operationId"] not in NO_CLIENT_ERRORS:
                problems.append(f"{where}: no 4xx documented")
        elif operation["operationId"] in NO_CLIENT_ERRORS:
            problems.append(f"{where}: documents a 4xx yet is listed in NO_CLIENT_ERRORS")
        fhir = operation["operationId"] in FHIR_ERROR_OPERATIONS
        for code, spec in errors.items():
            content = spec.get("content") or {}
            expected = FHIR if fhir else PROBLEM
            if set(content) != {expected}:
                problems.append(f"{where}: {code} is {sorted(content)}, not {expected}")
                continue
            schema = resolve(document, content[expected]["schema"])
            if fhir:
                resource_type = schema.get("properties", {}).get("resourceType", {})
                if resource_type.get("const") != "OperationOutcome":
                    problems.append(f"{where}: {code} is not documented as an OperationOutcome")
            elif schema.get("title") != "Problem":
                problems.append(f"{where}: {code} is not documented with the Problem schema")
    assert not problems, "\n".join(problems)


def body_examples(document: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    if "example" in media:
        found.append(media["example"])
    found.extend(example["value"] for example in (media.get("examples") or {}).values())
    schema = media.get("schema") or {}
    found.extend(schema.get("examples") or ())
    if not found and schema:
        found.extend(resolve(document, schema).get("examples") or ())
    return found


def test_every_request_body_has_examples_that_validate(document: dict[str, Any]) -> None:
    problems: list[str] = []
    bodies = 0
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        for media_type, media in body["content"].items():
            bodies += 1
            where = f"{method} {path} {media_type}"
            examples = body_examples(document, media)
            if not examples:
                problems.append(f"{where}: no example")
                continue
            check = validator(document, media.get("schema") or {})
            for example in examples:
                error = jsonschema.exceptions.best_match(check.iter_errors(example))
                if error is not None:
                    problems.append(f"{where}: example does not validate: {error.message}")
    assert bodies > 10
    assert not problems, "\n".join(problems)


def test_bodies_read_by_hand_are_documented(document: dict[str, Any]) -> None:
    found = {
        operation["operationId"]: set(operation.get("requestBody", {}).get("content", {}))
        for _, _, operation in operations(document)
        if operation["operationId"] in RAW_BODY_OPERATIONS
    }
    assert found == RAW_BODY_OPERATIONS


def test_bodies_document_their_size_limit_and_limited_routes_their_429(
    built_app: Litestar, document: dict[str, Any]
) -> None:
    """Every body has a size limit (413); with rate limits on (the default), every operation the
    limiter counts can answer 429 (not the probes, nor handlers marked exempt)."""
    exempt = {
        handler.operation_id
        for route in built_app.routes
        if isinstance(route, HTTPRoute)
        for handler, _ in route.route_handler_map.values()
        if handler.opt.get("rate_limit") == "exempt"
    }
    probes = {"/health/live", "/health/ready", "/metrics"}
    for method, path, operation in operations(document):
        responses = operation["responses"]
        if "requestBody" in operation:
            assert "413" in responses, f"{method} {path}"
        limited = path not in probes and operation["operationId"] not in exempt
        assert ("429" in responses) is limited, f"{method} {path}"


def test_optional_bodies_are_not_required(document: dict[str, Any]) -> None:
    """A body whose schema admits ``null`` may be left out: the document must not require it."""
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        schemas = [media.get("schema") or {} for media in body["content"].values()]
        nullable = any(
            {"type": "null"} in (schema.get("oneOf") or schema.get("anyOf") or [])
            for schema in schemas
        )
        assert body.get("required", False) is not nullable, f"{method} {path}"


def served(app: Litestar) -> set[tuple[str, str]]:
    """(method, path template) of every handler the app routes to, as the document writes it."""
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"{route.path}: not an HTTP route; document or list it"
        template = re.sub(r"{(\w+):[^}]+}", r"{\1}", route.path)
        for method, (handler, _) in route.route_handler_map.items():
            # Litestar answers OPTIONS (CORS preflight) on every path by itself
            if method == "OPTIONS" and handler.handler_name == "options_handler":
                continue
            routes.add((method, template))
    return routes


def test_document_lists_exactly_the_routes_the_app_serves(
    built_app: Litestar, document: dict[str, Any]
) -> None:
    in_document = {(method, path) for method, path, _ in operations(document)}
    serving = served(built_app)
    assert NOT_DOCUMENTED.keys() <= serving, "NOT_DOCUMENTED lists routes that are not served"
    assert serving - NOT_DOCUMENTED.keys() - in_document == set(), "served, not documented"
    assert in_document - serving == set(), "documented, not served"
    assert in_document & NOT_DOCUMENTED.keys() == set()


async def test_served_document_is_the_app_document(client, app) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    served_document = response.json()
    assert served_document["paths"].keys() == app.openapi_schema.to_schema()["paths"].keys()
    assert served_document["info"]["title"] == "Sổ Sức Khỏe API"


def test_schema_names_are_distinct_and_carry_no_module_prefix(document: dict[str, Any]) -> None:
    """Litestar names a schema after its class and, when two classes share a name, prefixes both
    with their modules (``appointments_schemas_Department``): generated clients then drop answers.
    Every component name is a plain class name, and no two differ only by case."""
    names = list(document["components"]["schemas"])
    prefixed = [name for name in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)]
    assert prefixed == []
    lowered = [name.lower() for name in names]
    assert len(set(lowered)) == len(lowered)
    # the classes that once shared the names Department and Patient
    assert {"Department", "SlotDepartment", "ExpectedPatient", "CheckedInPatient"} <= set(names)


def test_every_operation_declares_its_security(document: dict[str, Any]) -> None:
    """Public operations say ``security: []``; the others name a declared scheme, clients' with
    a scope the client credentials flow lists and a kind of client holds."""
    from api.identity.registry import DEFAULT_CLIENT_SCOPES

    schemes = document["components"]["securitySchemes"]
    flow = schemes["ClientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"].endswith("/auth/token")
    held = set().union(*DEFAULT_CLIENT_SCOPES.values())
    assert set(flow["scopes"]) <= held
    assert {"summaries:write", "slots:write", "checkin:write", "admin"} <= set(flow["scopes"])
    assert "token-exchange" in schemes["BearerToken"]["description"]
    public = {"GetLiveness", "SearchFacilities", "GetShareManifest", "GetJwks", "IssueToken"}
    problems: list[str] = []
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        if "security" not in operation:
            problems.append(f"{where}: no security requirement")
            continue
        for requirement in operation["security"]:
            for scheme, scopes in requirement.items():
                if scheme not in schemes:
                    problems.append(f"{where}: undeclared scheme {scheme}")
                if scheme == "ClientCredentials" and not set(scopes) <= set(flow["scopes"]):
                    problems.append(f"{where}: scopes {scopes} not in the flow")
        if operation["operationId"] in public and operation["security"] != []:
            problems.append(f"{where}: public, yet security is {operation['security']}")
        if path.startswith(("/hospital/", "/kiosk/", "/admin/")) and not any(
            "ClientCredentials" in requirement for requirement in operation["security"]
        ):
            problems.append(f"{where}: a client's operation without its client scope")
        if path.startswith("/citizens/") and operation["security"] != [{"BearerToken": []}]:
            problems.append(f"{where}: a citizen's operation without the bearer token")
    assert not problems, "\n".join(problems)


def test_response_headers_are_documented(document: dict[str, Any]) -> None:
    headers = document["components"]["headers"]
    problems: list[str] = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            where = f"{method} {path} {status}"
            named = {
                ref["$ref"].removeprefix("#/components/headers/")
                for ref in (response.get("headers") or {}).values()
            }
            if not named <= headers.keys():
                problems.append(f"{where}: undeclared headers {named - headers.keys()}")
            wanted = {"X-Request-ID"}
            if status == "201":
                wanted.add("Location")
            if status == "429" or (
                status == "503" and "not-configured" not in response["description"]
            ):
                wanted.add("Retry-After")
            if status == "429":
                wanted |= {"RateLimit", "RateLimit-Policy"}
            if not wanted <= named:
                problems.append(f"{where}: lacks {sorted(wanted - named)}")
    assert not problems, "\n".join(problems)
    book = document["paths"]["/citizens/{citizen_id}/appointments"]["post"]["responses"]
    assert "Idempotent-Replayed" in book["201"]["headers"]
    assert "Retry-After" in book["409"]["headers"]
    overview = document["paths"]["/citizens/{citizen_id}/health-book"]["get"]["responses"]
    assert "ETag" in overview["200"]["headers"]


def test_bundle_types_are_those_the_parser_ingests(document: dict[str, Any]) -> None:
    from api.health_book.fhir.parse import ACCEPTED_BUNDLE_TYPES

    body = document["paths"]["/hospital/summaries"]["post"]["requestBody"]["content"]
    enum = body["application/fhir+json"]["schema"]["properties"]["type"]["enum"]
    assert sorted(enum) == sorted(ACCEPTED_BUNDLE_TYPES)


async def test_documented_headers_are_sent(client: httpx.AsyncClient) -> None:
    """What the document promises on a public answer is on the wire."""
    response = await client.get("/facilities")
    assert response.status_code == 200
    assert response.headers.get("x-request-id")
    page = await client.get("/viewer")
    assert page.headers.get("etag")


def test_main_answers_have_examples_that_validate(document: dict[str, Any]) -> None:
    from api.openapi_examples import ANSWER_EXAMPLES

    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    problems: list[str] = []
    for operation_id, statuses in ANSWER_EXAMPLES.items():
        for status in statuses:
            media = by_id[operation_id]["responses"][str(status)]["content"]["application/json"]
            found = [example["value"] for example in (media.get("examples") or {}).values()]
            if not found:
                problems.append(f"{operation_id} {status}: no example")
            for value in found:
                for error in validator(document, media["schema"]).iter_errors(value):
                    problems.append(f"{operation_id} {status}: {error.message}")
    assert not problems, "\n".join(problems)
    assert {"IssueToken", "SearchFacilities", "SearchSlots", "GetQueueStatus"} <= set(
        ANSWER_EXAMPLES
    )
