"""Health documents are encrypted at rest (envelope, AES-256-GCM): the stored bytes hold none of
the patient's details, everything that reads them still works, keys rotate by re-wrapping, and
documents stored before encryption get encrypted by ``healthbook keys rewrap``."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from api.cli import main
from api.core.db import create_engine, create_sessionmaker
from api.core.encryption import (
    COMPRESS_MIN,
    MAGIC,
    MAGIC_DEFLATED,
    MARKERS,
    DocumentKeyError,
    DocumentKeys,
    attach_document_keys,
    document_keys,
    key_id_of,
    new_key_line,
)
from api.core.settings import Settings, SettingsError
from api.core.uow import UnitOfWork
from api.db.engine import open_sessionmaker
from api.db.rewrap import rewrap
from api.health_book.ingest import IngestConfig, publish
from api.health_book.models import HealthDocument
from tests.integration.health_book.conftest import patient_number
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import IPS, LEONOR, sample_bytes, sample_json
from tests.unit.test_progress import Recorder


async def book_changed(_citizen_id: object) -> None:
    """No overview to refresh: these tests read the stored columns."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests store documents deflated (DOCUMENT_DEFLATE=true); the default (off) is checked
    by ``test_documents_are_stored_as_the_previous_release_reads_them_by_default``."""
    return settings.replace(document_deflate=True)


KEY_A = "key-a:" + base64.b64encode(b"A" * 32).decode()
KEY_B = "key-b:" + base64.b64encode(b"B" * 32).decode()


def seeded_values(name: str) -> list[str]:
    """What the sample says about the person: name parts, identifiers, phone, address."""
    patient = next(
        e["resource"]
        for e in sample_json(name)["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    values = [patient_number(name)]
    for human in patient.get("name", []):
        values += [human["family"], *human.get("given", [])]
    values += [t["value"] for t in patient.get("telecom", [])]
    for address in patient.get("address", []):
        values += address.get("line", [])
    values += [i["value"] for i in patient.get("identifier", [])]
    return [value for value in values if len(value) >= 4]


async def raw_rows(engine: Any, table: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(text(f"SELECT * FROM {table}")))]


async def raw_column(engine: Any, table: str, column: str) -> list[bytes]:
    async with engine.connect() as connection:
        result = await connection.execute(text(f"SELECT {column} FROM {table}"))
        return [bytes(value) for (value,) in result]


def _all_documents() -> Any:
    return select(HealthDocument)


def as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


@pytest.mark.parametrize("sample", [IPS, LEONOR])
async def test_stored_documents_hold_no_plaintext(client, app, owner_of, sample) -> None:
    headers = await owner_of(sample)
    engine = app.state.engine
    bodies = await raw_column(engine, "health_document", "body")
    resources = await raw_column(engine, "health_entry", "resource")
    assert bodies
    assert resources
    assert all(value[: len(MAGIC)] in MARKERS for value in bodies + resources)
    # the document is deflated before it is encrypted: stored in a fraction of its size
    (body,) = bodies
    assert body.startswith(MAGIC_DEFLATED)
    assert len(body) < len(sample_bytes(sample)) / 3
    assert all(value.startswith(MAGIC) for value in resources)  # small: stored as they are
    needles = seeded_values(sample)
    assert needles
    for table in ("health_document", "health_entry"):
        for row in await raw_rows(engine, table):
            stored = " ".join(as_text(value) for value in row)
            for needle in needles:
                assert needle not in stored, f"{needle!r} stored in clear in {table}"
    # everything that reads the documents still sees them
    async with app.state.sessionmaker() as session:
        (document,) = (await session.scalars(_all_documents())).all()
        assert json.loads(document.body) == sample_json(sample)
    export = await client.get("/citizens/me/health-book/export", headers=headers)
    assert export.status_code == 200
    assert_valid_fhir(export.content)
    exported = export.text
    assert patient_number(sample) in exported
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    if visits["items"]:
        visit = visits["items"][0]["id"]
        fhir = await client.get(
            f"/citizens/me/health-book/visits/{visit}", params={"format": "fhir"}, headers=headers
        )
        assert fhir.status_code == 200
        assert_valid_fhir(fhir.content)
        assert fhir.json()["entry"][0]["resource"]["resourceType"] == "Encounter"


async def test_keys_rotate_by_rewrapping(client, app, hospital, settings) -> None:
    old = settings.replace(document_encryption_keys=[KEY_A])
    rotated = settings.replace(document_encryption_keys=[KEY_B, KEY_A])
    new_only = settings.replace(document_encryption_keys=[KEY_B])
    published_with = create_engine(old)
    reader = create_engine(rotated)
    engines = [published_with, reader]
    try:
        config = IngestConfig(
            identifier_key=settings.security.identifier_hash_key or "",
            national_id_systems=tuple(settings.fhir.national_id_systems),
            insurance_card_systems=tuple(settings.fhir.insurance_card_systems),
            max_bytes=settings.fhir.max_body_bytes,
            max_depth=settings.fhir.max_depth,
        )
        async with UnitOfWork(open_sessionmaker(published_with)) as uow:
            await publish(
                uow,
                sample_bytes(IPS),
                config=config,
                facility_id="01001",
                facility_name="BV",
                publisher="his",
                source="push",
                now=app.state.clock.now(),
                on_change=book_changed,
            )
        before = await raw_column(reader, "health_document", "body")
        assert [key_id_of(value) for value in before] == ["key-a"]

        # a process with the new key first still reads what the old one wrote
        async with create_sessionmaker(reader)() as session:
            (document,) = (await session.scalars(_all_documents())).all()
            assert json.loads(document.body) == sample_json(IPS)

        dry = await rewrap(reader, document_keys(rotated), dry_run=True)
        assert {r.column: (r.by_key, r.rewrapped) for r in dry}["health_document.body"] == (
            {"key-a": 1},
            1,
        )
        assert await raw_column(reader, "health_document", "body") == before
        progress = Recorder()
        reports = await rewrap(reader, document_keys(rotated), batch_size=2, progress=progress)
        entries = {r.column: r for r in reports}["health_entry.resource"]
        assert entries.rewrapped == entries.values == 3  # in batches of 2
        # the progress heard the number of values first, then each batch as it was done
        assert progress.total == progress.done == sum(r.values for r in reports)
        assert 2 in progress.steps
        assert max(progress.steps) == 2
        after = await raw_column(reader, "health_document", "body")
        assert [key_id_of(value) for value in after] == ["key-b"]
        # only the wrapped data key changed: the encrypted content is the same bytes
        assert after[0][-200:] == before[0][-200:]
        again = await rewrap(reader, document_keys(rotated))
        assert all(r.rewrapped == 0 and r.encrypted_plaintext == 0 for r in again)

        # the old key can go now
        only_new = create_engine(new_only)
        engines.append(only_new)
        async with create_sessionmaker(only_new)() as session:
            (document,) = (await session.scalars(_all_documents())).all()
            assert json.loads(document.body) == sample_json(IPS)
        # and without the new key nothing reads
        only_old = create_engine(old)
        engines.append(only_old)
        async with create_sessionmaker(only_old)() as session:
            with pytest.raises(DocumentKeyError, match="key-b"):
                (await session.scalars(_all_documents())).all()
    finally:
        for engine in engines:
            await engine.dispose()


async def test_documents_stored_before_encryption_are_read_then_encrypted(
    client, app, owner_of, settings
) -> None:
    headers = await owner_of(IPS)
    engine = app.state.engine
    plain = sample_bytes(IPS)
    async with engine.begin() as connection:  # as revision 0007 stored them
        await connection.execute(text("UPDATE health_document SET body = :b"), {"b": plain})
    assert await raw_column(engine, "health_document", "body") == [plain]
    export = await client.get("/citizens/me/health-book/export", headers=headers)
    assert export.status_code == 200

    env = {
        "DATABASE_URL": settings.effective_database_url,
        "REDIS_URL": settings.redis.url or "",
        "DATA_DIR": settings.data_dir,
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
        "DOCUMENT_DEFLATE": "true",
    }
    dry = await asyncio.to_thread(
        CliRunner().invoke, main, ["keys", "rewrap", "--dry-run"], env=env
    )
    assert dry.exit_code == 0, dry.output
    assert "health_document.body: 1 value(s) (plaintext=1); would rewrite 0 re-wrapped, 1 " in (
        dry.output
    )
    done = await asyncio.to_thread(CliRunner().invoke, main, ["keys", "rewrap"], env=env)
    assert done.exit_code == 0, done.output
    (stored,) = await raw_column(engine, "health_document", "body")
    assert stored.startswith(MAGIC_DEFLATED)  # encrypted as the column stores new ones
    assert b"DeLarosa" not in stored
    async with app.state.sessionmaker() as session:
        (document,) = (await session.scalars(_all_documents())).all()
        assert document.body == plain


def test_values_are_bound_to_their_column_and_tamper_evident() -> None:
    keys = DocumentKeys([("k1", b"K" * 32)])
    sealed = keys.seal(b'{"resourceType":"Patient"}', b"health_document.body")
    assert keys.open(sealed, b"health_document.body") == b'{"resourceType":"Patient"}'
    with pytest.raises(DocumentKeyError):
        keys.open(sealed, b"health_entry.resource")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DocumentKeyError, match="altered"):
        keys.open(flipped, b"health_document.body")
    # two seals of the same bytes share nothing (a fresh data key and nonce each)
    assert keys.seal(b"x", b"p")[-40:] != keys.seal(b"x", b"p")[-40:]


def test_key_settings(tmp_path: Path) -> None:
    line = new_key_line("20300101")
    assert line.startswith("20300101-")
    Settings.from_flat(document_encryption_keys=[line, KEY_A]).check()
    for bad in (["no-colon"], ["k:" + base64.b64encode(b"short").decode()], [KEY_A, KEY_A]):
        with pytest.raises(SettingsError, match="DOCUMENT_ENCRYPTION_KEYS"):
            Settings.from_flat(document_encryption_keys=bad).check()
    production = {
        "production": True,
        "database_url": "postgresql+asyncpg://u@h/db",
        "redis_url": "redis://h",
        "identifier_hash_key": "x" * 32,
        "signing_keys_dir": "/keys",
        "fcm_credentials": "/fcm.json",
    }
    with pytest.raises(SettingsError, match="PRODUCTION needs DOCUMENT_ENCRYPTION_KEYS"):
        Settings.from_flat(**production).check()
    Settings.from_flat(**production, document_encryption_keys=[KEY_A]).check()
    # embedded: one key generated into DATA_DIR, the same for every process that opens it
    embedded = Settings(data_dir=str(tmp_path / "data"))
    first, second = document_keys(embedded), document_keys(embedded)
    assert first.key_ids == second.key_ids
    assert (tmp_path / "data" / "document-keys").stat().st_mode & 0o777 == 0o600


def test_documents_are_deflated_before_encryption_and_small_or_dense_values_are_not() -> None:
    keys = DocumentKeys([("k1", b"K" * 32)])
    purpose = b"health_document.body"
    document = sample_bytes(LEONOR)
    assert keys.seal(document, purpose).startswith(MAGIC)  # a column that does not deflate
    sealed = keys.seal(document, purpose, deflate=True)
    assert sealed.startswith(MAGIC_DEFLATED)
    assert len(sealed) < len(document) / 10  # 1 MB of FHIR JSON in under 100 KB
    assert keys.open(sealed, purpose) == document
    small = b'{"resourceType":"Patient"}'
    assert len(small) < COMPRESS_MIN
    assert keys.seal(small, purpose, deflate=True).startswith(MAGIC)
    dense = os.urandom(4096)  # random bytes do not deflate smaller
    sealed_dense = keys.seal(dense, purpose, deflate=True)
    assert sealed_dense.startswith(MAGIC)
    assert keys.open(sealed_dense, purpose) == dense
    # the marker is authenticated: claiming a deflated value is plain (or the reverse) fails
    for value, other in ((sealed, MAGIC), (sealed_dense, MAGIC_DEFLATED)):
        with pytest.raises(DocumentKeyError, match="altered"):
            keys.open(other + value[len(MAGIC) :], purpose)


def test_rewrapping_keeps_a_deflated_value_as_it_is() -> None:
    old = DocumentKeys([("key-a", b"A" * 32)])
    rotated = DocumentKeys([("key-b", b"B" * 32), ("key-a", b"A" * 32)])
    document = sample_bytes(IPS)
    sealed = old.seal(document, b"health_document.body", deflate=True)
    assert sealed.startswith(MAGIC_DEFLATED)
    rewrapped = rotated.rewrap(sealed, b"health_document.body")
    assert rewrapped is not None
    assert rewrapped.startswith(MAGIC_DEFLATED)
    assert key_id_of(rewrapped) == "key-b"
    assert rewrapped[-len(sealed) + 100 :] == sealed[-len(sealed) + 100 :]  # content untouched
    assert DocumentKeys([("key-b", b"B" * 32)]).open(rewrapped, b"health_document.body") == (
        document
    )


def test_documents_are_stored_as_the_previous_release_reads_them_by_default(tmp_path: Path) -> None:
    """Until DOCUMENT_DEFLATE is turned on, even the deflating column writes ``HBE1`` (what a
    release before deflating reads): a rolling update or a rollback mixes the two safely."""
    keys_line = new_key_line("t")
    off = document_keys(
        Settings.from_flat(data_dir=str(tmp_path), document_encryption_keys=[keys_line])
    )
    on = document_keys(
        Settings.from_flat(
            data_dir=str(tmp_path), document_encryption_keys=[keys_line], document_deflate=True
        )
    )
    column = HealthDocument.__table__.c.body.type
    engine = type("Engine", (), {"dialect": type("Dialect", (), {})()})()
    dialect = engine.dialect
    document = sample_bytes(LEONOR)
    attach_document_keys(engine, off)
    stored_off = column.process_bind_param(document, dialect)
    assert stored_off.startswith(MAGIC)
    attach_document_keys(engine, on)
    stored_on = column.process_bind_param(document, dialect)
    assert stored_on.startswith(MAGIC_DEFLATED)
    # either release configuration reads both
    for keys in (off, on):
        attach_document_keys(engine, keys)
        assert column.process_result_value(stored_off, dialect) == document
        assert column.process_result_value(stored_on, dialect) == document
    assert Settings.from_env({"DOCUMENT_DEFLATE": "true"}).security.document_deflate is True
    assert Settings().security.document_deflate is False
