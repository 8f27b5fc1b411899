"""OpenAPI 3.1 document and helpers to document error responses on each route."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag

from api.core.errors import (
    INTERNAL,
    PROBLEM_MEDIA_TYPE,
    VALIDATION,
    Problem,
    ProblemType,
)


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


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Sổ Sức Khỏe API",
        version=version,
        description=(
            "Personal electronic health book: citizens read their records and book "
            "appointments, hospitals publish FHIR R4 summaries and slots, kiosks check patients "
            "in. Errors are RFC 9457 problem details (`application/problem+json`); the meaning "
            "of each `type` is served at `/problems`."
        ),
        path="/schema",
        render_plugins=[
            ScalarRenderPlugin(path="/"),
            SwaggerRenderPlugin(path="/swagger"),
        ],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="Our access token, from POST /auth/token",
                )
            }
        ),
        tags=[
            Tag(name="operations", description="Health checks, metrics, problem types"),
        ],
        use_handler_docstrings=True,
    )
