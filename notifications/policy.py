"""Pure rules of the relay: preferences (mute, quiet hours). No I/O. (Its retry timing is
``api.core.backoff``, shared with the FHIR pull.)"""

from __future__ import annotations

import datetime as dt
import re

from notifications.messages import MUTABLE_KINDS, NotificationKind, zone

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def parse_hhmm(value: str) -> dt.time:
    if not HHMM.match(value):
        raise ValueError(f"not a HH:MM time: {value!r}")
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def in_quiet_hours(start: str | None, end: str | None, timezone: str, now: dt.datetime) -> bool:
    """Whether ``now`` falls in ``[start, end)`` local time; the window may cross midnight."""
    if not start or not end:
        return False
    begin, finish = parse_hhmm(start), parse_hhmm(end)
    if begin == finish:
        return False
    local = now.astimezone(zone(timezone)).time().replace(second=0, microsecond=0)
    if begin < finish:
        return begin <= local < finish
    return local >= begin or local < finish


def suppression(
    message: NotificationKind,
    *,
    muted_kinds: list[str] | None,
    quiet_start: str | None,
    quiet_end: str | None,
    timezone: str,
    now: dt.datetime,
) -> str | None:
    """Why a push to a recipient is not sent (``muted``, ``quiet_hours``), or ``None`` to send.

    Only reminder kinds can be muted; operational kinds (the hospital cancelled, your turn) go out
    even in quiet hours. The inbox is written either way.
    """
    if message.kind in MUTABLE_KINDS and muted_kinds and message.kind in muted_kinds:
        return "muted"
    if message.category != "operational" and in_quiet_hours(quiet_start, quiet_end, timezone, now):
        return "quiet_hours"
    return None
