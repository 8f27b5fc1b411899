"""Kiosk/board page tests: facility ``01001`` with department ``NOI`` and its hospital client,
citizens who walk in, and a reader of server-sent events that talks ASGI to the app directly
(httpx's ASGI transport waits for the whole body, which an event stream never ends)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from tests.support.auth import bearer
from tests.support.hospital import Hospital

FACILITY = "01001"
DEPARTMENT = "NOI"
EVENTS_PATH = f"/facilities/{FACILITY}/queues/{DEPARTMENT}/events"


@dataclass
class Event:
    event: str | None
    data: str | None
    comment: str | None
    retry: int | None

    def json(self) -> Any:
        assert self.data is not None
        return msgspec.json.decode(self.data)


def parse_event(block: str) -> Event:
    event = data = comment = None
    retry = None
    for line in block.splitlines():
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            comment = value
        elif name == "event":
            event = value
        elif name == "data":
            data = value if data is None else f"{data}\n{value}"
        elif name == "retry":
            retry = int(value)
    return Event(event=event, data=data, comment=comment, retry=retry)


@dataclass
class EventStream:
    """One GET on the app, read as it streams."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    _buffer: str = ""

    async def next_event(self, timeout: float = 5.0) -> Event:
        while "\r\n\r\n" not in self._buffer:
            chunk = await asyncio.wait_for(self._chunks.get(), timeout)
            if chunk is None:
                raise EOFError("the stream ended")
            self._buffer += chunk.decode()
        block, self._buffer = self._buffer.split("\r\n\r\n", 1)
        return parse_event(block)

    async def next_status(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            event = await self.next_event(timeout)
            if event.event == "status":
                return event.json()

    async def ended(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.finished.wait(), timeout)


@contextlib.asynccontextmanager
async def event_stream(app: Litestar, path: str = EVENTS_PATH) -> AsyncIterator[EventStream]:
    """GET ``path`` on the running ``app``; leaving the block disconnects the client."""
    stream = EventStream()
    started = asyncio.Event()
    disconnect = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            started.set()
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            stream.body += body
            if body:
                stream._chunks.put_nowait(body)
            if not message.get("more_body", False):
                stream._chunks.put_nowait(None)
                stream.finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"accept", b"text/event-stream")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def run() -> None:
        try:
            await app(scope, receive, send)  # type: ignore[arg-type]
        finally:
            stream._chunks.put_nowait(None)
            stream.finished.set()

    task = asyncio.create_task(run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        yield stream
    finally:
        disconnect.set()
        try:
            await asyncio.wait_for(task, 10)
        except BaseException:
            task.cancel()
            raise


@dataclass
class Queue:
    http: httpx.AsyncClient
    app: Litestar
    hospital: Hospital
    admin_token: str
    citizen: Callable[..., Awaitable[dict[str, Any]]]

    async def walk_in(self, national_id: str) -> dict[str, Any]:
        """A citizen scans the department's printed code: their ticket."""
        token = (await self.citizen(national_id))["access_token"]
        code = self.app.state.runtime.checkin.codes.code(FACILITY, DEPARTMENT)
        response = await self.http.post(
            "/citizens/me/walk-ins", json={"code": code}, headers=bearer(token)
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def call_next(self) -> httpx.Response:
        response = await self.http.post(
            f"/hospital/queues/{DEPARTMENT}/call-next", json={}, headers=bearer(self.hospital.token)
        )
        assert response.status_code == 200, response.text
        return response

    async def status(self) -> dict[str, Any]:
        response = await self.http.get(f"/facilities/{FACILITY}/queues/{DEPARTMENT}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def queue(
    client: httpx.AsyncClient,
    app: Litestar,
    hospital: Hospital,
    admin_token: str,
    citizen: Callable[..., Awaitable[dict[str, Any]]],
) -> Queue:
    response = await client.put(
        f"/admin/facilities/{FACILITY}/departments/{DEPARTMENT}",
        json={"name": "Khoa Nội", "room": "P.101"},
        headers=bearer(admin_token),
    )
    assert response.status_code in (200, 201), response.text
    return Queue(client, app, hospital, admin_token, citizen)
