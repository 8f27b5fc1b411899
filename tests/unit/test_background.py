"""Stopping background tasks: a task that swallows one cancellation still ends."""

from __future__ import annotations

import asyncio

from api.core.background import BackgroundTasks, cancel_and_wait


async def _swallows_first_cancel(log: list[str]) -> None:
    """Behaves like a client read whose timeout took the cancellation for its own expiry."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        log.append("swallowed")
    await asyncio.sleep(3600)


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    log: list[str] = []
    task = asyncio.create_task(_swallows_first_cancel(log))
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, every=0.01), timeout=5)
    assert task.cancelled()
    assert log == ["swallowed"]


async def test_background_tasks_stop_ends_stubborn_tasks() -> None:
    log: list[str] = []
    tasks = BackgroundTasks()
    assert tasks.start("stubborn", _swallows_first_cancel(log))
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.stop(), timeout=5)
    assert log == ["swallowed"]
