"""Running ``healthbook`` commands as separate processes, as an operator does, against the
database and Redis of a test's settings."""

from __future__ import annotations

import asyncio
import os
import pty
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


def run_cli_on_terminal(
    settings: Settings, *args: str, timeout: float = 120, **extra: str
) -> tuple[int, str, str]:
    """:func:`run_cli` with stderr on a pseudo-terminal, as an operator at a shell sees it:
    (exit code, stdout, what the terminal showed)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [HEALTHBOOK, *args],
            env=cli_env(settings, TERM="xterm", COLUMNS="100", **extra),
            cwd=Path(settings.data_dir).parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
    finally:
        os.close(terminal)
    shown = bytearray()
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the process closed the terminal (EIO)
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=timeout)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout.decode(), shown.decode(errors="replace")
