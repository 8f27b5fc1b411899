"""Pulling from a hospital's FHIR API: the same entries as a push, nothing new when nothing
changed, and a client that stays on the facility's host, within its limits, and retries."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import main
from api.core.settings import Settings
from api.health_book.models import AccessLogEntry, HealthDocument, HealthEntry, PullLink
from api.health_book.pull import (
    AuthFailed,
    PatientNotFound,
    PullNotConfigured,
    PullService,
    RedirectRefused,
    RemoteRefused,
    RemoteUnavailable,
    ResponseTooLarge,
)
from api.health_book.pull.bundles import Collected, matching_patients, read_page, search_value
from api.identity.models import Citizen
from notifications.models import OutboxEntry
from tests.support.fhir_samples import (
    CATEGORY_TYPES,
    IPS,
    LEONOR,
    NATIONAL_ID_SYSTEMS,
    RUSTY,
    entry_index,
    expected_counts,
    sample_bytes,
    sample_json,
    sample_names,
)
from tests.support.fhir_server import FhirServer
from tests.support.hospital import register_facility
from tests.unit.test_progress import Recorder


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Quick retries and short timeouts: the FHIR server is on loopback."""
    return settings.replace(
        pull_retry_base_seconds=0.01,
        pull_retry_max_seconds=0.2,
        pull_read_timeout_seconds=2.0,
        pull_response_deadline_seconds=10.0,
        pull_max_attempts=3,
    )


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    with FhirServer() as server:
        yield server


@pytest.fixture
async def facility(client, admin_token, hospital, fhir_server) -> str:
    """The hospital fixture's facility, with the test server as its FHIR API."""
    await register_facility(
        client, admin_token, hospital.facility_id, fhir_base_url=fhir_server.base_url
    )
    return hospital.facility_id


@pytest.fixture
def puller(app, client) -> PullService:
    return app.state.runtime.new_pull_service()


def puller_with(app, **overrides: Any) -> PullService:
    runtime = app.state.runtime
    return runtime.new_pull_service(runtime.settings.replace(**overrides))


def national_identifier(name: str) -> tuple[str, str]:
    patient = next(
        e["resource"]
        for e in sample_json(name)["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    return next(
        (i["system"], i["value"])
        for i in patient["identifier"]
        if i.get("system") in NATIONAL_ID_SYSTEMS
    )


async def active_counts(app) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(HealthEntry.category, func.count())
            .where(HealthEntry.active.is_(True))
            .group_by(HealthEntry.category)
        )
        counts = dict.fromkeys(CATEGORY_TYPES, 0)
        counts.update(dict(rows.all()))
        return counts


async def active_entries(app) -> set[tuple[Any, ...]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(
                HealthEntry.category,
                HealthEntry.source_key,
                HealthEntry.code,
                HealthEntry.display,
                HealthEntry.status,
                HealthEntry.effective_at,
                HealthEntry.encounter_key,
            ).where(HealthEntry.active.is_(True))
        )
        return set(rows.all())


async def table_counts(app) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (HealthDocument, HealthEntry, Citizen, AccessLogEntry, OutboxEntry)
        }


def expected(name: str) -> dict[str, int]:
    counts = expected_counts(name)
    return {category: counts[category] for category in CATEGORY_TYPES}


def operations(requests) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in requests]


@pytest.mark.parametrize("name", sample_names())
async def test_a_sync_stores_what_a_push_stores_and_a_second_stores_nothing(
    app, client, hospital, facility, fhir_server, puller, name
) -> None:
    fhir_server.load(sample_json(name))
    system, value = national_identifier(name)

    result = await puller.sync_patient_identifier(facility, system, value)
    assert (result.outcome, result.operation) == ("created", "everything")
    assert result.entry_counts == expected(name)
    resources = len(sample_json(name)["entry"])
    assert result.pages == math.ceil(resources / fhir_server.page_size)
    assert await active_counts(app) == expected(name)
    assert all("authorization" not in r.headers for r in fhir_server.fhir_requests())
    pulled = await active_entries(app)
    before = await table_counts(app)
    seen = len(fhir_server.fhir_requests())

    again = await puller.sync_patient_identifier(facility, system, value)
    assert again.outcome == "up_to_date"
    assert again.citizen_id == result.citizen_id
    assert await table_counts(app) == before
    second = fhir_server.fhir_requests()[seen:]
    assert operations(second) == ["Patient", "$everything"]
    assert "_since" in second[1].query

    pushed = await client.post(
        "/hospital/summaries", content=sample_bytes(name), headers=hospital.headers
    )
    assert pushed.status_code == 201, pushed.text
    assert await active_entries(app) == pulled  # the push's copies replace the pulled ones


