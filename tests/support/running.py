"""Run an app's lifespan in a task of its own, so fixtures can start and stop it safely."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """Enter ``app.lifespan()`` in one task and leave it in the same task.

    Litestar's lifespan holds an anyio task group, which must be exited by the task that entered
    it; pytest-asyncio tears fixtures down from another task.
    """
    started = asyncio.Event()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        try:
            async with app.lifespan():
                started.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            raise

    task = asyncio.create_task(hold())
    await started.wait()
    if failure:
        await asyncio.gather(task, return_exceptions=True)
        raise failure[0]
    try:
        yield
    finally:
        stop.set()
        await task


@asynccontextmanager
async def app_client(
    app: Litestar, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http,
    ):
        yield http
