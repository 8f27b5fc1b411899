"""The application factory: plugins, routers, lifespan; nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import httpx
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from api.appointments.places import register_cache as register_appointment_cache
from api.appointments.records import Limits as AppointmentLimits
from api.appointments.routes import APPOINTMENT_ROUTES
from api.checkin.pages_routes import CHECKIN_PAGE_ROUTES, live_queue_feeds
from api.checkin.places import register_cache as register_checkin_cache
from api.checkin.routes import CHECKIN_ROUTES
from api.checkin.setup import build_checkin, stop_checkin
from api.core.background import BackgroundTasks
from api.core.cache import Invalidations
from api.core.clock import Clock, SystemClock
from api.core.db import create_sessionmaker, ping
from api.core.deps import provide_db_session, provide_redis
from api.core.dialect import dialect_of
from api.core.guards import rate_limit_caller
from api.core.inputs import StrictRequest, refuse_nul
from api.core.observability import Metrics, RequestContextMiddleware, configure_logging
from api.core.openapi import document_shared_answers, openapi_config
from api.core.pagination import Cursors
from api.core.problem_handlers import EXCEPTION_HANDLERS
from api.core.ratelimit import RateLimiter, RateLimitMiddleware
from api.core.redis import create_redis
from api.core.settings import Settings
from api.db.engine import open_engine
from api.db.migrate import upgrade
from api.facilities.routes import FACILITY_ROUTES
from api.facilities.service import register_cache as register_facility_cache
from api.health_book.book import BookReader
from api.health_book.pull import pull_service_from_state
from api.health_book.routes import HEALTH_BOOK_ROUTES
from api.identity.citizens import guardians_of
from api.identity.demo_idp import demo_routes, register_demo_provider
from api.identity.deps import IDENTITY_DEPENDENCIES
from api.identity.routes import IDENTITY_ROUTES
from api.identity.setup import build_identity
from api.operations.routes import OperationsController
from notifications.routes import NOTIFICATION_ROUTES
from notifications.setup import build_notifications, start_embedded_relay, stop_notifications

logger = logging.getLogger("healthbook.app")


def _version() -> str:
    try:
        return version("healthbook")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    """Build the API for ``settings`` (from the environment when not given).

    Clients (database engine, Redis, HTTP) are created in the lifespan, on ``app.state``.
    ``clock`` lets tests move time.
    """
    settings = settings or Settings.from_env()
    settings.check()
    configure_logging(settings.log_level)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        url = settings.effective_database_url
        if settings.migrate_on_start:
            await upgrade(url)
        engine = open_engine(settings)
        redis = create_redis(settings)
        state.engine = engine
        state.sessionmaker = create_sessionmaker(engine)
        state.redis = redis
        state.rate_limiter = RateLimiter.from_settings(settings, redis, state.clock)
        state.readiness_probes = {
            "database": lambda: ping(engine),
            "redis": redis.ping,
        }
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(5.0, connect=3.0),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            headers={"user-agent": f"healthbook/{_version()}"},
        )
        state.http = http
        state.invalidations = Invalidations(redis)
        register_facility_cache(state.invalidations)
        register_appointment_cache(state.invalidations)
        register_checkin_cache(state.invalidations)
        state.appointment_limits = AppointmentLimits.from_settings(settings)
        build_identity(state, settings, redis, http)
        state.cursors = Cursors(state.identifier_key)
        state.book = BookReader(
            redis,
            state.sessionmaker,
            state.cursors,
            state.invalidations,
            check_version=settings.embedded_redis,
        )
        state.background = BackgroundTasks()
        state.pull = pull_service_from_state(state)

        def pull_at_first_login(number: str) -> None:
            # the number lives only in this task's memory; it is never stored or logged
            state.background.start("pull-at-first-login", state.pull.sync_national_id(number))

        state.identity.on_first_login = pull_at_first_login
        build_notifications(state, settings, guardians=guardians_of)
        build_checkin(state, settings)
        await state.invalidations.start()
        if settings.demo:
            await register_demo_provider(settings, state.sessionmaker)
        logger.info(
            "started",
            extra={
                "database": dialect_of(engine).name,
                "redis": "embedded"
                if settings.embedded_redis
                else ("cluster" if settings.redis_cluster else "server"),
                "production": settings.production,
            },
        )
        start_embedded_relay(state, settings)
        try:
            yield
        finally:
            await stop_checkin(state)
            await stop_notifications(state)
            await state.background.stop()
            await state.invalidations.stop()
            await http.aclose()
            await redis.aclose()
            await engine.dispose()

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
        openapi_config=openapi_config(_version()),
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
