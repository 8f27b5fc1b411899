"""Building a :class:`PullService`: in the API or worker lifespan, or on its own for the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from api.core.cache import Invalidations
from api.core.clock import SystemClock
from api.core.db import create_sessionmaker
from api.core.pagination import Cursors
from api.core.redis import create_redis
from api.core.security import SigningKeys, load_or_create_secret
from api.core.settings import Settings
from api.db.engine import open_engine
from api.health_book.book import BookReader
from api.health_book.ingest import IngestConfig
from api.health_book.pull.http import FhirHttp
from api.health_book.pull.service import PullService


def pull_ingest_config(settings: Settings, identifier_key: str) -> IngestConfig:
    """The ingestion's settings, with room for a pull as large as ``PULL_MAX_BYTES``."""
    return IngestConfig(
        identifier_key=identifier_key,
        national_id_systems=tuple(settings.national_id_systems),
        insurance_card_systems=tuple(settings.insurance_card_systems),
        max_bytes=max(settings.fhir_max_body_bytes, settings.pull_max_bytes),
        max_depth=settings.fhir_max_depth,
    )


def pull_service_from_state(state: Any) -> PullService:
    """A PullService on an app's (or worker's) state, once ``build_identity`` has run: it uses
    ``settings``, ``sessionmaker``, ``http`` (``follow_redirects=False``), ``signing_keys``,
    ``identifier_key``, ``clock`` and, when there, ``book`` (the overview is rebuilt after each
    stored pull). Build it once per process: it caches access tokens."""
    settings: Settings = state.settings
    return PullService(
        sessionmaker=state.sessionmaker,
        http=FhirHttp(state.http, state.signing_keys, settings),
        settings=settings,
        ingest_config=pull_ingest_config(settings, state.identifier_key),
        clock=state.clock,
        book=getattr(state, "book", None),
    )


@asynccontextmanager
async def standalone_pull_service(settings: Settings) -> AsyncIterator[PullService]:
    """A PullService with its own engine, Redis, keys and HTTP client (``healthbook sync``).

    It rebuilds the overviews it changes in Redis and publishes the invalidation, so API
    processes on the same Redis serve them at once; with the embedded in-process Redis, which
    no other process reaches, a running API sees the book's version change in the database
    and rebuilds the overview at its next read (api/health_book/book.py)."""
    if settings.migrate_on_start:
        from api.db.migrate import upgrade

        await upgrade(settings.effective_database_url)
    embedded = not settings.production
    identifier_key = settings.identifier_hash_key or load_or_create_secret(
        Path(settings.data_dir) / "identifier_hash_key", create=embedded
    )
    keys = SigningKeys(
        settings.effective_signing_keys_dir,
        verify_keep=dt.timedelta(days=settings.signing_key_verify_keep_days),
        generate_if_missing=embedded,
    )
    engine = open_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    redis = create_redis(settings)
    invalidations = Invalidations(redis)
    book = BookReader(
        redis,
        sessionmaker,
        Cursors(identifier_key),
        invalidations,
        check_version=settings.embedded_redis,
    )
    http = httpx.AsyncClient(follow_redirects=False, headers={"user-agent": "healthbook-sync"})
    try:
        yield PullService(
            sessionmaker=sessionmaker,
            http=FhirHttp(http, keys, settings),
            settings=settings,
            ingest_config=pull_ingest_config(settings, identifier_key),
            clock=SystemClock(),
            book=book,
        )
    finally:
        await http.aclose()
        await redis.aclose()
        await engine.dispose()
