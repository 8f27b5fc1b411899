"""The check-in domain's routes: the citizen's (check-in codes, walk-ins), the kiosk's, the
queues' (public status and printable codes, the hospital's desk) and the kiosk and board pages."""

from __future__ import annotations

from typing import Any

from api.checkin.routes.citizen import CheckInCodeController, WalkInController
from api.checkin.routes.kiosk import KioskCheckInController
from api.checkin.routes.pages import (
    board_page,
    kiosk_page,
    live_queue_feeds,
    page_asset,
    queue_events,
)
from api.checkin.routes.queues import HospitalQueueController, PublicQueueController

CHECKIN_ROUTES: list[Any] = [
    CheckInCodeController,
    KioskCheckInController,
    WalkInController,
    PublicQueueController,
    HospitalQueueController,
]
CHECKIN_PAGE_ROUTES: list[Any] = [kiosk_page, board_page, page_asset, queue_events]

__all__ = ["CHECKIN_PAGE_ROUTES", "CHECKIN_ROUTES", "live_queue_feeds"]