async def test_summary_when_the_server_does_not_do_everything(
    app, facility, fhir_server, puller
) -> None:
    fhir_server.everything_status = 404
    fhir_server.load(sample_json(IPS))
    result = await puller.sync_patient_identifier(facility, *national_identifier(IPS))
    assert (result.outcome, result.operation) == ("created", "summary")
    assert await active_counts(app) == expected(IPS)
    async with app.state.sessionmaker() as session:
        document = await session.scalar(select(HealthDocument))
        assert (document.bundle_type, document.source) == ("document", "pull")
        assert len(document.sections) == expected_counts(IPS)["sections"]
    before = await table_counts(app)
    seen = len(fhir_server.fhir_requests())

    again = await puller.sync_patient_identifier(facility, *national_identifier(IPS))
    assert (again.outcome, again.operation) == ("unchanged", "summary")
    assert await table_counts(app) == before
    assert operations(fhir_server.fhir_requests()[seen:]) == ["Patient", "$everything", "$summary"]


async def test_changes_at_the_server_make_a_new_version(app, facility, fhir_server, puller) -> None:
    patient_id = fhir_server.load(sample_json(LEONOR))
    identifier = national_identifier(LEONOR)
    await puller.sync_patient_identifier(facility, *identifier)
    document = sample_json(LEONOR)
    changed = document["entry"][entry_index(document, "Observation", 3)]["resource"]
    gone = document["entry"][entry_index(document, "Observation", 4)]["resource"]
    old_value = changed["valueQuantity"]["value"]

    def edit(resource: dict[str, Any]) -> None:
        resource["valueQuantity"]["value"] = old_value + 7

    fhir_server.change(patient_id, f"Observation/{changed['id']}", edit)
    fhir_server.delete(patient_id, f"Observation/{gone['id']}")
    result = await puller.sync_patient_identifier(facility, *identifier)
    assert (result.outcome, result.version) == ("new_version", 2)
    counts = await active_counts(app)
    assert counts == {**expected(LEONOR), "observations": expected(LEONOR)["observations"] - 1}
    overview = await app.state.book.overview(uuid.UUID(result.citizen_id), app.state.clock.now())
    assert json.loads(overview.body)["counts"]["observations"] == counts["observations"]
    async with app.state.sessionmaker() as session:
        entry = await session.scalar(
            select(HealthEntry).where(
                HealthEntry.active.is_(True),
                HealthEntry.source_key == f"Observation/{changed['id']}",
            )
        )
        assert entry.summary["value"]["number"] == old_value + 7


async def test_known_patients_are_resynced_and_a_first_login_finds_the_citizen(
    app, client, admin_token, facility, fhir_server, puller
) -> None:
    rusty = fhir_server.load(sample_json(RUSTY))
    await puller.sync_patient_identifier(facility, *national_identifier(RUSTY))
    fhir_server.load(sample_json(IPS))
    await register_facility(client, admin_token, "79002", name="BV không có FHIR")

    found = await puller.sync_national_id(national_identifier(IPS)[1])
    assert [(r.facility_id, r.outcome) for r in found] == [(facility, "created")]
    assert await puller.sync_national_id("001099999999") == []

    document = sample_json(RUSTY)
    condition = document["entry"][entry_index(document, "Condition")]["resource"]
    fhir_server.change(
        rusty, f"Condition/{condition['id']}", lambda r: r.update(onsetDateTime="2001-02-03")
    )
    progress = Recorder()
    results = await puller.sync_known_patients(facility, progress=progress)
    assert progress.total == progress.done == len(results) == 2
    assert progress.steps == [1, 1]
    by_patient = {r.remote_patient_id: r.outcome for r in results}
    assert by_patient == {rusty: "new_version", found[0].remote_patient_id: "up_to_date"}
    assert {r.outcome for r in await puller.sync_all_known()} == {"up_to_date"}
    async with app.state.sessionmaker() as session:
        links = (await session.scalars(select(PullLink))).all()
    assert len(links) == 2
    assert all(link.last_error is None and link.content_sha256 for link in links)

    seen = len(fhir_server.fhir_requests())
    stop = asyncio.Event()
    job = asyncio.create_task(puller.run_periodic(stop))
    for _ in range(200):
        if len(fhir_server.fhir_requests()) >= seen + 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(job, 5)
    assert operations(fhir_server.fhir_requests()[seen:]) == ["$everything", "$everything"]


async def test_pages_are_followed_up_to_the_limit(app, facility, fhir_server, puller) -> None:
    fhir_server.page_size = 3
    fhir_server.load(sample_json(IPS))
    result = await puller.sync_patient_identifier(facility, *national_identifier(IPS))
    assert result.pages == 3
    assert await active_counts(app) == expected(IPS)
    offsets = [r.query.get("_offset") for r in fhir_server.fhir_requests("$everything")]
    assert offsets == [None, "3", "6"]

    fhir_server.load(sample_json(RUSTY))
    limited = puller_with(app, pull_max_pages=2)
    with pytest.raises(RemoteRefused, match="PULL_MAX_PAGES"):
        await limited.sync_patient_identifier(facility, *national_identifier(RUSTY))
    assert (await table_counts(app))["health_document"] == 1


