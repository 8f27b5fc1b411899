"""Database: the declarative base with a constraint naming convention, engines and sessions.

PostgreSQL through asyncpg when ``DATABASE_URL`` is set, otherwise a SQLite file through aiosqlite.
A session lives for one request (or one use case in a worker) and is never committed implicitly:
use cases commit explicitly, and whatever was not committed is rolled back when it closes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy import exc as sa_errors
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection

from api.core.dialect import dialect_of, request_locks
from api.core.encryption import attach_document_keys, document_keys
from api.core.settings import Settings

logger = logging.getLogger("healthbook.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect_of(dialect).naive_datetimes:
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def prepare_sqlite_path(url: str) -> None:
    """Create the folder of a SQLite file so a fresh machine can start."""
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if database and database != ":memory:":
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # Opening the file will fail and say so (readiness reports it); do not crash here.
            logger.error("cannot create the folder of the SQLite database: %s", exc)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


SQLITE_POOL_WAIT_FACTOR = 6
"""On SQLite a checkout waits up to this many times ``DATABASE_TIMEOUT_SECONDS``."""


class CountingQueuePool(AsyncAdaptedQueuePool):
    """The engine's pool, counting the checkouts that found no connection within the pool
    timeout (``healthbook_db_pool_timeouts_total``); the count survives ``dispose``."""

    timeouts: int = 0

    def connect(self) -> PoolProxiedConnection:
        try:
            return super().connect()
        except sa_errors.TimeoutError:
            self.timeouts += 1
            raise

    def recreate(self) -> CountingQueuePool:
        pool = super().recreate()
        assert isinstance(pool, CountingQueuePool)
        pool.timeouts = self.timeouts
        return pool


class DatabasePoolCollector:
    """The engine's pool as Prometheus sees it, read at scrape time (no I/O)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        pool = self.engine.sync_engine.pool
        if not isinstance(pool, CountingQueuePool):
            return
        connections = GaugeMetricFamily(
            "healthbook_db_pool_connections",
            "Pooled database connections by state (in_use: checked out; idle: in the pool).",
            labels=("state",),
        )
        connections.add_metric(("in_use",), pool.checkedout())
        connections.add_metric(("idle",), pool.checkedin())
        yield connections
        yield GaugeMetricFamily(
            "healthbook_db_pool_size",
            "Connections the pool keeps (DATABASE_POOL_SIZE).",
            value=pool.size(),
        )
        yield GaugeMetricFamily(
            "healthbook_db_pool_overflow_connections",
            "Connections open beyond the pool's size.",
            value=max(0, pool.overflow()),
        )
        yield CounterMetricFamily(
            "healthbook_db_pool_timeouts",
            "Checkouts that found no pooled connection within the pool timeout (a 503).",
            value=pool.timeouts,
        )


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """Build the async engine for the configured backend."""
    url = url or settings.effective_database_url
    if is_sqlite(url):
        prepare_sqlite_path(url)
        engine = create_async_engine(
            url,
            # a fixed pool, as on PostgreSQL (the pool gauges and timeouts mean the same); the
            # embedded file takes one writer at a time, so a burst queues for its connections
            # longer than a server's requests would (30 s with the default timeout, as before
            # the pool was fixed)
            poolclass=CountingQueuePool,
            pool_size=settings.database.pool_size,
            max_overflow=0,
            pool_timeout=settings.database.timeout_seconds * SQLITE_POOL_WAIT_FACTOR,
            connect_args={"timeout": settings.database.timeout_seconds * 2},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # health documents are encrypted at rest with these keys (api/core/encryption.py)
        attach_document_keys(engine, document_keys(settings))
        return engine
    timeout = settings.database.timeout_seconds
    engine = create_async_engine(
        url,
        # A fixed pool: overflow connections would be opened and closed under every burst, and
        # opening one costs milliseconds of CPU (TLS negotiation, authentication, type
        # introspection). No pre-ping round trip per checkout either: a connection found dead
        # fails its request fast (503) and is replaced; pool_recycle bounds connection age.
        poolclass=CountingQueuePool,
        pool_size=settings.database.pool_size,
        max_overflow=0,
        pool_timeout=timeout,
        pool_recycle=1800,
        connect_args={
            "timeout": timeout,
            "command_timeout": max(timeout, 30.0),
            "server_settings": {"application_name": "healthbook", "timezone": "UTC"},
        },
    )
    # health documents are encrypted at rest with these keys (api/core/encryption.py)
    attach_document_keys(engine, document_keys(settings))
    return engine


def create_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``, of a session class of their own: the hooks a process binds to its
    sessions (the access log's chaining, the relay wake-up) reach these sessions and no other
    ``Session`` in the process. ``info`` starts each session's ``info``."""
    session_class = type("AppSession", (Session,), {})
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=session_class,
        info={**(info or {}), **request_locks()},
    )


def session_class_of(sessionmaker: async_sessionmaker[AsyncSession]) -> type[Session]:
    """The (synchronous) session class whose events are the sessions of ``sessionmaker``."""
    session_class: type[Session] = sessionmaker.kw["sync_session_class"]
    return session_class


async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One session: rolled back on close unless the use case committed."""
    async with sessionmaker() as session:
        try:
            yield session
        finally:
            if session.in_transaction():
                await session.rollback()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
