"""Opening the database the way every process does: the API, the worker, the CLI and the pull.

:func:`open_engine` loads the whole model registry (every domain's tables, :mod:`api.db.models`)
before it builds the engine, so a process that starts anywhere — ``healthbook audit verify``,
``healthbook sync``, a worker — sees the same mapped schema as the API: foreign keys resolve,
and a statement never meets a table another domain owns that this process did not import.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.core.db import create_engine, create_sessionmaker
from api.core.settings import Settings


def load_models() -> MetaData:
    """Import every domain's models; answers the complete metadata."""
    from api.db.models import Base

    return Base.metadata


def open_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """The engine for ``settings``, with the full model registry loaded first."""
    load_models()
    return create_engine(settings, url=url)


def open_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """The sessions every process uses on ``engine``: the access log chains the rows they
    write (the hook is bound to these sessions, not to every session of the process).
    ``info``: what each session carries (the runtime's caches)."""
    from api.health_book import access_log

    sessionmaker = create_sessionmaker(engine, info=info)
    access_log.bind(sessionmaker)
    return sessionmaker
