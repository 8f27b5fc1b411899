"""``healthbook sync`` run as an operator runs it — a process of its own, beside a serving API —
on both backends: it stores what the facility's FHIR API holds, its access-log rows verify, and
a citizen who had the book open sees the new counts at the next read (on the embedded Redis
too, which the CLI process cannot reach)."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from api.core.settings import Settings
from api.health_book.models import HealthDocument, HealthEntry
from tests.integration.health_book.conftest import ANY_ID, patient_number
from tests.support.auth import bearer, login, register_provider
from tests.support.cli import run_cli_async
from tests.support.fhir_samples import CATEGORY_TYPES, IPS, NATIONAL_ID_SYSTEMS, sample_bytes
from tests.support.fhir_samples import sample_json as sample
from tests.support.fhir_server import FhirServer
from tests.support.hospital import register_facility


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        pull_retry_base_seconds=0.01,
        pull_retry_max_seconds=0.2,
        pull_read_timeout_seconds=5.0,
        pull_max_attempts=2,
    )


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    with FhirServer() as server:
        yield server


def with_another_condition(document: dict[str, Any]) -> dict[str, Any]:
    """The sample with one more active Condition (a new diagnosis the hospital recorded)."""
    changed = copy.deepcopy(document)
    condition = next(e for e in changed["entry"] if e["resource"]["resourceType"] == "Condition")
    extra = copy.deepcopy(condition)
    new_id = str(uuid.uuid4())
    extra["fullUrl"] = f"urn:uuid:{new_id}"
    extra["resource"]["id"] = new_id
    extra["resource"].pop("identifier", None)
    extra["resource"]["code"] = {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11", "display": "T2DM"}]
    }
    changed["entry"].append(extra)
    return changed


async def active_counts(app: Any) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(HealthEntry.category, func.count())
            .where(HealthEntry.active.is_(True))
            .group_by(HealthEntry.category)
        )
        counts = dict.fromkeys(CATEGORY_TYPES, 0)
        counts.update(dict(rows.all()))
    return {category: counts[category] for category in CATEGORY_TYPES}


async def test_a_sync_process_stores_and_every_reader_sees_it_at_once(
    client, app, settings, hospital, admin_token, idp, fhir_server
) -> None:
    pushed = await client.post(
        "/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers
    )
    assert pushed.status_code == 201, pushed.text
    await register_provider(client, admin_token, idp, national_id_pattern=ANY_ID)
    citizen = bearer((await login(client, idp, patient_number(IPS)))["access_token"])
    first = await client.get("/citizens/me/health-book", headers=citizen)
    assert first.status_code == 200
    before = first.json()["counts"]
    again = await client.get("/citizens/me/health-book", headers=citizen)
    assert again.headers["etag"] == first.headers["etag"]  # served from the cache

    # the hospital's FHIR API now holds a new diagnosis; an operator syncs from the command line
    fhir_server.load(with_another_condition(sample(IPS)))
    await register_facility(
        client, admin_token, hospital.facility_id, fhir_base_url=fhir_server.base_url
    )
    system = next(s for s in NATIONAL_ID_SYSTEMS if s)
    identifier = f"{system}|{patient_number(IPS)}"
    synced = await run_cli_async(
        settings, "sync", "--facility", hospital.facility_id, "--identifier", identifier
    )
    assert synced.returncode == 0, synced.stderr
    assert ": created (everything, 1 page(s)); document " in synced.stdout
    assert "Traceback" not in synced.stderr

    async with app.state.sessionmaker() as session:
        sources = (await session.scalars(select(HealthDocument.source))).all()
    assert sorted(sources) == ["pull", "push"]
    stored = await active_counts(app)
    assert stored["conditions"] == before["conditions"] + 1

    after = await client.get("/citizens/me/health-book", headers=citizen)
    assert after.status_code == 200
    assert after.json()["counts"] == stored
    assert after.headers["etag"] != first.headers["etag"]
    conditions = await client.get("/citizens/me/health-book/conditions", headers=citizen)
    assert "E11" in conditions.text

    # what the sync process logged verifies, and a second sync stores nothing
    verified = await run_cli_async(settings, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    resynced = await run_cli_async(settings, "sync", "--facility", hospital.facility_id, "--all")
    assert resynced.returncode == 0, resynced.stderr
    assert ": up_to_date" in resynced.stdout
    assert await active_counts(app) == stored
    unchanged = await client.get("/citizens/me/health-book", headers=citizen)
    assert unchanged.headers["etag"] == after.headers["etag"]


async def test_a_sync_process_signs_as_the_facility_asks_with_keys_the_api_publishes(
    client, app, settings, hospital, admin_token, fhir_server
) -> None:
    """The RS384 key is made by the sync process on its first use; the API process publishes it
    at once, and the facility's token endpoint (RS384 only) verifies against what it publishes."""
    loop = asyncio.get_running_loop()

    def published() -> dict[str, Any]:
        answer = asyncio.run_coroutine_threadsafe(
            client.get("/.well-known/jwks.json"), loop
        ).result(timeout=30)
        return answer.json()

    assert "RS384" not in {
        k["alg"] for k in published_now(await client.get("/.well-known/jwks.json"))
    }
    fhir_server.require_smart("healthbook", published, algorithms=("RS384",))
    await register_facility(
        client,
        admin_token,
        hospital.facility_id,
        fhir_base_url=fhir_server.base_url,
        fhir_token_url=fhir_server.token_url,
        fhir_client_id="healthbook",
        fhir_assertion_alg="RS384",
    )
    fhir_server.load(sample(IPS))
    identifier = f"{NATIONAL_ID_SYSTEMS[0]}|{patient_number(IPS)}"
    synced = await run_cli_async(
        settings, "sync", "--facility", hospital.facility_id, "--identifier", identifier
    )
    assert synced.returncode == 0, synced.stderr
    assert ": created" in synced.stdout
    assert len(fhir_server.assertions) == 1
    assert await active_counts(app) != dict.fromkeys(CATEGORY_TYPES, 0)


def published_now(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200
    return response.json()["keys"]
