"""SMART Health Links beyond the manifest: the ``U`` flag (the URL is the file), the polling
limit of long-term links, the owner's push on a link's first access, and the sweep of expired
and revoked links."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import subprocess
import time
import uuid

import pytest
from sqlalchemy import func, select

from api.app import create_app
from api.runtime import Runtime
from api.sharing import links
from api.sharing.models import ShareLink, ShareTicket
from notifications import messages
from notifications.models import OutboxEntry
from notifications.policy import suppression
from tests.integration.sharing.conftest import SHARES, in_days, path_of, share
from tests.support.cli import cli_env, run_cli_async
from tests.support.fhir_samples import IPS
from tests.support.running import app_client
from tests.support.server import HEALTHBOOK


async def _manifest(client, payload: links.Payload, **body):
    return await client.post(path_of(payload.url), json={"recipient": "Dr. An", **body})


async def _direct(client, payload: links.Payload, recipient: str | None = "Dr. An"):
    params = {} if recipient is None else {"recipient": recipient}
    return await client.get(path_of(payload.url), params=params)


async def _rows(app, model, *where):
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(model).where(*where))).all())


# --- U ----------------------------------------------------------------------------------------


async def test_a_direct_link_is_flag_u_and_its_url_answers_the_file(
    client, app, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock, direct=True, label="Trực tiếp")
    assert created["flag"] == "U"
    payload = links.decode(created["shlink"])
    assert payload.flag == "U"
    answer = await _direct(client, payload, "BS. Trần Thị Bình")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/jose")
    assert answer.headers["cache-control"] == "no-store"
    header = json.loads(links.b64url_decode(answer.text.split(".")[0]))
    assert header == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json", "zip": "DEF"}
    bundle = json.loads(links.decrypt(payload.key, answer.text))
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "document"
    # written to the access log like a manifest answer
    log = (await client.get("/citizens/me/access-log", headers=headers)).json()["items"]
    recipient_reads = [e for e in log if e["actor_kind"] == "recipient"]
    assert [(e["actor_id"], e["resource"]) for e in recipient_reads] == [
        ("BS. Trần Thị Bình", "health-book/export/ips")
    ]
    # L and U together, in alphabetical order; the content follows the book
    both = links.decode(
        (await share(client, headers, clock, direct=True, long_term=True))["shlink"]
    )
    assert both.flag == "LU"
    first, second = (await _direct(client, both)).text, (await _direct(client, both)).text
    assert first.split(".")[2] != second.split(".")[2]  # encrypted afresh, a new IV
    assert json.loads(links.decrypt(both.key, second))["type"] == "document"


async def test_u_never_goes_with_a_passcode(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    refused = await client.post(
        SHARES,
        json={"expires_at": in_days(clock, 1), "direct": True, "passcode": "2468"},
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["direct"]
    assert (await client.get(SHARES, headers=headers)).json()["items"] == []
    with pytest.raises(links.PayloadError):
        links.flags(long_term=False, passcode=True, direct=True)
    with pytest.raises(links.PayloadError):
        links.encode(
            url="https://h.example/shl/x", key=links.new_key(), exp=None, flag="PU", label=None
        )


async def test_the_get_form_needs_a_recipient_and_a_u_link(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    direct = links.decode((await share(client, headers, clock, direct=True))["shlink"])
    missing = await _direct(client, direct, None)
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in missing.json()["errors"]] == ["recipient"]
    assert (await _direct(client, direct, "")).status_code == 400
    # a link without U is read by POST only: its GET form does not exist (404, as unknown)
    plain = links.decode((await share(client, headers, clock))["shlink"])
    refused = await _direct(client, plain)
    assert refused.status_code == 404
    assert refused.json()["type"].endswith("/problems/share-link-not-found")
    assert (
        await client.get("/shl/" + links.new_secret(), params={"recipient": "x"})
    ).status_code == 404
    # nothing of that reached the access log
    log = (await client.get("/citizens/me/access-log", headers=headers)).json()["items"]
    assert not [e for e in log if e["actor_kind"] == "recipient"]
    # a U link's manifest still answers (its one file), for clients that POST anyway
    assert (await _manifest(client, direct)).status_code == 200


async def test_a_revoked_or_expired_u_link_answers_404(client, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock, direct=True, expires_at=in_days(clock, 1 / 24))
    payload = links.decode(created["shlink"])
    assert (await _direct(client, payload)).status_code == 200
    clock.advance(hours=1)
    assert (await _direct(client, payload)).status_code == 404
    other = await share(client, headers, clock, direct=True)
    revoked = links.decode(other["shlink"])
    assert (await client.delete(f"{SHARES}/{other['id']}", headers=headers)).status_code == 204
    assert (await _direct(client, revoked)).status_code == 404


# --- polling ----------------------------------------------------------------------------------


async def test_polling_a_long_term_link_too_often_answers_429(client, owner_of, clock) -> None:
    """SHARING_POLL_SECONDS 10, SHARING_POLL_BURST 6: six answers in any 60 s per link."""
    headers = await owner_of(IPS)
    polled = links.decode(
        (await share(client, headers, clock, long_term=True, passcode="2468"))["shlink"]
    )
    for _ in range(6):
        assert (await _manifest(client, polled, passcode="2468")).status_code == 200
    refused = await _manifest(client, polled, passcode="2468")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["retry-after"] == "60"
    assert refused.json()["type"].endswith("/problems/rate-limited")
    assert refused.json()["status"] == 429
    # a wrong passcode is answered by its own counter, never by the polling limit
    wrong = await _manifest(client, polled, passcode="0000")
    assert wrong.status_code == 401
    assert wrong.json()["remainingAttempts"] == 9
    # the refused request did not count: past the window the link answers again
    clock.advance(seconds=30)
    assert (await _manifest(client, polled, passcode="2468")).status_code == 429
    clock.advance(seconds=31)
    assert (await _manifest(client, polled, passcode="2468")).status_code == 200
    # the U form of an L link shares the budget
    direct = links.decode(
        (await share(client, headers, clock, long_term=True, direct=True))["shlink"]
    )
    answers = [await _direct(client, direct) for _ in range(4)]
    answers += [await _manifest(client, direct) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 6 + [429]
    # each link has its own budget; links that are not long-term are not limited
    other = links.decode((await share(client, headers, clock, long_term=True))["shlink"])
    assert (await _manifest(client, other)).status_code == 200
    once = links.decode((await share(client, headers, clock))["shlink"])
    assert {(await _manifest(client, once)).status_code for _ in range(12)} == {200}


@pytest.mark.parametrize("backend", ["servers"], indirect=True)  # a Redis both apps reach
async def test_the_polling_limit_holds_across_api_processes(
    client, owner_of, clock, settings
) -> None:
    headers = await owner_of(IPS)
    polled = links.decode((await share(client, headers, clock, long_term=True))["shlink"])
    async with app_client(create_app(settings, clock=clock)) as second:
        statuses = [(await _manifest(http, polled)).status_code for http in (client, second) * 4]
    assert statuses == [200] * 6 + [429, 429]


async def test_polling_can_be_switched_off(owner_of, client, clock, settings) -> None:
    headers = await owner_of(IPS)
    polled = links.decode((await share(client, headers, clock, long_term=True))["shlink"])
    unlimited = create_app(settings.replace(sharing_poll_seconds=0), clock=clock)
    async with app_client(unlimited) as http:
        assert {(await _manifest(http, polled)).status_code for _ in range(10)} == {200}


# --- first access -----------------------------------------------------------------------------


async def test_the_first_access_pushes_the_owner_exactly_once(client, app, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    owner_id = (await client.get("/citizens/me", headers=headers)).json()["id"]
    created = await share(client, headers, clock, label="Cho bác sĩ")
    payload = links.decode(created["shlink"])
    assert await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened") == []
    # a refused request is no access
    assert (await client.post(path_of(payload.url), json={})).status_code == 400
    assert await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened") == []
    # many first requests at once: one push
    answers = await asyncio.gather(
        *(client.post(path_of(payload.url), json={"recipient": f"Dr. {i}"}) for i in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    (pushed,) = await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened")
    assert str(pushed.citizen_id) == owner_id
    assert pushed.dedupe_key == f"share:{created['id']}:opened"
    message = messages.from_payload(pushed.payload)
    assert isinstance(message, messages.ShareOpened)
    assert message.share_id == created["id"]
    assert message.label == "Cho bác sĩ"
    assert message.recipient.startswith("Dr. ")
    assert message.opened_at == clock.now()
    (link,) = await _rows(app, ShareLink, ShareLink.id == uuid.UUID(created["id"]))
    assert link.first_accessed_at == clock.now()
    # later accesses push nothing more
    clock.advance(minutes=5)
    assert (await _manifest(client, payload)).status_code == 200
    assert len(await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened")) == 1
    # a U link's first GET pushes too, once
    direct = links.decode((await share(client, headers, clock, direct=True))["shlink"])
    await asyncio.gather(*(_direct(client, direct) for _ in range(5)))
    assert len(await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened")) == 2
    # it is informational: the citizen's quiet hours hold it back like the other such pushes
    assert (
        suppression(
            message,
            muted_kinds=None,
            quiet_start="00:00",
            quiet_end="23:59",
            timezone="Asia/Ho_Chi_Minh",
            now=clock.now(),
        )
        == "quiet_hours"
    )


async def test_a_wrong_passcode_is_no_first_access(client, app, owner_of, clock) -> None:
    headers = await owner_of(IPS)
    payload = links.decode((await share(client, headers, clock, passcode="2468"))["shlink"])
    assert (await _manifest(client, payload, passcode="1111")).status_code == 401
    assert (await _manifest(client, payload)).status_code == 401
    assert await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened") == []
    assert (await _manifest(client, payload, passcode="2468")).status_code == 200
    assert len(await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened")) == 1


async def test_a_childs_link_pushes_the_child_whose_guardians_get_it(
    client, app, owner_of, clock, admin_token, idp
) -> None:
    """Notices about a dependent's book are enqueued for the dependent; the relay sends them to
    the dependent's current guardians too (as for new records)."""
    from tests.integration.health_book.conftest import patient_number
    from tests.support.auth import bearer, login

    child = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    created = await share(client, guardian, clock, path=f"/citizens/{child_id}/shares")
    assert (await _manifest(client, links.decode(created["shlink"]))).status_code == 200
    (pushed,) = await _rows(app, OutboxEntry, OutboxEntry.kind == "share_opened")
    assert str(pushed.citizen_id) == child_id


