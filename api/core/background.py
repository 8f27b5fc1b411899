"""Background tasks a request starts but must not wait for (kept referenced, cancelled at stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("healthbook.background")


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
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
