"""The whole service on a private PostgreSQL and Redis: ``healthbook serve``, ``healthbook worker``
and the fake FCM server, with callers made through the real API (an operator, a hospital with
slots, citizens with phones registered for push).

Tests that stop and start the backing servers, or signal the processes, build on this; the shared
servers on 5432 and 6379 are never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.core.settings import Settings
from api.db.migrate import upgrade_sync
from bench.scenarios import SetupContext
from bench.setups import admin_token
from tests.support.auth import ClientCredentials, bearer, client_token, login, register_provider
from tests.support.fake_fcm import FakeFcm
from tests.support.fhir_samples import IPS, sample_json
from tests.support.hospital import register_facility
from tests.support.idp import SigningKey, TestIdentityProvider
from tests.support.private_servers import PrivatePostgres, PrivateRedis, free_port
from tests.support.server import HEALTHBOOK

FACILITY = "01001"
NATIONAL_ID_SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"
FIRST_CITIZEN = 1_090_000_000
DOCUMENT_SYSTEM = "urn:healthbook:resilience"


class Process:
    """A ``healthbook`` command in a session of its own, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [HEALTHBOOK, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
        return entries

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """To the main process only, as an orchestrator does (not to its whole group)."""
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to the main process; SIGKILL to the group when it does not exit in time."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()
        return self.process.returncode

    def kill(self) -> None:
        self._kill_group()
        self.process.wait(10)

    def _kill_group(self) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_ready(base_url: str, process: Process, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not process.alive():
            code = process.process.returncode
            raise RuntimeError(f"server exited with {code}:\n{process.text()[-3000:]}")
        try:
            response = httpx.get(f"{base_url}/health/ready", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} not ready: {last}\n{process.text()[-3000:]}")


def wait_logged(process: Process, message: str, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if any(entry.get("msg") == message for entry in process.json_lines()):
            return
        if not process.alive():
            raise RuntimeError(f"{process.args[0]} exited:\n{process.text()[-3000:]}")
        time.sleep(0.05)
    raise TimeoutError(f"{message!r} not logged:\n{process.text()[-3000:]}")


@dataclass
class Citizen:
    national_id: str
    token: str
    id: str = ""
    devices: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Stack:
    """The running service, its backing servers and its callers."""

    pg: PrivatePostgres
    redis: PrivateRedis
    fcm: FakeFcm
    tmp: Path
    env: dict[str, str]
    settings: Settings
    base_url: str = ""
    api: Process | None = None
    workers: list[Process] = field(default_factory=list)
    hospital: dict[str, str] = field(default_factory=dict)
    citizens: list[Citizen] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)
    """Our slot id -> capacity."""

    # --- processes ---------------------------------------------------------------------------

    def start_api(self, **extra: str) -> Process:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(port), **extra}
        self.api = Process(["serve"], env, self.tmp / "api.log")
        wait_ready(self.base_url, self.api)
        return self.api

    def start_worker(self, **extra: str) -> Process:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        worker = Process(["worker"], {**self.env, **extra}, log)
        self.workers.append(worker)
        wait_logged(worker, "relay started")
        return worker

    def setup_context(self) -> SetupContext:
        return SetupContext(
            base_url=self.base_url,
            database_url=self.env["DATABASE_URL"],
            redis_url=self.env["REDIS_URL"],
            data_dir=Path(self.env["DATA_DIR"]),
            env=self.env,
        )

    # --- callers -----------------------------------------------------------------------------

    async def populate(self, *, citizens: int, devices: int, slots: int, capacity: int) -> None:
        """A hospital with department ``NOI`` and ``slots`` slots of ``capacity`` two days
        ahead; ``citizens`` citizens logged in, each with ``devices`` phones registered."""
        operator = admin_token(self.setup_context())  # an operator client made by the CLI
        admin = bearer(operator)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            await register_facility(http, operator, FACILITY)
            answer = await http.put(
                f"/admin/facilities/{FACILITY}/departments/NOI",
                json={"name": "Khoa Nội"},
                headers=admin,
            )
            assert answer.status_code in (200, 201), answer.text
            key = SigningKey("EdDSA")
            answer = await http.post(
                "/admin/clients",
                json={
                    "kind": "hospital",
                    "name": "resilience HIS",
                    "facility_id": FACILITY,
                    "jwks": {"keys": [key.jwk]},
                },
                headers=admin,
            )
            assert answer.status_code == 201, answer.text
            token_url = f"{self.env['PUBLIC_BASE_URL']}/auth/token"
            credentials = ClientCredentials(answer.json()["id"], key, token_url)
            self.hospital = bearer(await client_token(http, credentials))
            first = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
            body = {
                "slots": [
                    {
                        "id": f"R-{n}",
                        "department": "NOI",
                        "start": (first + dt.timedelta(minutes=15 * n)).isoformat(),
                        "end": (first + dt.timedelta(minutes=15 * n + 15)).isoformat(),
                        "capacity": capacity,
                    }
                    for n in range(slots)
                ]
            }
            answer = await http.put("/hospital/slots", json=body, headers=self.hospital)
            assert answer.status_code == 200, answer.text
            self.slots = {slot["slot_id"]: capacity for slot in answer.json()["slots"]}
            with TestIdentityProvider() as idp:
                await register_provider(http, operator, idp)
                for n in range(citizens):
                    number = f"{FIRST_CITIZEN + n:012d}"
                    tokens = await login(http, idp, number)
                    self.citizens.append(
                        await self._citizen(http, number, tokens["access_token"], devices)
                    )

    @staticmethod
    async def _citizen(
        http: httpx.AsyncClient, national_id: str, token: str, devices: int
    ) -> Citizen:
        citizen = Citizen(national_id=national_id, token=token)
        me = await http.get("/citizens/me", headers=citizen.headers)
        assert me.status_code == 200, me.text
        citizen.id = me.json()["id"]
        for n in range(devices):
            push_token = f"fcm-{uuid.uuid4().hex}{uuid.uuid4().hex}"
            answer = await http.put(
                f"/citizens/me/devices/installation-{n}",
                json={"token": push_token, "platform": "android"},
                headers=citizen.headers,
            )
            assert answer.status_code == 201, answer.text
            citizen.devices.append(push_token)
        return citizen

    def summary_for(self, citizen: Citizen, document_key: str) -> bytes:
        """A visit summary (the IPS sample and a visit) about ``citizen``, identified by
        ``document_key``."""
        bundle = sample_json(IPS)
        bundle["identifier"] = {"system": DOCUMENT_SYSTEM, "value": document_key}
        patient = ""
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Patient":
                resource["identifier"] = [
                    {"system": NATIONAL_ID_SYSTEM, "value": citizen.national_id}
                ]
                patient = entry["fullUrl"]
        # a visit, so the publish notifies the citizen ("new record")
        visit = str(uuid.uuid4())
        bundle["entry"].append(
            {
                "fullUrl": f"urn:uuid:{visit}",
                "resource": {
                    "resourceType": "Encounter",
                    "id": visit,
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "AMB",
                    },
                    "subject": {"reference": patient},
                    "period": {"start": "2025-03-01T08:00:00+07:00"},
                },
            }
        )
        return json.dumps(bundle).encode()

    def tokens_by_citizen(self) -> dict[str, list[str]]:
        return {citizen.id: citizen.devices for citizen in self.citizens}


