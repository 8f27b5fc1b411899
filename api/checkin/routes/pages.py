"""The kiosk and queue-board pages, their static assets, and the live queue feed.

- ``GET /kiosk`` and ``GET /board/{facility_id}/{department}``: static HTML pages under a strict
  Content-Security-Policy (:mod:`api.checkin.page_assets`).
- ``GET /static/checkin/{name}``: the pages' scripts and stylesheet, answered with an ETag
  (``304`` when unchanged).
- ``GET /facilities/{facility_id}/queues/{department}/events``: the board's server-sent events
  (:mod:`api.checkin.board_feeds`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import ServerSentEvent

from api.checkin.board_feeds import QueueFeeds, stop_on_signals
from api.checkin.page_assets import (
    BOARD_PERMISSIONS,
    CONTENT_SECURITY_POLICY,
    KIOSK_PERMISSIONS,
    STATIC_PREFIX,
    Asset,
    CheckInPages,
)
from api.core import page_assets
from api.core.errors import NOT_FOUND, UNAVAILABLE, NotFound
from api.core.openapi import problem_responses


def _page(
    asset: Asset | None, request: Request[Any, Any, Any], permissions: str
) -> Response[bytes]:
    if asset is None:  # the package was installed without its pages
        raise NotFound("this page is not installed")
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Permissions-Policy": permissions,
    }
    return page_assets.answer(asset, request.headers.get("if-none-match"), headers)


@asynccontextmanager
async def live_queue_feeds(app: Litestar) -> AsyncIterator[None]:
    """Lifespan part (after the main one, which starts the runtime): open boards end as soon as
    the server is told to stop, and before the runtime closes Redis."""
    feeds: QueueFeeds = app.state.runtime.queue_feeds
    undo = stop_on_signals(feeds)
    try:
        yield
    finally:
        undo()
        await feeds.aclose()


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
async def kiosk_page(
    request: Request[Any, Any, Any], checkin_pages: NamedDependency[CheckInPages]
) -> Response[bytes]:
    return _page(checkin_pages.asset("kiosk.html"), request, KIOSK_PERMISSIONS)


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
    facility_id: FromPath[str],
    department: FromPath[str],
    request: Request[Any, Any, Any],
    checkin_pages: NamedDependency[CheckInPages],
) -> Response[bytes]:
    # One page for every queue: its script reads the queue from the address.
    return _page(checkin_pages.asset("board.html"), request, BOARD_PERMISSIONS)


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
async def page_asset(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    checkin_pages: NamedDependency[CheckInPages],
) -> Response[bytes]:
    asset = checkin_pages.static(name)
    if asset is None:
        raise NotFound("no such file")
    return page_assets.answer(asset, request.headers.get("if-none-match"), {})


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
    facility_id: FromPath[str], department: FromPath[str], queue_feeds: NamedDependency[QueueFeeds]
) -> ServerSentEvent:
    feed = await queue_feeds.open(facility_id, department)
    # The cleanup task covers a response that ends before its first event was sent.
    return ServerSentEvent(feed.events(), background=BackgroundTask(feed.close))
