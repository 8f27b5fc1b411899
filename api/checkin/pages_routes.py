"""The kiosk and queue-board pages, their static assets, and the live queue feed.

- ``GET /kiosk`` and ``GET /board/{facility_id}/{department}``: static HTML pages (Vietnamese,
  with an English switch) under a strict Content-Security-Policy: scripts and styles only from
  ``/static/checkin/``, no inline code, no other origin.
- ``GET /static/checkin/{name}``: the pages' scripts and stylesheet, read once from
  ``api/checkin/pages/`` and answered with an ETag (``304`` when unchanged).
- ``GET /facilities/{facility_id}/queues/{department}/events``: the board's server-sent events.
  The first event is the queue's current status; then one ``status`` event per message on the
  queue's Redis channel (:func:`api.checkin.live.channel`), and a keep-alive comment after
  ``keepalive_seconds`` of silence.

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
import hashlib
import logging
import re
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import msgspec
from litestar import Litestar, Request, Response, get
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.status_codes import HTTP_304_NOT_MODIFIED
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.checkin.live import channel
from api.checkin.service import queue_status
from api.core.clock import Clock
from api.core.errors import NOT_FOUND, UNAVAILABLE, NotFound, ServiceUnavailable
from api.core.openapi import problem_responses
from api.core.redis import create_subscriber_redis

logger = logging.getLogger("healthbook.checkin.pages")

PAGES_DIR = Path(__file__).resolve().parent / "pages"
STATIC_PREFIX = "/static/checkin"

_FILE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}\.(html|js|css|svg|png)$")
_MEDIA_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
    "svg": "image/svg+xml",
    "png": "image/png",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; media-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The kiosk may use its own camera to read QR codes; the board uses nothing.
_KIOSK_PERMISSIONS = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"
_BOARD_PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

RETRY_MILLISECONDS = 3000
"""The reconnection delay each stream asks the browser to use."""


# -- static files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _assets() -> dict[str, Asset]:
    """Every servable file of ``pages/`` (bare names, no folders), read once per process."""
    assets: dict[str, Asset] = {}
    if not PAGES_DIR.is_dir():  # installed without its pages: every page answers 404
        return assets
    for path in PAGES_DIR.iterdir():
        match = _FILE_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[path.name] = Asset(body=body, media_type=_MEDIA_TYPES[match.group(1)], etag=etag)
    return assets


def load_asset(name: str) -> Asset | None:
    return _assets().get(name)


def _answer(asset: Asset, if_none_match: str | None, headers: dict[str, str]) -> Response[bytes]:
    all_headers = {**_COMMON_HEADERS, **headers, "ETag": asset.etag}
    if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=all_headers)
    return Response(asset.body, media_type=asset.media_type, headers=all_headers)


def _page(name: str, request: Request[Any, Any, Any], permissions: str) -> Response[bytes]:
    asset = load_asset(name)
    if asset is None:  # the package was installed without its pages
        raise NotFound("this page is not installed")
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Permissions-Policy": permissions,
    }
    return _answer(asset, request.headers.get("if-none-match"), headers)


# -- live feed -------------------------------------------------------------------------------------

_KEEPALIVE = ServerSentEventMessage(comment="keep-alive", data=None)
_encoder = msgspec.json.Encoder()


class _Feed:
    """One board's stream: its pub/sub subscription and the events it yields."""

    def __init__(self, feeds: QueueFeeds, pubsub: Any, first: bytes) -> None:
        self.feeds = feeds
        self.pubsub = pubsub
        self.first = first
        self.closed = False
        self._read: asyncio.Future[Any] | None = None
        self._stopping: asyncio.Future[Any] | None = None

    async def events(self) -> AsyncIterator[ServerSentEventMessage]:
        try:
            yield ServerSentEventMessage(event="status", data=self.first, retry=RETRY_MILLISECONDS)
            self._stopping = stopping = asyncio.ensure_future(self.feeds.stopping.wait())
            while True:
                if self._read is None:
                    self._read = asyncio.ensure_future(
                        self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    )
                read = self._read
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
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    yield ServerSentEventMessage(event="status", data=text)
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
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        keepalive_seconds: float = 15.0,
        max_streams: int = MAX_STREAMS,
        subscribe_timeout: float = 5.0,
    ) -> None:
        self.redis = redis
        self.sessionmaker = sessionmaker
        self.clock = clock
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
            async with self.sessionmaker() as session:
                status = await queue_status(session, facility_id, department, self.clock.now())
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