@contextmanager
def service_stack(tmp: Path, **settings: str) -> Iterator[Stack]:
    """Private PostgreSQL and Redis, migrated, and the fake FCM server; the processes are
    started by the test (``start_api``, ``start_worker``) and always stopped here."""
    with ExitStack() as stack:
        pg = stack.enter_context(PrivatePostgres())
        redis = stack.enter_context(PrivateRedis())
        fcm = stack.enter_context(FakeFcm())
        database_url = pg.create_database("healthbook")
        upgrade_sync(database_url)
        data_dir = tmp / "data"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url(),
            "DATA_DIR": str(data_dir),
            "PUBLIC_BASE_URL": "http://healthbook.test",
            "IDENTIFIER_HASH_KEY": "resilience-identifier-hash-key-0123456789",
            "AUTO_MIGRATE": "false",
            "RATE_LIMIT_ENABLED": "false",
            "ACCESS_LOG": "false",
            "LOG_LEVEL": "INFO",
            "FCM_CREDENTIALS": str(fcm.write_service_account(tmp)),
            "FCM_ENDPOINT": fcm.base_url,
            "RELAY_POLL_SECONDS": "1",
            "APPOINTMENT_MAX_ACTIVE_PER_CITIZEN": "1000",
            **settings,
        }
        running = Stack(
            pg=pg,
            redis=redis,
            fcm=fcm,
            tmp=tmp,
            env=env,
            settings=Settings.from_env(env),
        )
        try:
            yield running
        finally:
            for worker in running.workers:
                worker.stop(timeout=20)
            if running.api is not None:
                running.api.stop(timeout=20)
