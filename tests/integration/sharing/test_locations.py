"""The manifest's hot path: what one answer costs the database (statements and transactions),
its stateless file ``location`` (an HMAC over the link, the file and the expiry instead of a
ticket row), tickets handed out before, and the access log's chain under concurrent answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from api.health_book.audit import verify
from api.health_book.models import AccessLogEntry
from api.sharing import links
from api.sharing.models import ShareTicket
from tests.integration.sharing.conftest import in_days, path_of, share
from tests.support.fhir_samples import IPS


async def _manifest(client, shlink: str, recipient: str = "Dr. An", **body):
    payload = links.decode(shlink)
    return await client.post(path_of(payload.url), json={"recipient": recipient, **body})


@contextmanager
def _counting(app: Any) -> Iterator[dict[str, int]]:
    """The statements and the transactions the app's engine runs meanwhile."""
    engine = app.state.engine.sync_engine
    counts = {"statements": 0, "transactions": 0}

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    def begin(*_: Any) -> None:
        counts["transactions"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", begin)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", begin)


async def test_a_manifest_answer_is_one_transaction_of_few_statements(
    client, app, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock)
    # the first answer also marks the link opened and enqueues its owner's push
    assert (await _manifest(client, created["shlink"])).status_code == 200
    with _counting(app) as counts:
        answer = await _manifest(client, created["shlink"])
    assert answer.status_code == 200, answer.text
    assert "location" in answer.json()["files"][0]
    # the link's columns, the access-log row: one statement on PostgreSQL (the chain head's
    # upsert and the row in one CTE), three on SQLite (reserve, row, head). No ticket row.
    postgresql = app.state.engine.dialect.name == "postgresql"
    assert counts == {"statements": 2 if postgresql else 4, "transactions": 1}
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ShareTicket)) == 0


async def test_a_location_opens_its_own_file_only_while_valid(
    client, app, owner_of, clock, settings
) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock)
    first = (await _manifest(client, created["shlink"])).json()["files"][0]["location"]
    second = (await _manifest(client, created["shlink"])).json()["files"][0]["location"]
    assert first != second  # each answer's own (its log row's id is in it)
    fetched = await client.get(path_of(first))
    assert fetched.status_code == 200
    key = links.decode(created["shlink"]).key
    assert b'"resourceType"' in links.decrypt(key, fetched.text)
    token = first.rsplit("/", 1)[1]
    raw = bytearray(links.b64url_decode(token))
    for at in (0, 5, 40, len(raw) - 1):  # version, link id, expiry, MAC: each byte counts
        altered = bytearray(raw)
        altered[at] ^= 1
        forged = f"/shl/files/{links.b64url(bytes(altered))}"
        answer = await client.get(forged)
        assert answer.status_code == 404, at
        assert answer.headers["content-type"].startswith("application/problem+json")
    # a token made with another secret, or another purpose's key, opens nothing
    link_id = uuid.UUID(created["id"])
    expires = int(clock.now().timestamp()) + 60
    other = links.FileLocations("another-secret-0123456789abcdef0123456789")
    assert (
        await client.get(
            f"/shl/files/{other.issue(link_id, uuid.uuid4(), links.FHIR_JSON, expires)}"
        )
    ).status_code == 404
    mine = links.FileLocations(settings.security.identifier_hash_key or "")
    made = mine.issue(link_id, uuid.uuid4(), links.FHIR_JSON, expires)
    assert (await client.get(f"/shl/files/{made}")).status_code == 200  # the same derivation
    # valid at most SHARING_FILE_URL_SECONDS (300 by default)
    clock.advance(seconds=299)
    assert (await client.get(path_of(second))).status_code == 200
    clock.advance(seconds=1)
    assert (await client.get(path_of(second))).status_code == 404
    assert (await client.get("/shl/files/not-a-token")).status_code == 404


async def test_a_ticket_handed_out_before_still_opens_its_file_until_it_expires(
    client, app, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock)
    token = links.new_secret()
    async with app.state.sessionmaker() as session:
        session.add(
            ShareTicket(
                token=token,
                link_id=uuid.UUID(created["id"]),
                expires_at=clock.now() + dt.timedelta(seconds=60),
            )
        )
        await session.commit()
    assert (await client.get(f"/shl/files/{token}")).status_code == 200
    clock.advance(seconds=60)
    assert (await client.get(f"/shl/files/{token}")).status_code == 404


async def test_concurrent_answers_keep_the_access_log_chain_whole(
    client, app, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    made = [
        await share(client, headers, clock, expires_at=in_days(clock, 3), label=f"L{n}")
        for n in range(3)
    ]
    answers = await asyncio.gather(
        *(
            _manifest(client, made[n % 3]["shlink"], recipient=f"BS. Nguyễn Văn {n}")
            for n in range(24)
        )
    )
    assert all(answer.status_code == 200 for answer in answers)
    async with app.state.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(AccessLogEntry)
                .where(AccessLogEntry.actor_kind == "recipient")
                .order_by(AccessLogEntry.seq)
            )
        )
        report = await verify(session)
    assert len(rows) == 24
    assert sorted(row.actor_id for row in rows) == sorted(f"BS. Nguyễn Văn {n}" for n in range(24))
    assert report.ok, report.first_break
    # revoked: at once, the link and the locations it handed out
    location = answers[0].json()["files"][0]["location"]
    share_id = made[0]["id"]
    assert (
        await client.delete(f"/citizens/me/shares/{share_id}", headers=headers)
    ).status_code == 204
    assert (await client.get(path_of(location))).status_code == 404
    assert (await _manifest(client, made[0]["shlink"])).status_code == 404