async def test_retries_with_backoff_then_gives_up(app, facility, fhir_server, puller) -> None:
    fhir_server.load(sample_json(IPS))
    fhir_server.fail_times = 2
    result = await puller.sync_patient_identifier(facility, *national_identifier(IPS))
    assert result.outcome == "created"
    assert operations(fhir_server.fhir_requests()) == ["Patient"] * 3 + ["$everything"]

    fhir_server.fail_times, fhir_server.fail_status = 10, 502
    with pytest.raises(RemoteUnavailable, match=r"failed 3 time\(s\); last: HTTP 502"):
        await puller.sync_patient_identifier(facility, *national_identifier(IPS))
    fhir_server.fail_times, fhir_server.fail_status, fhir_server.retry_after = 1, 429, "3600"
    with pytest.raises(RemoteUnavailable, match="asks to wait 3600 s"):
        await puller.sync_patient_identifier(facility, *national_identifier(IPS))


async def test_redirects_stay_on_the_facility_host(app, facility, fhir_server, puller) -> None:
    fhir_server.load(sample_json(IPS))
    fhir_server.moved = True  # same host: followed
    result = await puller.sync_patient_identifier(facility, *national_identifier(IPS))
    assert result.outcome == "created"
    assert any(r.path.startswith("/fhir-moved/") for r in fhir_server.fhir_requests())

    fhir_server.moved = False
    fhir_server.load(sample_json(RUSTY))
    fhir_server.redirect_host = "localhost"
    with pytest.raises(RedirectRefused, match="redirected to another host") as refused:
        await puller.sync_patient_identifier(facility, *national_identifier(RUSTY))
    assert refused.value.extra["location_origin"] == f"http://localhost:{fhir_server.port}"
    assert all(r.headers["host"].startswith("127.0.0.1") for r in fhir_server.requests)

    fhir_server.redirect_host, fhir_server.next_host, fhir_server.page_size = None, "localhost", 50
    with pytest.raises(RedirectRefused, match=r"Bundle.link\[next\] points at another host"):
        await puller.sync_patient_identifier(facility, *national_identifier(RUSTY))
    assert all(r.headers["host"].startswith("127.0.0.1") for r in fhir_server.requests)
    assert (await table_counts(app))["health_document"] == 1


async def test_oversized_and_slow_answers_are_refused(app, facility, fhir_server) -> None:
    limited = puller_with(app, pull_max_bytes=200_000)
    fhir_server.load(sample_json(LEONOR))  # about 1 MB over 7 pages: the budget is per pull
    with pytest.raises(ResponseTooLarge, match="PULL_MAX_BYTES"):
        await limited.sync_patient_identifier(facility, *national_identifier(LEONOR))
    fhir_server.oversize = 300_000
    with pytest.raises(ResponseTooLarge, match="passed the"):
        await limited.sync_patient_identifier(facility, *national_identifier(LEONOR))
    fhir_server.declare_length = True
    with pytest.raises(ResponseTooLarge, match="declares 300000 bytes"):
        await limited.sync_patient_identifier(facility, *national_identifier(LEONOR))

    hasty = puller_with(app, pull_read_timeout_seconds=0.2, pull_max_attempts=2)
    fhir_server.oversize, fhir_server.delay = None, 1.0
    seen = len(fhir_server.fhir_requests())
    started = time.monotonic()
    with pytest.raises(RemoteUnavailable, match="timeout"):
        await hasty.sync_patient_identifier(facility, *national_identifier(LEONOR))
    assert time.monotonic() - started < 1.5
    attempts = operations(fhir_server.fhir_requests()[seen:])
    assert attempts == ["Patient", "$everything", "$everything"]
    assert (await table_counts(app))["health_document"] == 0


