"""Every column carries its own type, whichever models a process happens to import, and the
access log's hash input does not depend on what a database driver hands back."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid

import pytest

from api.health_book.access_log import GENESIS, row_hash

MODEL_MODULES = (
    "api.identity.models",
    "api.facilities.models",
    "api.health_book.models",
    "api.appointments.models",
    "api.checkin.models",
    "api.insurance.models",
    "api.sharing.models",
    "api.health_cards.models",
    "api.questionnaires.models",
    "api.measurements.models",
    "notifications.models",
)

_TYPES_OF_ONE_MODULE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from api.core.db import Base
print(json.dumps({
    f"{table.name}.{column.name}": repr(column.type)
    for table in Base.metadata.tables.values() for column in table.columns
}))
"""


def column_types(*modules: str) -> dict[str, str]:
    """The column types a fresh interpreter sees after importing only ``modules``."""
    script = (
        _TYPES_OF_ONE_MODULE
        if len(modules) == 1
        else _TYPES_OF_ONE_MODULE.replace(
            "importlib.import_module(sys.argv[1])",
            "[importlib.import_module(m) for m in sys.argv[1:]]",
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *modules], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_full_registry_is_loaded_by_the_one_place_every_process_opens_the_database() -> None:
    script = "from api.db.engine import load_models\nprint(sorted(load_models().tables))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    every = column_types(*MODEL_MODULES)
    assert eval(done.stdout) == sorted({name.split(".")[0] for name in every})


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_each_column_is_typed_even_when_its_module_is_imported_alone(module: str) -> None:
    alone = column_types(module)
    untyped = sorted(name for name, kind in alone.items() if kind == "NullType()")
    assert untyped == []
    every = column_types(*MODEL_MODULES)
    assert {name: every[name] for name in alone} == alone


ROW_ID = uuid.UUID("0b7e3f5c-1d2a-4c8e-9f00-aa11bb22cc33")
CITIZEN = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
AT = dt.datetime(2030, 5, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
COMMON = {
    "seq": 3,
    "actor_kind": "guardian",
    "actor_id": "a",
    "action": "read",
    "purpose": None,
    "resource": "health-book",
    "prev_hash": GENESIS,
}
WRITTEN_BEFORE = "264bb3e51028c4de220042db22d567f44d6cda7f51d44fbc9bedb52ac63265b0"
"""The hash the previous release wrote for this row (UUID objects, an aware datetime): rows
already in a database keep verifying."""


def test_the_hash_input_is_the_same_whatever_a_driver_returns() -> None:
    detail = {"n": 1, "note": "Nguyễn"}
    as_written = row_hash(id=ROW_ID, citizen_id=CITIZEN, at=AT, detail=detail, **COMMON)
    assert as_written == WRITTEN_BEFORE
    variants = [
        # SQLite without the column's type: 32 hex digits, naive text instants, JSON as text
        {"id": ROW_ID.hex, "citizen_id": CITIZEN.hex, "at": "2030-05-01 09:30:15.123456"},
        {"id": str(ROW_ID).upper(), "citizen_id": CITIZEN.bytes, "at": AT.replace(tzinfo=None)},
        {
            "id": str(ROW_ID),
            "citizen_id": str(CITIZEN),
            "at": AT.astimezone(dt.timezone(dt.timedelta(hours=7))),
        },
    ]
    for variant in variants:
        text = json.dumps(detail, ensure_ascii=True)
        assert row_hash(detail=text, **variant, **COMMON) == WRITTEN_BEFORE
