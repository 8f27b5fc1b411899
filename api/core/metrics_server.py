"""A small HTTP/1.1 server for a process that serves no API: ``/metrics`` and ``/health/live``.

``healthbook worker`` runs it (WORKER_METRICS_HOST, WORKER_METRICS_PORT) so Prometheus can scrape
the relay's counters and an orchestrator can probe the relay's liveness over HTTP. The HTTP
parsing is h11's; this module only routes. One request per connection (``Connection: close``),
a request head of at most :data:`MAX_REQUEST_BYTES`, read within :data:`READ_TIMEOUT_SECONDS`;
GET and HEAD only (405 otherwise), 404 for any other path. ``/metrics`` follows the API's rule:
with a token (METRICS_TOKEN), only for ``Authorization: Bearer <token>`` (401 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable

import h11

logger = logging.getLogger("healthbook.metrics_server")

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0
_READ_CHUNK = 4096

Exposition = Callable[[], tuple[bytes, str]]
Liveness = Callable[[], bool]


def authorized(token: str | None, authorization: str | None) -> bool:
    """Whether ``authorization`` (an ``Authorization`` header) carries ``token`` as a bearer
    credential; always when there is no token."""
    if token is None:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


class MetricsServer:
    """Serves ``exposition()`` at ``/metrics`` and ``alive()`` at ``/health/live``."""

    def __init__(
        self,
        *,
        exposition: Exposition,
        alive: Liveness,
        token: str | None,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self._exposition = exposition
        self._alive = alive
        self._token = token
        self._read_timeout = read_timeout
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); answers the port bound."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        logger.info("metrics and liveness served", extra={"host": host, "port": bound})
        return int(bound)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        try:
            try:
                request = await asyncio.wait_for(
                    self._read_request(connection, reader), self._read_timeout
                )
            except (TimeoutError, h11.RemoteProtocolError):
                request = None
            if request is None:
                if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    writer.write(self._answer(connection, 400, b"bad request\n", "text/plain"))
            else:
                writer.write(self._respond(connection, request))
            await writer.drain()
        except (ConnectionError, h11.LocalProtocolError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(
        connection: h11.Connection, reader: asyncio.StreamReader
    ) -> h11.Request | None:
        received = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ_CHUNK)
                received += len(data)
                if received > MAX_REQUEST_BYTES:
                    return None  # a request head this large is not a scrape
                connection.receive_data(data)  # b"": the peer closed; h11 says what that means
                continue
            if isinstance(event, h11.Request):
                return event
            return None  # the peer closed, or anything but a request head

    def _respond(self, connection: h11.Connection, request: h11.Request) -> bytes:
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace").split("?", 1)[0]
        head = method == "HEAD"
        if path not in ("/metrics", "/health/live"):
            return self._answer(connection, 404, b"not found\n", "text/plain", head=head)
        if method not in ("GET", "HEAD"):
            return self._answer(
                connection,
                405,
                b"method not allowed\n",
                "text/plain",
                head=head,
                extra=[("Allow", "GET, HEAD")],
            )
        if path == "/health/live":
            if self._alive():
                return self._answer(
                    connection, 200, b'{"status":"ok"}', "application/json", head=head
                )
            return self._answer(
                connection, 503, b'{"status":"stale"}', "application/json", head=head
            )
        authorization = next(
            (
                value.decode("latin-1")
                for name, value in request.headers
                if name == b"authorization"
            ),
            None,
        )
        if not authorized(self._token, authorization):
            return self._answer(
                connection,
                401,
                b"metrics need the scraper's bearer token\n",
                "text/plain",
                head=head,
                extra=[("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
        body, content_type = self._exposition()
        return self._answer(connection, 200, body, content_type, head=head)

    @staticmethod
    def _answer(
        connection: h11.Connection,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool = False,
        extra: list[tuple[str, str]] | None = None,
    ) -> bytes:
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            ("Cache-Control", "no-store"),
            *(extra or ()),
        ]
        out = connection.send(h11.Response(status_code=status, headers=headers)) or b""
        if not head:
            out += connection.send(h11.Data(data=body)) or b""
        out += connection.send(h11.EndOfMessage()) or b""
        return out