async def test_smart_backend_services(
    app, client, admin_token, facility, fhir_server, puller
) -> None:
    # a standard SMART server: ES384 (our default) against our published keys
    fhir_server.require_smart("healthbook", app.state.signing_keys.jwks, algorithms=("ES384",))
    await register_facility(
        client,
        admin_token,
        facility,
        fhir_base_url=fhir_server.base_url,
        fhir_token_url=fhir_server.token_url,
        fhir_client_id="healthbook",
    )
    fhir_server.load(sample_json(IPS))
    identifier = national_identifier(IPS)
    assert (await puller.sync_patient_identifier(facility, *identifier)).outcome == "created"
    assert (await puller.sync_patient_identifier(facility, *identifier)).outcome == "up_to_date"
    assert len(fhir_server.token_requests) == 1  # cached
    assert fhir_server.token_requests[0]["scope"] == "system/*.read"
    claims = fhir_server.assertions[0]
    assert claims["iss"] == claims["sub"] == "healthbook"
    assert claims["aud"] == fhir_server.token_url
    assert all(
        r.headers["authorization"].startswith("Bearer ") for r in fhir_server.fhir_requests()
    )

    fhir_server.tokens.clear()  # revoked early: a 401 fetches a new token once
    assert (await puller.sync_patient_identifier(facility, *identifier)).outcome == "up_to_date"
    assert len(fhir_server.token_requests) == 2

    await register_facility(
        client,
        admin_token,
        facility,
        fhir_base_url=fhir_server.base_url,
        fhir_token_url=fhir_server.token_url,
        fhir_client_id="someone-else",
    )
    with pytest.raises(AuthFailed, match="invalid_client"):
        await puller.sync_patient_identifier(facility, *identifier)


async def test_facilities_and_patients_that_cannot_be_pulled(
    app, hospital, facility, fhir_server, puller, client, admin_token
) -> None:
    await register_facility(client, admin_token, "79002", name="BV không có FHIR")
    with pytest.raises(PullNotConfigured, match="no FHIR base URL") as refused:
        await puller.sync_patient_identifier("79002", *national_identifier(IPS))
    assert refused.value.problem.status == 409
    with pytest.raises(PullNotConfigured, match="no facility"):
        await puller.sync_known_patients("00000")
    with pytest.raises(PatientNotFound) as missing:
        await puller.sync_patient_identifier(facility, NATIONAL_ID_SYSTEMS[0], "123456789")
    assert "123456789" not in str(missing.value)
    assert missing.value.problem.status == 404


async def test_the_sync_command(app, facility, fhir_server, settings) -> None:
    fhir_server.load(sample_json(IPS))
    system, value = national_identifier(IPS)
    env = {
        "DATABASE_URL": settings.database.url,
        "REDIS_URL": settings.redis.url or "",
        "DATA_DIR": settings.data_dir,
        "SIGNING_KEYS_DIR": str(settings.effective_signing_keys_dir),
        "IDENTIFIER_HASH_KEY": settings.security.identifier_hash_key,
        "NATIONAL_ID_SYSTEMS": ",".join(settings.fhir.national_id_systems),
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
    }

    async def sync(*args: str) -> Any:
        return await asyncio.to_thread(CliRunner().invoke, main, ["sync", *args], env=env)

    first = await sync("--facility", facility, "--identifier", f"{system}|{value}")
    assert first.exit_code == 0, first.output
    assert ": created (everything, 1 page(s)); document " in first.output
    assert "conditions=1" in first.output
    again = await sync("--facility", facility, "--all")
    assert again.exit_code == 0, again.output
    assert ": up_to_date" in again.output
    assert await active_counts(app) == expected(IPS)
    missing = await sync("--facility", "00000", "--all")
    assert missing.exit_code == 1
    assert "no facility '00000'" in missing.output
    usage = await sync("--facility", facility)
    assert usage.exit_code == 1  # every CLI failure: one line, status 1
    assert "give either --identifier" in usage.output


def collected(*resources: dict[str, Any]) -> Collected:
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    gathered = Collected()
    gathered.add(read_page(json.dumps(page).encode(), "test"))
    return gathered


def test_the_fingerprint_leaves_out_metadata_and_what_a_summary_regenerates() -> None:
    observation = {"resourceType": "Observation", "id": "o1", "status": "final"}
    composition = {"resourceType": "Composition", "id": "c1", "date": "2026-01-01", "title": "IPS"}
    base = collected(observation, composition).fingerprint()
    again = collected(
        {**composition, "id": "c2", "date": "2026-02-02"},
        {**observation, "meta": {"versionId": "2", "lastUpdated": "2026-02-02T00:00:00Z"}},
    )
    assert again.fingerprint() == base
    assert collected({**observation, "status": "amended"}, composition).fingerprint() != base
    assert collected(observation).fingerprint() != base


def test_only_a_patient_carrying_the_identifier_is_taken() -> None:
    """A server that ignores the search parameter must not hand us someone else."""
    page = read_page(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Patient",
                            "id": "a",
                            "identifier": [{"system": "urn:cccd", "value": "001-090-000001"}],
                        }
                    },
                    {
                        "resource": {
                            "resourceType": "Patient",
                            "id": "b",
                            "identifier": [{"system": "urn:other", "value": "001090000001"}],
                        }
                    },
                ],
            }
        ).encode(),
        "test",
    )
    assert matching_patients(page, [("urn:cccd", "001090000001")]) == {"a"}
    assert matching_patients(page, [("urn:cccd", "001090000002")]) == set()
    assert search_value([("urn:x|y", "a,b"), ("urn:z", "1")]) == r"urn:x\|y|a\,b,urn:z|1"
