"""Opening the database the way every process does: the API, the worker, the CLI and the pull.

:func:`open_engine` loads the whole model registry (every domain's tables, :mod:`api.db.models`)
before it builds the engine, so a process that starts anywhere — ``healthbook audit verify``,
``healthbook sync``, a worker — sees the same mapped schema as the API: foreign keys resolve,
and a statement never meets a table another domain owns that this process did not import.
"""

from __future__ import annotations

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


def open_database(settings: Settings) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """An engine (see :func:`open_engine`) and its session factory."""
    engine = open_engine(settings)
    return engine, create_sessionmaker(engine)
