"""The pieces of a row's canonical JSON the one-statement append hands the database: joined
around the previous hash and the seq, they are :func:`access_log.canonical` byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest

from api.health_book.access_log import GENESIS, canonical, canonical_parts, row_hash

ROWS: list[dict[str, Any]] = [
    {
        "purpose": "SMART Health Link",
        "resource": "health-book/export/ips?categories=immunizations",
        "detail": {"share": str(uuid.uuid4()), "label": 'Bác sĩ "gia đình"', "n": [1, 2.5]},
    },
    {"purpose": None, "resource": None, "detail": None},
    {"purpose": "ý\u2028kiến", "resource": "a\\b", "detail": {"z": {"b": 1, "a": [None]}}},
]


@pytest.mark.parametrize("extra", ROWS)
@pytest.mark.parametrize("seq", [1, 9, 1234567])
def test_the_parts_joined_are_the_canonical_row(extra: dict[str, Any], seq: int) -> None:
    columns: dict[str, Any] = {
        "id": uuid.uuid4(),
        "citizen_id": uuid.uuid4(),
        "at": dt.datetime(2030, 5, 1, 9, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=7))),
        "actor_kind": "recipient",
        "actor_id": "BS. Nguyễn Văn An",
        "action": "read",
        **extra,
    }
    previous = hashlib.sha256(b"x").hexdigest() if seq > 1 else GENESIS
    p0, p1, p2 = canonical_parts(**columns)
    joined = p0 + previous.encode() + p1 + str(seq).encode() + p2
    assert joined == canonical(**columns, seq=seq, prev_hash=previous)
    assert hashlib.sha256(joined).hexdigest() == row_hash(**columns, seq=seq, prev_hash=previous)