# --- sweep ------------------------------------------------------------------------------------


async def test_the_sweep_erases_expired_and_revoked_links_content(
    client, app, owner_of, clock, settings
) -> None:
    headers = await owner_of(IPS)
    expiring = await share(
        client, headers, clock, expires_at=in_days(clock, 1), long_term=True, passcode="2468"
    )
    revoked = await share(client, headers, clock, direct=True)
    alive = await share(client, headers, clock, expires_at=in_days(clock, 30))
    location = (await _manifest(client, links.decode(alive["shlink"]))).json()["files"][0][
        "location"
    ]
    await _manifest(client, links.decode(revoked["shlink"]))
    # file tickets handed out before locations were stateless (one each, valid 300 s): the sweep
    # still deletes them
    async with app.state.sessionmaker() as session:
        for link in (alive, revoked):
            session.add(
                ShareTicket(
                    token=links.new_secret(),
                    link_id=uuid.UUID(link["id"]),
                    expires_at=clock.now() + dt.timedelta(seconds=300),
                )
            )
        await session.commit()
    assert (await client.delete(f"{SHARES}/{revoked['id']}", headers=headers)).status_code == 204
    # SHARING_SWEEP_AFTER_DAYS 2: two days after they stopped working
    runtime = Runtime(settings.replace(sharing_sweep_after_days=2), clock=clock)
    sharing = runtime.sharing
    try:
        clock.advance(days=2)
        result = await sharing.sweep()
        # the revoked one; and every ticket past its 300 s (the revoked link's, the alive one's)
        assert (result.links, result.tickets) == (1, 2)
        clock.advance(days=1)
        result = await sharing.sweep()
        assert (result.links, result.tickets) == (1, 0)  # the expired one
        assert (await sharing.sweep()).links == 0  # nothing twice
    finally:
        await runtime.stop()
    rows = {str(row.id): row for row in await _rows(app, ShareLink)}
    for gone in (expiring["id"], revoked["id"]):
        row = rows[gone]
        assert row.jwe is None
        assert row.key is None
        assert row.passcode_hash is None
        assert row.swept_at is not None
    assert rows[alive["id"]].jwe is not None
    assert rows[alive["id"]].swept_at is None
    assert await _rows(app, ShareTicket) == []
    # the rows stay for the citizen's list, with their status
    listed = {
        s["id"]: s["status"] for s in (await client.get(SHARES, headers=headers)).json()["items"]
    }
    assert listed == {expiring["id"]: "expired", revoked["id"]: "revoked", alive["id"]: "active"}
    # and every way in answers 404
    assert (
        await _manifest(client, links.decode(expiring["shlink"]), passcode="2468")
    ).status_code == 404
    assert (await _direct(client, links.decode(revoked["shlink"]))).status_code == 404
    assert (await client.get(path_of(location))).status_code == 404
    assert (await _manifest(client, links.decode(alive["shlink"]))).status_code == 200


