"""The engine's pool on each backend: fixed at DATABASE_POOL_SIZE; a checkout waits
DATABASE_TIMEOUT_SECONDS on PostgreSQL, six times that on the embedded SQLite, whose one file
takes one writer at a time (a burst of a hundred requests queues there instead of failing)."""

from __future__ import annotations

from pathlib import Path

from api.core.db import SQLITE_POOL_WAIT_FACTOR, CountingQueuePool, create_engine
from api.core.settings import Settings


async def test_sqlite_waits_longer_for_a_connection_than_a_server(tmp_path: Path) -> None:
    settings = Settings.from_flat(data_dir=str(tmp_path), database_timeout_seconds=5)
    embedded = create_engine(settings)
    server = create_engine(
        settings, url="postgresql+asyncpg://healthbook@127.0.0.1:5432/never-connected"
    )
    try:
        for engine in (embedded, server):
            pool = engine.sync_engine.pool
            assert isinstance(pool, CountingQueuePool)
            assert pool.size() == settings.database.pool_size
        assert SQLITE_POOL_WAIT_FACTOR == 6
        assert embedded.sync_engine.pool.timeout() == 30
        assert server.sync_engine.pool.timeout() == 5
    finally:
        await embedded.dispose()
        await server.dispose()
