"""Keeping a clock-driven test inside one local day.

Queues, reminders and daily numbers follow the facility's calendar day. A test that moves its
frozen clock forward by some minutes would see the day change when the suite runs shortly before
local midnight (which happens: CI runs at any hour), and a correct reset of the numbers would
read as a failure. ``within_one_local_day`` moves the clock past that midnight first, so the test
checks the same thing at every hour of the day."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from api.core.clock import FrozenClock

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def within_one_local_day(
    clock: FrozenClock, *, span: dt.timedelta, zone: dt.tzinfo = VIETNAM
) -> dt.datetime:
    """Make sure ``clock`` stays on one local date for the next ``span``; return its time.

    When ``now + span`` falls on the next local date the clock jumps to one minute after that
    midnight (never backwards: tokens and rows already written keep their order)."""
    now = clock.now()
    local = now.astimezone(zone)
    if (now + span).astimezone(zone).date() != local.date():
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
        clock.set((midnight + dt.timedelta(minutes=1)).astimezone(dt.UTC))
    return clock.now()
