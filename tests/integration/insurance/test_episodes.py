"""POST /hospital/insurance-xml: episodes accepted into the book (created, new version,
unchanged), one bad episode never blocking the others, restricted HIV care kept out of the book,
and the citizen's book, export and signed files afterwards."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from api.health_book.models import AccessLogEntry, HealthDocument, HealthEntry
from api.insurance.models import InsuranceEnvelope, InsuranceEpisode
from notifications.models import OutboxEntry
from tests.integration.insurance.conftest import FACILITY, xml_headers
from tests.support.auth import bearer
from tests.support.fhir_export import assert_valid_fhir
from tests.support.qd130 import CCCD, build_episode_files
from tests.support.qd130_envelope import build_envelope

PATH = "/hospital/insurance-xml/"


def pairs(kind: str, **overrides: object) -> list[tuple[str, bytes]]:
    return list(build_episode_files(kind, **overrides).items())


async def counts(app) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (
                HealthDocument,
                InsuranceEnvelope,
                InsuranceEpisode,
                OutboxEntry,
                AccessLogEntry,
            )
        }


async def post(client, hospital, episodes) -> tuple[int, dict]:
    response = await client.post(
        PATH, content=build_envelope(FACILITY, episodes), headers=xml_headers(hospital)
    )
    return response.status_code, response.json()


async def test_created_then_unchanged_then_a_new_version(client, app, insurer_hospital) -> None:
    status, body = await post(client, insurer_hospital, [pairs("outpatient")])
    assert status == 200, body
    (episode,) = body["episodes"]
    assert body["signed"] is True
    assert (body["accepted"], body["rejected"]) == (1, 0)
    assert episode["status"] == "accepted"
    assert episode["outcome"] == "created"
    assert episode["ma_lk"] == "LK-OUTPATIENT-0001"
    assert episode["version"] == 1
    assert episode["entry_counts"]["visits"] == 1
    assert episode["entry_counts"]["medications"] >= 1
    first = await counts(app)
    assert first["health_document"] == 1
    assert first["insurance_envelope"] == first["insurance_episode"] == 1
    assert first["notification_outbox"] == 1  # the "new record" push

    # the same episode again, in another (re-signed) envelope: unchanged, nothing stored
    status, body = await post(client, insurer_hospital, [pairs("outpatient")])
    assert status == 200
    assert body["episodes"][0]["outcome"] == "unchanged"
    assert body["episodes"][0]["document_id"] == episode["document_id"]
    assert await counts(app) == first

    # the late lab result: the same MA_LK with more results → a new version of the document
    status, body = await post(client, insurer_hospital, [pairs("late_result")])
    assert body["episodes"][0]["outcome"] == "created"
    late_id = body["episodes"][0]["document_id"]
    status, body = await post(client, insurer_hospital, [pairs("late_result_resend")])
    assert status == 200, body
    again = body["episodes"][0]
    assert again["outcome"] == "new_version"
    assert again["document_id"] == late_id
    assert again["version"] == 2


async def test_a_bad_episode_never_blocks_the_good_ones_and_stores_nothing(
    client, app, insurer_hospital
) -> None:
    bad = pairs("inpatient", NGAY_VAO="20261300")  # month 13
    no_ma_lk = pairs("chronic", ma_lk="")
    status, body = await post(
        client, insurer_hospital, [pairs("outpatient"), bad, no_ma_lk, pairs("day_case")]
    )
    assert status == 200, body
    assert [e["status"] for e in body["episodes"]] == [
        "accepted",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert (body["accepted"], body["rejected"]) == (2, 2)
    rejected = body["episodes"][1]
    assert rejected["type"].endswith("/problems/insurance-episode-rejected")
    assert any(
        p["table"] == "XML1" and p["field"] == "NGAY_VAO" and p["value"] == "20261300"
        for p in rejected["problems"]
    ), rejected["problems"]
    assert all(p["rule"] for p in rejected["problems"])
    stored = await counts(app)
    assert stored["health_document"] == 2
    assert stored["insurance_episode"] == 2
    assert stored["insurance_envelope"] == 1
    async with app.state.sessionmaker() as session:
        kept = set((await session.scalars(select(InsuranceEpisode.ma_lk))).all())
    assert kept == {"LK-OUTPATIENT-0001", "LK-DAY-CASE-0001"}


async def test_a_passport_number_is_never_matched(client, app, insurer_hospital) -> None:
    status, body = await post(client, insurer_hospital, [pairs("outpatient", cccd="B1234567")])
    assert status == 422, body
    (episode,) = body["episodes"]
    assert episode["status"] == "rejected"
    assert any(p["field"] == "SO_CCCD" for p in episode["problems"])
    assert (await counts(app))["health_document"] == 0


async def test_hiv_care_is_kept_signed_but_never_reaches_the_book(
    client, app, insurer_hospital
) -> None:
    status, body = await post(client, insurer_hospital, [pairs("hiv")])
    assert status == 200, body
    (episode,) = body["episodes"]
    assert episode["status"] == "accepted"
    assert episode["restricted"] is True
    assert episode["outcome"] == "created"
    assert episode["entry_counts"] == {}
    stored = await counts(app)
    assert stored["health_document"] == 0
    assert stored["notification_outbox"] == 0
    assert stored["insurance_episode"] == 1
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(HealthEntry)) == 0
    status, body = await post(client, insurer_hospital, [pairs("hiv")])
    assert body["episodes"][0]["outcome"] == "unchanged"


async def test_the_citizen_finds_the_episode_in_the_book_export_and_signed_files(
    client, app, insurer_hospital, citizen
) -> None:
    status, body = await post(client, insurer_hospital, [pairs("reexam"), pairs("hiv")])
    assert status == 200, body
    tokens = await citizen(CCCD)
    headers = bearer(tokens["access_token"])

    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    assert len(visits["items"]) == 1
    for category in ("conditions", "medications", "observations"):
        page = await client.get(f"/citizens/me/health-book/{category}", headers=headers)
        assert page.status_code == 200
        assert page.json()["items"], category

    export = await client.get("/citizens/me/health-book/export", headers=headers)
    assert export.status_code == 200
    bundle = assert_valid_fhir(export.content)
    text = json.dumps(bundle, ensure_ascii=False)
    assert "LK-REEXAM-0001" in text or bundle["entry"]
    for marker in ("B20", "B24", "HIV", "ARV", "LK-HIV"):
        assert marker not in text, marker

    files = (await client.get("/citizens/me/health-book/insurance-files/", headers=headers)).json()
    assert [f["ma_lk"] for f in files] == ["LK-REEXAM-0001"]  # the HIV episode is not listed
    (listed,) = files
    assert listed["signed"] is True
    provenance = await client.get(
        f"/citizens/me/health-book/insurance-files/{listed['id']}/provenance", headers=headers
    )
    assert provenance.status_code == 200
    resource = assert_valid_fhir(provenance.content)
    assert resource["resourceType"] == "Provenance"
    assert resource["signature"][0]["sigFormat"] == "application/signature+xml"
    raw = await client.get(
        f"/citizens/me/health-book/insurance-files/{listed['id']}/file", headers=headers
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/xml")
    # the envelope also carried another episode: only this one's HOSO is sent
    assert raw.content.count(b"<HOSO>") == 1
    assert b"LOAIHOSO>XML6<" not in raw.content


async def test_a_patient_s_episode_refused_by_the_book_leaves_their_others_stored(
    client, app, insurer_hospital
) -> None:
    """Episodes of one patient share a transaction, each in a savepoint: one the book refuses
    (its MA_LK is another patient's document) leaves nothing behind — not its citizen, access
    log, push or episode row, nor the envelope row it would have carried — and the others of the
    same patient, before and after it, are stored."""
    other = "079" + CCCD[3:-1] + ("1" if CCCD[-1] != "1" else "2")
    status, body = await post(client, insurer_hospital, [pairs("outpatient", cccd=other)])
    assert status == 200, body
    before = await counts(app)

    status, body = await post(
        client,
        insurer_hospital,
        [
            pairs("outpatient"),  # LK-OUTPATIENT-0001: the other patient's document
            pairs("day_case"),
            pairs("chronic"),
        ],
    )
    assert status == 200, body
    assert [e["status"] for e in body["episodes"]] == ["rejected", "accepted", "accepted"]
    assert [e["outcome"] for e in body["episodes"][1:]] == ["created", "created"]
    (problem,) = body["episodes"][0]["problems"]
    assert problem["field"] == "MA_LK"
    assert "another patient" in problem["rule"]
    after = await counts(app)
    assert after["health_document"] == before["health_document"] + 2
    assert after["insurance_episode"] == before["insurance_episode"] + 2
    assert after["insurance_envelope"] == before["insurance_envelope"] + 1
    assert after["notification_outbox"] == before["notification_outbox"] + 2
    assert after["access_log"] == before["access_log"] + 2
    async with app.state.sessionmaker() as session:
        episodes = (
            await session.execute(select(InsuranceEpisode.ma_lk, InsuranceEpisode.citizen_id))
        ).all()
        documents = (await session.scalars(select(HealthDocument.citizen_id))).all()
    by_citizen: dict[object, set[str]] = {}
    for ma_lk, citizen_id in episodes:
        by_citizen.setdefault(citizen_id, set()).add(ma_lk)
    assert sorted(by_citizen.values(), key=len) == [
        {"LK-OUTPATIENT-0001"},
        {"LK-DAY-CASE-0001", "LK-CHRONIC-0001"},
    ]
    assert len(set(documents)) == 2
