"""The application factory: plugins, routers, lifespan; nothing else."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.middleware import DefineMiddleware

from api.appointments.routes import APPOINTMENT_ROUTES
from api.checkin.routes import CHECKIN_PAGE_ROUTES, CHECKIN_ROUTES, live_queue_feeds
from api.core.clock import Clock, SystemClock
from api.core.dialect import dialect_of
from api.core.guards import rate_limit_caller
from api.core.inputs import StrictRequest, refuse_nul
from api.core.observability import Metrics, RequestContextMiddleware, configure_logging
from api.core.openapi import document_shared_answers, openapi_config
from api.core.problem_handlers import EXCEPTION_HANDLERS
from api.core.ratelimit import RateLimitMiddleware
from api.core.settings import Settings
from api.db.migrate import upgrade
from api.facilities.routes import FACILITY_ROUTES
from api.health_book.routes import HEALTH_BOOK_ROUTES
from api.health_cards.routes import HEALTH_CARD_ROUTES
from api.identity.deps import IDENTITY_DEPENDENCIES
from api.identity.routes import IDENTITY_ROUTES, demo_routes
from api.insurance.routes import INSURANCE_ROUTES
from api.measurements.routes import MEASUREMENT_ROUTES
from api.openapi_examples import ANSWER_EXAMPLES
from api.operations.routes import OperationsController
from api.providers import Providers
from api.questionnaires.routes import QUESTIONNAIRE_ROUTES
from api.runtime import Runtime, package_version
from api.sharing.routes import SHARING_ROUTES
from notifications.routes import NOTIFICATION_ROUTES

logger = logging.getLogger("healthbook.app")


STATE_PARTS = (
    "engine",
    "sessionmaker",
    "uow",
    "redis",
    "http",
    "invalidated_caches",
    "invalidations",
    "background",
    "readiness_probes",
    "operations",
    "rate_limiter",
    "identifier_key",
    "signing_keys",
    "access_tokens",
    "jwks",
    "directory",
    "demo_idp",
    "cursors",
    "facilities",
    "book",
    "summaries",
    "pull",
    "identity",
    "appointment_limits",
    "checkin",
    "notifications",
    "push_sender",
    "relay_wakeup",
    "relay",
)
"""The runtime's parts put on the application's state, for what runs before dependency injection
(guards, the rate-limit middleware, exception handlers) and for tests; handlers receive typed
services through ``api.providers`` instead."""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    """Build the API for ``settings`` (from the environment when not given).

    The lifespan builds the process's parts through the composition root (:class:`Runtime`,
    on ``app.state.runtime``) and stops them.
    ``clock`` lets tests move time.
    """
    settings = settings or Settings.from_env()
    settings.check()
    configure_logging(settings.observability.log_level)
    metrics = Metrics()

    providers = Providers()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        if settings.migrate_on_start:
            await upgrade(settings.effective_database_url)
        runtime = Runtime(settings, clock=state.clock, metrics=metrics)
        state.runtime = runtime
        providers.bind(runtime)
        try:
            for name in STATE_PARTS:  # built now, in this order; handlers find them on state
                state[name] = getattr(runtime, name)
            await runtime.start_api()
            logger.info(
                "started",
                extra={
                    "database": dialect_of(runtime.engine).name,
                    "redis": "embedded"
                    if settings.redis.embedded
                    else ("cluster" if settings.redis.cluster else "server"),
                    "production": settings.production,
                },
            )
            yield
        finally:
            providers.bind(None)
            await runtime.stop()

    app = Litestar(
        route_handlers=[
            OperationsController,
            *IDENTITY_ROUTES,
            *FACILITY_ROUTES,
            *HEALTH_BOOK_ROUTES,
            *demo_routes(settings),
            *NOTIFICATION_ROUTES,
            *APPOINTMENT_ROUTES,
            *CHECKIN_PAGE_ROUTES,
            *CHECKIN_ROUTES,
            *INSURANCE_ROUTES,
            *SHARING_ROUTES,
            *MEASUREMENT_ROUTES,
            *HEALTH_CARD_ROUTES,
            *QUESTIONNAIRE_ROUTES,
        ],
        dependencies={
            **providers.dependencies(),
            **IDENTITY_DEPENDENCIES,
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                RateLimitMiddleware,
                caller_of=rate_limit_caller,
                trusted_proxy_hops=settings.http.trusted_proxy_hops,
            )
        ]
        if settings.rate_limits.enabled
        else [],
        lifespan=[lifespan, live_queue_feeds],  # the second ends first
        openapi_config=openapi_config(package_version(), settings.issuer),
        request_max_body_size=settings.http.max_request_body_bytes,
        request_class=StrictRequest,
        before_request=refuse_nul,
        state=None,
        debug=False,
        logging_config=None,
    )
    document_shared_answers(app, rate_limits=settings.rate_limits.enabled, examples=ANSWER_EXAMPLES)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.clock = clock or SystemClock()
    # Outermost: sees every request, including unknown routes answered by the router itself.
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler, metrics=metrics, access_log=settings.observability.access_log
    )
    return app


def create_app_from_env() -> Litestar:
    """Factory for granian (``--factory``): settings from the environment. The served process
    freezes what start-up built once the lifespan has started (see :func:`_freeze_startup`)."""
    app = create_app(Settings.from_env())
    app.on_startup.append(_freeze_startup)
    return app


def _freeze_startup() -> None:
    """What start-up loaded (modules, the app, the runtime's engines and clients) lives as long
    as the process: keep it out of the collector's scans, as the relay worker does. Without it
    each full collection walks the whole heap; measured on the insurance XML episodes (many
    short-lived containers per request) it was about a seventh of the CPU per request. Only the
    served process does this (tests build many apps in one process)."""
    gc.collect()
    gc.freeze()
