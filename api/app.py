"""The application factory: plugins, routers, lifespan; nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from api.appointments.routes import APPOINTMENT_ROUTES
from api.checkin.pages_routes import CHECKIN_PAGE_ROUTES, live_queue_feeds
from api.checkin.routes import CHECKIN_ROUTES
from api.core.clock import Clock, SystemClock
from api.core.deps import provide_db_session, provide_redis
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
from api.identity.demo_idp import demo_routes, register_demo_provider
from api.identity.deps import IDENTITY_DEPENDENCIES
from api.identity.routes import IDENTITY_ROUTES
from api.operations.routes import OperationsController
from api.providers import PROVIDERS
from api.runtime import Runtime, package_version
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
    "read_log",
    "pull",
    "identity",
    "appointment_limits",
    "checkin",
    "notifications",
    "push_sender",
    "relay_wakeup",
    "relay",
)
"""The runtime's parts the handlers read from the application's state."""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    """Build the API for ``settings`` (from the environment when not given).

    The lifespan builds the process's parts through the composition root (:class:`Runtime`,
    on ``app.state.runtime``) and stops them.
    ``clock`` lets tests move time.
    """
    settings = settings or Settings.from_env()
    settings.check()
    configure_logging(settings.log_level)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        if settings.migrate_on_start:
            await upgrade(settings.effective_database_url)
        runtime = Runtime(settings, clock=state.clock, metrics=metrics)
        state.runtime = runtime
        try:
            for name in STATE_PARTS:  # built now, in this order; handlers find them on state
                state[name] = getattr(runtime, name)
            await runtime.start_api()
            if settings.demo:
                await register_demo_provider(settings, runtime.sessionmaker)
            logger.info(
                "started",
                extra={
                    "database": dialect_of(runtime.engine).name,
                    "redis": "embedded"
                    if settings.embedded_redis
                    else ("cluster" if settings.redis_cluster else "server"),
                    "production": settings.production,
                },
            )
            yield
        finally:
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
        ],
        dependencies={
            **PROVIDERS,
            "db_session": Provide(provide_db_session),
            "redis": Provide(provide_redis, sync_to_thread=False),
            **IDENTITY_DEPENDENCIES,
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                RateLimitMiddleware,
                caller_of=rate_limit_caller,
                trusted_proxy_hops=settings.trusted_proxy_hops,
            )
        ]
        if settings.rate_limit_enabled
        else [],
        lifespan=[lifespan, live_queue_feeds],  # the second ends first
        openapi_config=openapi_config(package_version()),
        request_max_body_size=settings.max_request_body_bytes,
        request_class=StrictRequest,
        before_request=refuse_nul,
        state=None,
        debug=False,
        logging_config=None,
    )
    document_shared_answers(app, rate_limits=settings.rate_limit_enabled)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.clock = clock or SystemClock()
    # Outermost: sees every request, including unknown routes answered by the router itself.
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler, metrics=metrics, access_log=settings.access_log
    )
    return app


def create_app_from_env() -> Litestar:
    """Factory for granian (``--factory``): settings from the environment."""
    return create_app(Settings.from_env())
