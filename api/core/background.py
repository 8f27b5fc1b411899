"""Background tasks a request starts but must not wait for (kept referenced, cancelled at stop)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("healthbook.background")


async def cancel_and_wait(task: asyncio.Task[Any], *, every: float = 0.5) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again every ``every`` seconds.

    One ``cancel()`` is not always enough: on Python 3.11 a cancellation that arrives as an
    ``asyncio.timeout`` inside the task expires can be taken for the timeout and swallowed (the
    Redis client's blocking reads use such timeouts), and the task then waits on, forever.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("task ended with %s", type(task.exception()).__name__)


class BackgroundTasks:
    def __init__(self, limit: int = 100) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.limit = limit

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> bool:
        """Run ``coroutine`` detached; refused (and closed) when ``limit`` tasks already run."""
        if len(self._tasks) >= self.limit:
            coroutine.close()
            logger.warning("background task refused: too many running", extra={"task": name})
            return False
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "background task failed",
                extra={"task": task.get_name(), "error": type(task.exception()).__name__},
            )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            await cancel_and_wait(task)
