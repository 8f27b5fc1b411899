"""The boards' live queue feeds: one server-sent event stream per open board.

The first event is the queue's current status; then one ``status`` event per message on the
queue's Redis channel (:func:`api.checkin.status_publisher.channel`) that differs from the last
status the stream sent, and a keep-alive comment after ``keepalive_seconds`` of silence. (A
change committed just before a board subscribed may be published just after: the board read that
state already, and gets no second copy of it.)

Each stream holds one Redis pub/sub subscription. It subscribes (and waits for Redis to confirm)
before reading the status from the database, so a change cannot fall between the read and the
subscription. A stream ends, and its subscription is released, when the client goes away, when
Redis breaks (the browser then reconnects and reads the status afresh), and when the process
stops: at application shutdown, and already on SIGTERM/SIGINT, because a server such as granian
waits for open responses to finish before it runs the shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import msgspec
from litestar.response.sse import ServerSentEventMessage
from redis.exceptions import RedisError

from api.checkin.status_publisher import StatusReader, channel
from api.core.errors import ServiceUnavailable
from api.core.redis import RedisClient

logger = logging.getLogger("healthbook.checkin.pages")

RETRY_MILLISECONDS = 3000
"""The reconnection delay each stream asks the browser to use."""

_KEEPALIVE = ServerSentEventMessage(comment="keep-alive", data=None)
_encoder = msgspec.json.Encoder()


class _Feed:
    """One board's stream: its pub/sub subscription and the events it yields."""

    def __init__(self, feeds: QueueFeeds, pubsub: Any, first: bytes) -> None:
        self.feeds = feeds
        self.pubsub = pubsub
        self.first = first
        self.last = first
        self.closed = False
        self._read: asyncio.Future[Any] | None = None
        self._stopping: asyncio.Future[Any] | None = None

    async def events(self) -> AsyncIterator[ServerSentEventMessage]:
        try:
            yield ServerSentEventMessage(event="status", data=self.first, retry=RETRY_MILLISECONDS)
            self._stopping = stopping = asyncio.ensure_future(self.feeds.stopping.wait())
            while True:
                read = self._read
                if read is None:
                    read = self._read = asyncio.ensure_future(
                        self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    )
                done, _ = await asyncio.wait(
                    {read, stopping},
                    timeout=self.feeds.keepalive_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stopping in done:
                    return
                if not done:
                    yield _KEEPALIVE
                    continue
                self._read = None
                if read.cancelled() or read.exception() is not None:
                    # the subscription broke: end the stream; the browser reconnects and reads
                    # the status afresh
                    reason = "cancelled" if read.cancelled() else type(read.exception()).__name__
                    logger.warning("queue feed lost its subscription: %s", reason)
                    return
                message = read.result()
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    data = data if isinstance(data, bytes) else str(data).encode()
                    if data == self.last:
                        continue  # the state this board shows already
                    self.last = data
                    yield ServerSentEventMessage(event="status", data=data.decode())
        finally:
            await self.close()

    async def close(self) -> None:
        """Release the subscription (idempotent; safe inside a cancelled task)."""
        if self.closed:
            return
        self.closed = True
        self.feeds.forget(self)
        with anyio.CancelScope(shield=True):
            waiting = [task for task in (self._read, self._stopping) if task is not None]
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            await _release(self.pubsub)


async def _release(pubsub: Any) -> None:
    """Unsubscribe and close a pub/sub connection, within a few seconds whatever happens.

    Redis forgets a closed connection's subscriptions by itself; the embedded fakeredis only on
    UNSUBSCRIBE, once its answer is read.
    """
    with anyio.CancelScope(shield=True), anyio.move_on_after(3):
        try:
            connection = pubsub.connection
            if connection is not None and connection.is_connected:
                await pubsub.unsubscribe()
                while True:
                    message = await pubsub.get_message(timeout=1)
                    if message is None or message.get("type") == "unsubscribe":
                        break
        except Exception as exc:  # a broken connection: closing it is all that is left
            logger.debug("unsubscribing a queue feed failed: %s", type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


MAX_STREAMS = 2000
"""Live boards one process serves at once (a 503 past them: another replica takes the retry)."""


class QueueFeeds:
    """The live queue streams of this process (one per open board)."""

    def __init__(
        self,
        redis: RedisClient,
        read: StatusReader,
        *,
        keepalive_seconds: float = 15.0,
        max_streams: int = MAX_STREAMS,
        subscribe_timeout: float = 5.0,
    ) -> None:
        self.redis = redis
        self.read = read
        self.keepalive_seconds = keepalive_seconds
        self.max_streams = max_streams
        self.subscribe_timeout = subscribe_timeout
        self.stopping = asyncio.Event()
        self._feeds: set[_Feed] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def open_streams(self) -> int:
        return len(self._feeds)

    def forget(self, feed: _Feed) -> None:
        self._feeds.discard(feed)
        if not self._feeds:
            self._idle.set()

    async def _subscribe(self, pubsub: Any, name: str) -> None:
        await pubsub.subscribe(name)
        while True:  # Redis confirms the subscription before any message of the channel
            message = await pubsub.get_message(timeout=self.subscribe_timeout)
            if message is not None and message.get("type") == "subscribe":
                return

    async def open(self, facility_id: str, department: str) -> _Feed:
        """Subscribe to the queue's channel, then read its status (404 for an unknown queue)."""
        if self.stopping.is_set():
            raise ServiceUnavailable("the service is restarting", headers={"Retry-After": "5"})
        if len(self._feeds) >= self.max_streams:
            raise ServiceUnavailable(
                "too many live boards on this instance", headers={"Retry-After": "30"}
            )
        pubsub = self.redis.pubsub()
        try:
            try:
                await asyncio.wait_for(
                    self._subscribe(pubsub, channel(facility_id, department)),
                    self.subscribe_timeout,
                )
            except (RedisError, OSError, TimeoutError) as exc:
                raise ServiceUnavailable(
                    "live queue updates are unavailable right now", headers={"Retry-After": "5"}
                ) from exc
            status = await self.read(facility_id, department)
        except BaseException:
            await _release(pubsub)
            raise
        feed = _Feed(self, pubsub, _encoder.encode(status))
        self._feeds.add(feed)
        self._idle.clear()
        return feed

    def stop(self) -> None:
        """Ask every stream to end (they finish their current event first)."""
        self.stopping.set()

    async def aclose(self, grace: float = 2.0) -> None:
        self.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        for feed in list(self._feeds):  # streams whose response never started
            await feed.close()


def stop_on_signals(feeds: QueueFeeds) -> Callable[[], None]:
    """End the streams as soon as the server is told to stop; returns the undo.

    Granian (like other servers) waits for open responses before it shuts the application down,
    so an open board would hold a stop up to the kill timeout. The handler installed here runs
    before the server's own: it is chained to it, and only installed where the server already
    handles the signal (never where the default action would be replaced).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: dict[int, tuple[Any, Any]] = {}

    def chain(previous: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def handler(signum: int, frame: Any) -> Any:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(feeds.stop)
            return previous(signum, frame)

        return handler

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if callable(previous):
            handler = chain(previous)
            signal.signal(signum, handler)
            installed[signum] = (previous, handler)

    def undo() -> None:
        for signum, (previous, handler) in installed.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, previous)

    return undo
