"""Health card tests: the app on both backend pairs with a frozen clock, and citizens whose
books hold published samples (``owner_of``, as in the health book's tests)."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from tests.integration.health_book.conftest import owner_of
from tests.support.fhir_samples import LEONOR, RUSTY, dump, sample_json
from tests.support.running import app_client

__all__ = ["owner_of"]

CARDS = "/citizens/me/health-cards"


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as http:
        yield http


def few_immunizations(count: int = 2) -> bytes:
    """Leonor's record with only her Patient, ``count`` immunizations and what they reference
    (their visits, its practitioner and organization): a card small enough for one QR code."""
    document: dict[str, Any] = sample_json(LEONOR)
    entries = document["entry"]
    by_url = {e["fullUrl"]: e for e in entries}
    patient = [e for e in entries if e["resource"]["resourceType"] == "Patient"]
    shots = [e for e in entries if e["resource"]["resourceType"] == "Immunization"][:count]
    kept = {e["fullUrl"]: e for e in patient + shots}
    pending = list(kept.values())
    while pending:
        for url in re.findall(r'"(urn:uuid:[^"]+)"', json.dumps(pending.pop()["resource"])):
            if url in by_url and url not in kept:
                kept[url] = by_url[url]
                pending.append(by_url[url])
    document["entry"] = [e for e in entries if e["fullUrl"] in kept]
    return dump(document)


def many_immunizations(copies: int = 4) -> bytes:
    """Rusty's record with each immunization repeated ``copies`` times (other dates, lot
    numbers): a card longer than one QR code holds."""
    document: dict[str, Any] = sample_json(RUSTY)
    extra: list[dict[str, Any]] = []
    for entry in document["entry"]:
        if entry["resource"]["resourceType"] != "Immunization":
            continue
        for copy in range(1, copies):
            new_id = str(uuid.uuid4())
            resource = {**entry["resource"], "id": new_id, "lotNumber": secrets.token_hex(4)}
            resource["occurrenceDateTime"] = f"20{10 + copy:02d}-0{copy}-1{copy}"
            extra.append({**entry, "fullUrl": f"urn:uuid:{new_id}", "resource": resource})
    document["entry"].extend(extra)
    return dump(document)