async def test_the_sweep_at_the_default_retention_takes_links_at_once(
    client, app, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock, expires_at=in_days(clock, 1 / 24))
    sharing = app.state.runtime.sharing
    assert (await sharing.sweep()).links == 0  # still active
    clock.advance(hours=1)
    assert (await sharing.sweep()).links == 1
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(ShareLink).where(ShareLink.jwe.is_not(None))
        )
    assert count == 0
    assert created["id"] in {
        s["id"] for s in (await client.get(SHARES, headers=headers)).json()["items"]
    }


async def test_healthbook_shares_sweep_runs_as_a_command_of_its_own(
    client, app, owner_of, clock, settings
) -> None:
    """``healthbook shares sweep`` in its own process, on the same database (its own clock:
    a link revoked now is due at the default retention of 0 days)."""
    headers = await owner_of(IPS)
    revoked = await share(client, headers, clock, passcode="2468")
    alive = await share(client, headers, clock)
    assert (await client.delete(f"{SHARES}/{revoked['id']}", headers=headers)).status_code == 204
    result = await run_cli_async(settings, "shares", "sweep")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "swept 1 link(s), deleted 0 file ticket(s)"
    rows = {str(row.id): row for row in await _rows(app, ShareLink)}
    assert rows[revoked["id"]].jwe is None
    assert rows[revoked["id"]].passcode_hash is None
    assert rows[revoked["id"]].swept_at is not None
    assert rows[alive["id"]].jwe is not None
    again = await run_cli_async(settings, "shares", "sweep")
    assert again.stdout.strip() == "swept 0 link(s), deleted 0 file ticket(s)"
    assert (await _manifest(client, links.decode(alive["shlink"]))).status_code == 200
    refused = await _manifest(client, links.decode(revoked["shlink"]), passcode="2468")
    assert refused.status_code == 404


@pytest.mark.parametrize("backend", ["servers"], indirect=True)
async def test_healthbook_worker_sweeps_periodically(
    client, app, owner_of, clock, settings, tmp_path
) -> None:
    headers = await owner_of(IPS)
    revoked = await share(client, headers, clock)
    assert (await client.delete(f"{SHARES}/{revoked['id']}", headers=headers)).status_code == 204
    env = cli_env(settings, TMPDIR=str(tmp_path), SHARING_SWEEP_INTERVAL_SECONDS="10")
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [HEALTHBOOK, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        swept = None
        while time.monotonic() < deadline and swept is None:
            await asyncio.sleep(0.5)
            (row,) = await _rows(app, ShareLink, ShareLink.id == uuid.UUID(revoked["id"]))
            swept = row.swept_at
        assert swept is not None, (tmp_path / "worker.log").read_text()[-2000:]
        assert row.jwe is None
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
