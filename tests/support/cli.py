"""Running ``healthbook`` commands as separate processes, as an operator does, against the
database and Redis of a test's settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from api.core.settings import Settings
from tests.support.server import HEALTHBOOK


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """A clean environment naming the same database, Redis, keys and data folder as
    ``settings`` (nothing inherited from the test process but PATH and HOME)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": settings.effective_database_url,
        "REDIS_URL": settings.redis.url or "",
        "DATA_DIR": settings.data_dir,
        "SIGNING_KEYS_DIR": str(settings.effective_signing_keys_dir),
        "IDENTIFIER_HASH_KEY": settings.security.identifier_hash_key or "",
        "NATIONAL_ID_SYSTEMS": ",".join(settings.fhir.national_id_systems),
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
    }
    if settings.redis.cluster:
        env["REDIS_CLUSTER"] = "true"
    if settings.security.document_encryption_keys:
        env["DOCUMENT_ENCRYPTION_KEYS"] = ",".join(settings.security.document_encryption_keys)
    env.update(extra)
    return env


def run_cli(
    settings: Settings, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``healthbook ARGS`` in its own process, from a folder that is not the repository."""
    return subprocess.run(
        [HEALTHBOOK, *args],
        env=cli_env(settings, **extra),
        cwd=Path(settings.data_dir).parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def run_cli_async(
    settings: Settings, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` off the event loop, so an app served in this loop keeps answering."""
    return await asyncio.to_thread(run_cli, settings, *args, timeout=timeout, **extra)
