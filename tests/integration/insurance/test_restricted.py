"""Restricted episodes (HIV care XML6, TB treatment XML15, an HIV/TB diagnosis): nowhere in the
book until the citizen chooses to show them (``/citizens/me/health-book/restricted-data``), out
again at once when they stop; an episode re-sent restricted hidden whole; guardians' reads of
the signed files logged, and the choice left to the citizen alone."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from api.health_book.models import HealthDocument
from notifications.models import OutboxEntry
from tests.integration.insurance.conftest import FACILITY, xml_headers
from tests.support.auth import bearer
from tests.support.qd130 import CCCD, build_episode_files, episode_rows, table_xml
from tests.support.qd130_envelope import build_envelope

PATH = "/hospital/insurance-xml/"
CHOICE = "/citizens/me/health-book/restricted-data/"
FILES = "/citizens/me/health-book/insurance-files/"
HIV_MARKERS = ("B24", "Tenofovir", "LK-HIV")


def pairs(kind: str, **overrides: object) -> list[tuple[str, bytes]]:
    return list(build_episode_files(kind, **overrides).items())


def with_late_xml6(ma_lk: str) -> list[tuple[str, bytes]]:
    """An outpatient episode sent again with the HIV care table (XML6) it lacked."""
    xml6 = episode_rows("hiv", ma_lk=ma_lk)["XML6"]
    return [*pairs("outpatient", ma_lk=ma_lk), ("XML6", table_xml("XML6", xml6))]


async def post(client, hospital, episodes) -> dict:
    response = await client.post(
        PATH, content=build_envelope(FACILITY, episodes), headers=xml_headers(hospital)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def pushes(app) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(
            select(func.count())
            .select_from(OutboxEntry)
            .where(OutboxEntry.kind == "health_record_available")
        )


async def documents(app) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(HealthDocument))


async def book_text(client, headers) -> str:
    """Everything the citizen can read of their book, as one text."""
    parts = [(await client.get("/citizens/me/health-book", headers=headers)).text]
    for category in ("visits", "conditions", "medications", "observations"):
        parts.append(
            (await client.get(f"/citizens/me/health-book/{category}", headers=headers)).text
        )
    parts.append((await client.get("/citizens/me/health-book/export", headers=headers)).text)
    parts.append((await client.get(FILES, headers=headers)).text)
    return "\n".join(parts)


async def test_shown_only_while_the_citizen_chooses(client, app, insurer_hospital, citizen) -> None:
    await post(client, insurer_hospital, [pairs("reexam"), pairs("hiv")])
    headers = bearer((await citizen(CCCD))["access_token"])
    pushed = await pushes(app)

    choice = await client.get(CHOICE, headers=headers)
    assert choice.status_code == 200
    assert choice.json() == {"show": False, "changed_at": None}
    hidden = await client.get("/citizens/me/health-book", headers=headers)
    hidden_counts = hidden.json()["counts"]
    text = await book_text(client, headers)
    for marker in HIV_MARKERS:
        assert marker not in text, marker

    shown = await client.put(CHOICE, json={"show": True}, headers=headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["show"] is True
    assert shown.json()["changed_at"]
    assert (await client.get(CHOICE, headers=headers)).json()["show"] is True
    # the overview changed at once (its cached copy was dropped after the commit)
    again = await client.get(
        "/citizens/me/health-book", headers={**headers, "If-None-Match": hidden.headers["etag"]}
    )
    assert again.status_code == 200
    assert again.headers["etag"] != hidden.headers["etag"]
    counts = again.json()["counts"]
    assert counts["visits"] == hidden_counts["visits"] + 1
    assert counts["conditions"] > hidden_counts["conditions"]
    conditions = (await client.get("/citizens/me/health-book/conditions", headers=headers)).text
    assert "B24" in conditions
    export = await client.get("/citizens/me/health-book/export", headers=headers)
    assert "B24" in export.text
    files = (await client.get(FILES, headers=headers)).json()
    assert sorted((f["ma_lk"], f["restricted"]) for f in files) == [
        ("LK-HIV-0001", True),
        ("LK-REEXAM-0001", False),
    ]
    hiv_file = next(f for f in files if f["restricted"])
    provenance = f"{FILES}{hiv_file['id']}/provenance"
    assert (await client.get(provenance, headers=headers)).status_code == 200
    assert await pushes(app) == pushed  # never a push about HIV care, even shown
    follow_ups = (await client.get(f"{FILES}follow-ups", headers=headers)).text
    assert "LK-HIV" not in follow_ups

    hide = await client.put(CHOICE, json={"show": False}, headers=headers)
    assert hide.status_code == 200
    assert hide.json()["show"] is False
    after = await client.get(
        "/citizens/me/health-book", headers={**headers, "If-None-Match": again.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.json()["counts"] == hidden_counts
    text = await book_text(client, headers)
    for marker in HIV_MARKERS:
        assert marker not in text, marker
    assert (await client.get(provenance, headers=headers)).status_code == 404
    assert (await client.get(f"{FILES}{hiv_file['id']}/file", headers=headers)).status_code == 404

    log = (await client.get("/citizens/me/access-log", headers=headers)).json()["items"]
    changes = [e for e in log if e["action"] == "restricted_data"]
    assert len(changes) == 2
    assert all(e["actor_kind"] == "citizen" for e in changes)


async def test_an_episode_arriving_while_shown_enters_without_a_push(
    client, app, insurer_hospital, citizen
) -> None:
    headers = bearer((await citizen(CCCD))["access_token"])
    assert (await client.put(CHOICE, json={"show": True}, headers=headers)).status_code == 200
    body = await post(client, insurer_hospital, [pairs("tb")])
    (episode,) = body["episodes"]
    assert episode["restricted"] is True
    assert episode["entry_counts"] == {}  # the hospital learns nothing of the citizen's choice
    assert await pushes(app) == 0
    conditions = (await client.get("/citizens/me/health-book/conditions", headers=headers)).text
    assert "A15" in conditions
    assert (await client.put(CHOICE, json={"show": False}, headers=headers)).status_code == 200
    assert (
        "A15" not in (await client.get("/citizens/me/health-book/conditions", headers=headers)).text
    )
    assert await documents(app) == 0


async def test_a_late_xml6_hides_the_whole_episode(client, app, insurer_hospital, citizen) -> None:
    first = await post(client, insurer_hospital, [pairs("outpatient", ma_lk="LK-LATE-6")])
    assert first["episodes"][0]["outcome"] == "created"
    headers = bearer((await citizen(CCCD))["access_token"])
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    (visit,) = visits["items"]
    (file_v1,) = (await client.get(FILES, headers=headers)).json()

    second = await post(client, insurer_hospital, [with_late_xml6("LK-LATE-6")])
    (episode,) = second["episodes"]
    assert episode["restricted"] is True
    assert (episode["outcome"], episode["version"]) == ("new_version", 2)
    # the earlier, unrestricted version went with it: nothing of the episode is left in view
    overview = (await client.get("/citizens/me/health-book", headers=headers)).json()
    assert overview["counts"]["visits"] == 0
    assert overview["last_visits"] == []
    for category in ("visits", "conditions", "medications", "observations"):
        page = (await client.get(f"/citizens/me/health-book/{category}", headers=headers)).json()
        assert page["items"] == [], category
    assert (
        await client.get(f"/citizens/me/health-book/visits/{visit['id']}", headers=headers)
    ).status_code == 404
    assert (await client.get(FILES, headers=headers)).json() == []
    assert (
        await client.get(f"{FILES}{file_v1['id']}/provenance", headers=headers)
    ).status_code == 404
    export = (await client.get("/citizens/me/health-book/export", headers=headers)).text
    assert "LK-LATE-6" not in export
    assert await documents(app) == 0

    # shown, the episode is its latest (restricted) version, and both files are listed
    assert (await client.put(CHOICE, json={"show": True}, headers=headers)).status_code == 200
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    assert len(visits["items"]) == 1
    files = (await client.get(FILES, headers=headers)).json()
    assert sorted((f["version"], f["restricted"]) for f in files) == [(1, False), (2, True)]


async def test_an_episode_re_sent_without_its_restricted_tables_is_shown(
    client, app, insurer_hospital, citizen
) -> None:
    """The latest version decides: a version without HIV/TB care is shown; the restricted
    versions before it stay out of view."""
    first = await post(client, insurer_hospital, [with_late_xml6("LK-FIXED")])
    assert first["episodes"][0]["restricted"] is True
    headers = bearer((await citizen(CCCD))["access_token"])
    assert (await client.get(FILES, headers=headers)).json() == []

    second = await post(client, insurer_hospital, [pairs("outpatient", ma_lk="LK-FIXED")])
    (episode,) = second["episodes"]
    assert episode.get("restricted") in (None, False)
    assert (episode["outcome"], episode["version"]) == ("created", 2)
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    assert len(visits["items"]) == 1
    files = (await client.get(FILES, headers=headers)).json()
    assert [(f["version"], f["restricted"]) for f in files] == [(2, False)]
    # shown, the first (restricted) version is listed too
    assert (await client.put(CHOICE, json={"show": True}, headers=headers)).status_code == 200
    files = (await client.get(FILES, headers=headers)).json()
    assert sorted((f["version"], f["restricted"]) for f in files) == [(1, True), (2, False)]
    # the latest version is not restricted: showing adds nothing to the book
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    assert len(visits["items"]) == 1


async def _guardian_of_patient(client, admin_token, citizen) -> tuple[dict, dict, str, str]:
    patient = bearer((await citizen(CCCD))["access_token"])
    patient_id = (await client.get("/citizens/me", headers=patient)).json()["id"]
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": CCCD,
            "kind": "legal_representative",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await citizen("001085000001"))["access_token"])
    guardian_id = (await client.get("/citizens/me", headers=guardian)).json()["id"]
    return patient, guardian, patient_id, guardian_id


async def test_guardian_reads_of_the_signed_files_are_logged(
    client, app, insurer_hospital, citizen, admin_token
) -> None:
    await post(client, insurer_hospital, [pairs("reexam")])
    patient, guardian, patient_id, guardian_id = await _guardian_of_patient(
        client, admin_token, citizen
    )
    files = f"/citizens/{patient_id}/health-book/insurance-files/"
    listed = await client.get(files, headers=guardian)
    assert listed.status_code == 200
    (signed,) = listed.json()
    assert (
        await client.get(f"{files}{signed['id']}/provenance", headers=guardian)
    ).status_code == 200
    assert (await client.get(f"{files}{signed['id']}/file", headers=guardian)).status_code == 200
    assert (await client.get(f"{files}follow-ups", headers=guardian)).status_code == 200
    # the owner's own reads are not logged
    assert (await client.get(FILES, headers=patient)).status_code == 200
    log = (await client.get("/citizens/me/access-log", headers=patient)).json()["items"]
    reads = [(e["actor_kind"], e["actor_id"], e["resource"]) for e in log if e["action"] == "read"]
    assert sorted(reads) == sorted(
        [
            ("guardian", guardian_id, "insurance-files"),
            ("guardian", guardian_id, f"insurance-files/{signed['id']}/provenance"),
            ("guardian", guardian_id, f"insurance-files/{signed['id']}/file"),
            ("guardian", guardian_id, "insurance-files/follow-ups"),
        ]
    )


async def test_only_the_citizen_chooses_and_only_for_a_book_nobody_else_reads(
    client, app, insurer_hospital, citizen, admin_token
) -> None:
    await post(client, insurer_hospital, [pairs("hiv")])
    patient, guardian, patient_id, _ = await _guardian_of_patient(client, admin_token, citizen)
    theirs = f"/citizens/{patient_id}/health-book/restricted-data/"
    read = await client.get(theirs, headers=guardian)  # a guardian reads the choice (logged)
    assert read.status_code == 200
    assert read.json()["show"] is False
    response = await client.put(theirs, json={"show": True}, headers=guardian)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    log = (await client.get("/citizens/me/access-log", headers=patient)).json()["items"]
    assert any(
        e["actor_kind"] == "guardian" and e["resource"] == "health-book/restricted-data"
        for e in log
    )
    refused = await client.put(CHOICE, json={"show": True}, headers=patient)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(CHOICE, headers=patient)).json()["show"] is False
    text = (
        await client.get(f"/citizens/{patient_id}/health-book/conditions", headers=guardian)
    ).text
    assert "B24" not in text
    # hiding needs no such care
    assert (await client.put(CHOICE, json={"show": False}, headers=patient)).status_code == 200


async def test_a_bad_choice_is_a_problem(client, citizen) -> None:
    headers = bearer((await citizen(CCCD))["access_token"])
    for body in ({}, {"show": "yes"}, {"show": True, "everyone": True}, [True]):
        response = await client.put(CHOICE, json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert json.loads(response.text)["status"] == 400
    assert (await client.get(CHOICE, headers=headers)).json()["show"] is False
