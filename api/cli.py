"""``healthbook``: serve, migrate (and the commands later parts add)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from api.core.observability import configure_logging
from api.core.settings import Settings, SettingsError

logger = logging.getLogger("healthbook.cli")


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings.from_env()
        if overrides:
            settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})
            settings.check()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)
    return settings


@click.group()
def main() -> None:
    """Sổ Sức Khỏe: the personal health book service."""


@main.command()
@click.option("--host", default=None, help="Address to bind (HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (WORKERS, default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP API under granian."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = _settings(host=host, port=port, workers=workers)
    if settings.migrate_on_start:
        # Once here, before any worker starts, so workers never race on the schema.
        from api.db.migrate import upgrade_sync

        upgrade_sync(settings.effective_database_url)
    # Workers read their settings from the environment: hand the CLI overrides down.
    os.environ["HOST"] = settings.host
    os.environ["PORT"] = str(settings.port)
    os.environ["WORKERS"] = str(settings.workers)
    os.environ["AUTO_MIGRATE"] = "false"
    server = Granian(
        "api.app:create_app_from_env",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_access=False,
        log_dictconfig={"version": 1, "disable_existing_loggers": False},
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )
    server.serve()


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--downgrade", "down", is_flag=True, help="Downgrade to --revision instead.")
def migrate(revision: str, down: bool) -> None:
    """Apply (or revert) database migrations on DATABASE_URL."""
    from api.db.migrate import downgrade_sync, upgrade_sync

    settings = _settings()
    url = settings.effective_database_url
    if down:
        if revision == "head":
            raise click.UsageError("--downgrade needs an explicit --revision (or 'base')")
        downgrade_sync(url, revision)
    else:
        upgrade_sync(url, revision)
    click.echo(f"database at {revision}")


@main.command("check-config")
def check_config() -> None:
    """Validate the environment's settings and print them (secrets hidden)."""
    settings = _settings()
    secret_fields = {"identifier_hash_key"}
    for name in settings.__struct_fields__:
        value = getattr(settings, name)
        if name in secret_fields and value:
            value = "***"
        click.echo(f"{name.upper()}={'' if value is None else value}")


def run_async(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