def _stop_on_signals(feeds: QueueFeeds) -> Callable[[], None]:
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


@asynccontextmanager
async def live_queue_feeds(app: Litestar) -> AsyncIterator[None]:
    """Lifespan part (after the main one, which builds Redis and the database)."""
    state = app.state
    # each open board holds a Redis connection: they get a client of their own, one connection
    # per stream allowed (and a few for the ones closing), never the requests' pool
    subscriber = create_subscriber_redis(state.settings, state.redis, MAX_STREAMS + 16)
    feeds = QueueFeeds(subscriber, state.sessionmaker, state.clock, max_streams=MAX_STREAMS)
    state.queue_feeds = feeds
    undo = _stop_on_signals(feeds)
    try:
        yield
    finally:
        undo()
        await feeds.aclose()
        await subscriber.aclose()


# -- routes ----------------------------------------------------------------------------------------


@get(
    "/kiosk",
    operation_id="GetKioskPage",
    opt={"rate_limit": "exempt"},  # served from memory, like the probes
    summary="The self check-in kiosk page (HTML)",
    description=(
        "A page for a kiosk at a facility: staff enter the kiosk client's credentials once; "
        "patients scan their appointment QR code and get a queue ticket to print."
    ),
    tags=["pages"],
    media_type="text/html",
    responses=problem_responses(NOT_FOUND),
)
async def kiosk_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _page("kiosk.html", request, _KIOSK_PERMISSIONS)


@get(
    "/board/{facility_id:str}/{department:str}",
    operation_id="GetQueueBoardPage",
    opt={"rate_limit": "exempt"},  # served from memory, like the probes
    summary="A department's queue board for a waiting-room screen (HTML)",
    description="Now serving, the last calls, how many wait; updated live.",
    tags=["pages"],
    media_type="text/html",
    responses=problem_responses(NOT_FOUND),
)
async def board_page(
    facility_id: FromPath[str], department: FromPath[str], request: Request[Any, Any, Any]
) -> Response[bytes]:
    # One page for every queue: its script reads the queue from the address.
    return _page("board.html", request, _BOARD_PERMISSIONS)


@get(
    f"{STATIC_PREFIX}/{{name:str}}",
    operation_id="GetCheckInPageAsset",
    opt={"rate_limit": "exempt"},  # served from memory, like the probes
    summary="A script or stylesheet of the kiosk and board pages",
    description="`text/javascript` or `text/css`, with an `ETag` (`If-None-Match` answers 304).",
    media_type="text/javascript",
    tags=["pages"],
    responses=problem_responses(NOT_FOUND),
)
async def page_asset(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    asset = load_asset(name) if not name.endswith(".html") else None
    if asset is None:
        raise NotFound("no such file")
    return _answer(asset, request.headers.get("if-none-match"), {})


@get(
    "/facilities/{facility_id:str}/queues/{department:str}/events",
    operation_id="StreamQueueStatus",
    summary="A department's queue status, live (server-sent events)",
    description=(
        "`text/event-stream`. The first event is the current status; then one `status` event "
        "(data: the QueueStatus JSON, as `GET /facilities/{facility_id}/queues/{department}` "
        "answers) after each change of the queue: a ticket issued, a call, a recall, a skip. "
        "A comment line keeps the connection open during quiet spells. Reconnect after the "
        "`retry` delay when the stream ends; the first event brings the board up to date."
    ),
    tags=["queues"],
    media_type="text/event-stream",
    responses=problem_responses(NOT_FOUND, UNAVAILABLE),
)
async def queue_events(
    facility_id: FromPath[str], department: FromPath[str], state: State
) -> ServerSentEvent:
    feeds: QueueFeeds = state.queue_feeds
    feed = await feeds.open(facility_id, department)
    # The cleanup task covers a response that ends before its first event was sent.
    return ServerSentEvent(feed.events(), background=BackgroundTask(feed.close))


CHECKIN_PAGE_ROUTES = [kiosk_page, board_page, page_asset, queue_events]
