"""The worker's heartbeat: a small file saying when its relay last went round its loop.

``healthbook worker`` rewrites it every few seconds with :attr:`Relay.last_cycle`; ``healthbook
worker-alive`` (a container's liveness check) reads it. Both a blocked event loop (nothing
rewrites the file) and a relay lane stuck in one step (the time in it stops moving) make it go
stale, which restarts a process that would otherwise sit there alive and useless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger("healthbook.worker")


def write(path: Path, at: float) -> None:
    """Replace the file atomically (a reader never sees half a number)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{at:.3f}\n")
    os.replace(temporary, path)


def read(path: Path) -> float | None:
    """The time in the file, or None when there is no file or it does not hold a time."""
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the relay last went round its loop, per the file (None: no heartbeat)."""
    at = read(path)
    if at is None:
        return None
    return max(0.0, (time.time() if now is None else now) - at)


async def beat(path: Path, last_cycle: Callable[[], float], every: float) -> None:
    """Write ``last_cycle()`` to ``path`` every ``every`` seconds until cancelled; the file is
    removed when it stops (a stopped worker has no heartbeat)."""
    failing = False
    try:
        while True:
            try:
                await asyncio.to_thread(write, path, last_cycle())
            except OSError as exc:  # a full or read-only disk: say so once, keep trying
                if not failing:
                    logger.error("cannot write the worker heartbeat %s: %s", path, exc)
                failing = True
            else:
                if failing:
                    logger.info("worker heartbeat written again to %s", path)
                failing = False
            await asyncio.sleep(every)
    finally:
        remove(path)
