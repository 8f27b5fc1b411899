"""Migrations: upgrade, downgrade and upgrade again on both backends; models match them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from api.core.db import create_engine
from api.core.settings import Settings
from api.db.migrate import current_revision, downgrade, head_revision, upgrade
from api.db.models import Base


async def _tables(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _revision(settings: Settings) -> str | None:
    engine = create_engine(settings)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def _diff(settings: Settings) -> list[object]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(settings: Settings) -> None:
    url = settings.effective_database_url
    head = head_revision()
    assert head is not None
    assert await _revision(settings) == head  # the fixture's template is migrated
    model_tables = set(Base.metadata.tables)
    assert model_tables <= await _tables(settings)

    await downgrade(url, "base")
    assert await _revision(settings) is None
    assert (await _tables(settings)) - {"alembic_version"} == set()

    await upgrade(url)
    assert await _revision(settings) == head
    assert model_tables <= await _tables(settings)
    await upgrade(url)  # idempotent at head
    assert await _revision(settings) == head


async def test_models_and_migrations_agree(settings: Settings) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    assert await _diff(settings) == []
