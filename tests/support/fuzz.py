"""Schema-driven fuzzing with schemathesis, as each kind of caller, against seeded data.

Used by ``tests/integration/test_fuzz.py`` (in-process ASGI, bounded) and by ``make fuzz`` (the
same test with more examples, in-process or against ``healthbook serve`` on loopback).

The flow: the first operator client is made in the database (as ``healthbook clients create``
does); everything else is seeded over the API — facility ``01001`` with two departments, its
hospital and kiosk clients, a week of slots, a citizen with a dependent, appointments for both
(one soon enough to check in), a published visit summary, a registered phone. Then schemathesis
runs every phase (examples, coverage, fuzzing, stateful) once per caller kind with that caller's
token, path parameters pinned to the seeded ids so generated requests reach real code paths, and
the checks the acceptance names. Each failure is reported with the request that caused it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.engine import from_schema as engine_for

from api.core.settings import Settings
from api.health_book.docs import VISIT_SUMMARY_EXAMPLE
from tests.support.auth import ID_TOKEN_TYPE, TOKEN_EXCHANGE, ClientCredentials
from tests.support.idp import SigningKey, TestIdentityProvider

FACILITY = "01001"
DEPARTMENTS = {"NOI": "Khoa Nội", "NHI": "Khoa Nhi"}
CITIZEN = "001090000001"
DEPENDENT = "001218000003"
DEPENDENT_BIRTH = "2018-06-01"
HANOI = dt.timezone(dt.timedelta(hours=7))
CALLERS = ("anonymous", "citizen", "dependent", "hospital", "kiosk", "admin")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
SCHEMA_PATH = "/schema/openapi.json"
# schemathesis' default statuses that count as refusing invalid data
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]


@dataclass
class Budget:
    """How much to generate: ``FUZZ_MAX_EXAMPLES`` (per operation and phase) and
    ``FUZZ_STATEFUL_STEPS``, small in the test suite, larger for ``make fuzz``."""

    max_examples: int = 6
    stateful_steps: int = 8
    seed: int = 20261122

    @classmethod
    def from_env(cls) -> Budget:
        budget = cls()
        budget.max_examples = int(os.environ.get("FUZZ_MAX_EXAMPLES", budget.max_examples))
        budget.stateful_steps = int(os.environ.get("FUZZ_STATEFUL_STEPS", budget.stateful_steps))
        budget.seed = int(os.environ.get("FUZZ_SEED", budget.seed))
        return budget


class Api:
    """A synchronous client on the app: schemathesis' in-process ASGI session, or HTTP."""

    def __init__(self, session: requests.Session, base_url: str = "") -> None:
        self.session = session
        self.base_url = base_url

    def call(
        self, method: str, path: str, *, token: str | None = None, expect: int | tuple[int, ...]
    ) -> Callable[..., Any]:
        def send(**kwargs: Any) -> Any:
            headers = dict(kwargs.pop("headers", {}))
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = self.session.request(
                method, self.base_url + path, headers=headers, timeout=30, **kwargs
            )
            wanted = (expect,) if isinstance(expect, int) else expect
            assert response.status_code in wanted, (
                f"seeding {method} {path}: {response.status_code} {response.text[:500]}"
            )
            return response.json() if response.content else None

        return send

    def token(self, credentials: ClientCredentials) -> str:
        return self.call("POST", "/auth/token", expect=200)(data=credentials.form())["access_token"]


@dataclass
class Seeded:
    tokens: dict[str, str | None]
    """Each caller kind's access token (None: anonymous)."""
    dependent_id: str
    appointments: dict[str, str]
    document_id: str


def create_admin(settings: Settings) -> ClientCredentials:
    """The first operator client, in the database directly (the app need not be running)."""
    from api.identity.schemas import ClientCreate
    from api.runtime import Runtime

    key = SigningKey("EdDSA")

    async def create() -> str:
        async with Runtime(settings) as runtime:
            view = await runtime.identity_registry.create_client(
                ClientCreate(kind="admin", name="fuzz operator", jwks={"keys": [key.jwk]})
            )
            return view.id

    return ClientCredentials(asyncio.run(create()), key, settings.token_endpoint)


def _client(api: Api, admin: str, kind: str, token_url: str) -> ClientCredentials:
    key = SigningKey("EdDSA")
    view = api.call("POST", "/admin/clients", token=admin, expect=201)(
        json={
            "kind": kind,
            "name": f"fuzz {kind}",
            "facility_id": FACILITY,
            "jwks": {"keys": [key.jwk]},
        }
    )
    return ClientCredentials(view["id"], key, token_url)


def _slots(now: dt.datetime) -> list[dict[str, Any]]:
    """One slot starting in 40 minutes (check-in opens 60 before), the rest over the week."""
    starts = [now + dt.timedelta(minutes=40)] + [
        now + dt.timedelta(days=day, hours=hour) for day in (1, 2, 3) for hour in (0, 3)
    ]
    slots = []
    for index, start in enumerate(starts):
        start = start.astimezone(HANOI).replace(second=0, microsecond=0)
        slots.append(
            {
                "id": f"FZ-{index:02d}",
                "department": "NOI" if index % 2 == 0 else "NHI",
                "service": "Khám tổng quát",
                "start": start.isoformat(),
                "end": (start + dt.timedelta(minutes=20)).isoformat(),
                "capacity": 50,
            }
        )
    return slots


def seed(
    api: Api, settings: Settings, idp: TestIdentityProvider, admin: ClientCredentials
) -> Seeded:
    token_url = settings.token_endpoint
    admin_token = api.token(admin)
    as_admin = {"token": admin_token}
    api.call("PUT", "/admin/identity-providers/fuzz-idp", **as_admin, expect=(200, 201))(
        json=idp.provider_body("fuzz-idp")
    )
    api.call("PUT", f"/admin/facilities/{FACILITY}", **as_admin, expect=(200, 201))(
        json={"name": "Bệnh viện Đa khoa Tỉnh", "province": "Hà Nội"}
    )
    for code, name in DEPARTMENTS.items():
        api.call(
            "PUT", f"/admin/facilities/{FACILITY}/departments/{code}", **as_admin, expect=(200, 201)
        )(json={"name": name, "room": "P.101"})
    hospital = api.token(_client(api, admin_token, "hospital", token_url))
    kiosk = api.token(_client(api, admin_token, "kiosk", token_url))

    published = api.call("PUT", "/hospital/slots", token=hospital, expect=200)(
        json={"slots": _slots(dt.datetime.now(dt.UTC))}
    )
    slot_ids = [outcome["slot_id"] for outcome in published["slots"]]

    login = api.call("POST", "/auth/token", expect=200)(
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token_type": ID_TOKEN_TYPE,
            "subject_token": idp.id_token(
                CITIZEN,
                dependents=[{"national_id": DEPENDENT, "birthdate": DEPENDENT_BIRTH}],
            ),
        }
    )
    citizen = login["access_token"]
    me = api.call("GET", "/citizens/me", token=citizen, expect=200)()
    dependent_id = me["dependents"][0]["id"]

    def book(who: str, slot: str) -> str:
        return api.call("POST", f"/citizens/{who}/appointments", token=citizen, expect=201)(
            json={"slot_id": slot}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )["id"]

    appointments = {
        "soon": book("me", slot_ids[0]),
        "later": book("me", slot_ids[1]),
        "dependent": book(dependent_id, slot_ids[2]),
    }
    api.call("PUT", "/citizens/me/devices/fuzz-phone", token=citizen, expect=(200, 201))(
        json={"token": "fuzz-fcm-token-0123456789abcdef", "platform": "android", "locale": "vi"}
    )
    document = api.call("POST", "/hospital/summaries", token=hospital, expect=(200, 201))(
        json=VISIT_SUMMARY_EXAMPLE, headers={"content-type": "application/fhir+json"}
    )
    return Seeded(
        tokens={
            "anonymous": None,
            "citizen": citizen,
            "dependent": citizen,
            "hospital": hospital,
            "kiosk": kiosk,
            "admin": admin_token,
        },
        dependent_id=dependent_id,
        appointments=appointments,
        document_id=document["document_id"],
    )


def pinned_parameters(caller: str, seeded: Seeded) -> dict[str, Any]:
    """Path parameters held at seeded values for a caller, so requests reach real rows."""
    facility = {"facility_id": FACILITY, "department": "NOI", "code": "NOI"}
    if caller in ("citizen", "dependent"):
        who = "me" if caller == "citizen" else seeded.dependent_id
        appointment = seeded.appointments["soon" if caller == "citizen" else "dependent"]
        return {
            **facility,
            "path.citizen_id": who,
            "path.appointment_id": appointment,
            "path.installation_id": "fuzz-phone",
        }
    if caller in ("hospital", "kiosk", "anonymous"):
        return {**facility, "path.document_id": seeded.document_id}
    return {}


# Where each caller's boundary cases (the coverage phase, most of the run's requests) are spent:
# its own routes; the public ones once, anonymously. Examples, fuzzing and the stateful phase
# still call every operation as every caller.
OWN_PATHS = {
    "citizen": ("/citizens/", "/auth/logout"),
    "dependent": ("/citizens/",),
    "hospital": ("/hospital/",),
    "kiosk": ("/kiosk/",),
    "admin": ("/admin/",),
}


def not_own_operations(caller: str, document: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for path, item in document["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            if caller == "anonymous":
                own = not operation.get("security")
            else:
                own = path.startswith(OWN_PATHS[caller])
            if not own:
                ids.append(operation["operationId"])
    return ids


def config_for(
    caller: str, seeded: Seeded, budget: Budget, document: dict[str, Any]
) -> SchemathesisConfig:
    token = seeded.tokens[caller]
    generation = {
        "max-examples": budget.max_examples,
        "deterministic": True,
        "database": "none",
        "mode": "all",
    }
    operations: list[dict[str, Any]] = [
        {
            "include-operation-id": not_own_operations(caller, document),
            "phases": {"coverage": {"enabled": False}},
        }
    ]
    if caller == "dependent":
        # the guardian acting for the child: the citizen routes, with the child's id
        operations.append({"include-path-regex": "^/(?!citizens/)", "enabled": False})
    project: dict[str, Any] = {
        "seed": budget.seed,
        "suppress-health-check": ["all"],
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "request-timeout": 10,
        "max-stream-events": 1,
        "parameters": {
            key if "." in key else f"path.{key}": value
            for key, value in pinned_parameters(caller, seeded).items()
        },
        "generation": generation,
        "checks": {
            "enabled": False,
            **{name: {"enabled": True} for name in CHECKS},
            # a body past the size limit is refused with 413 before it is read
            "negative_data_rejection": {
                "enabled": True,
                "expected-statuses": [*REJECTIONS, "413"],
            },
        },
        "phases": {
            "examples": {"enabled": True, "fill-missing": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": budget.stateful_steps},
        },
        "operations": operations,
        "warnings": False,
    }
    return SchemathesisConfig.from_dict(project)


@dataclass
class Finding:
    caller: str
    operation: str
    check: str
    message: str
    request: str

    def __str__(self) -> str:
        return f"[{self.caller}] {self.operation}: {self.check}: {self.message}\n    {self.request}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    phases: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    """How many times each check ran (all of CHECKS must have)."""
    succeeded: dict[str, set[str]] = field(default_factory=dict)
    """Per caller, the operations that answered 2xx at least once (the seeding works)."""

    def summary(self) -> str:
        per = ", ".join(
            f"{caller}: {self.requests[caller]} requests in {self.seconds[caller]:.1f} s"
            for caller in self.requests
        )
        phases = ", ".join(f"{name}: {count}" for name, count in self.phases.items())
        return f"fuzzed {sum(self.requests.values())} requests ({per}; by phase: {phases})"


def run_caller(
    caller: str,
    load: Callable[[SchemathesisConfig], Any],
    seeded: Seeded,
    budget: Budget,
    document: dict[str, Any],
) -> Report:
    report = Report()
    schema = load(config_for(caller, seeded, budget, document))
    started = time.monotonic()
    sent = 0
    seen: set[tuple[str, str, str]] = set()
    for event in engine_for(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            sent += len(recorder.interactions)
            phase = event.phase.value
            report.phases[phase] = report.phases.get(phase, 0) + len(recorder.interactions)
            for case_id, interaction in recorder.interactions.items():
                response = interaction.response
                operation = recorder.cases[case_id].value.operation
                if (
                    response is not None
                    and 200 <= response.status_code < 300
                    and interaction.request.method == operation.method.upper()
                ):
                    report.succeeded.setdefault(caller, set()).add(operation.label)
            for checks in recorder.checks.values():
                for check in checks:
                    report.checks[check.name] = report.checks.get(check.name, 0) + 1
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (recorder.label, check.name, failure.title)
                    if key in seen:
                        continue
                    seen.add(key)
                    report.findings.append(
                        Finding(
                            caller=caller,
                            operation=recorder.label,
                            check=check.name,
                            message=f"{failure.title}: {failure.message}"[:800],
                            request=check.failure_info.code_sample[:1500],
                        )
                    )
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"[{caller}] {event.label}: {event.info.message}"[:1500])
        elif isinstance(event, events.FatalError):
            report.errors.append(f"[{caller}] fatal: {event.exception!r}")
    report.requests[caller] = sent
    report.seconds[caller] = time.monotonic() - started
    return report


def run_all(
    load: Callable[[SchemathesisConfig], Any],
    seeded: Seeded,
    budget: Budget,
    document: dict[str, Any],
    callers: Iterable[str] = CALLERS,
) -> Report:
    total = Report()
    for caller in callers:
        part = run_caller(caller, load, seeded, budget, document)
        total.findings.extend(part.findings)
        total.errors.extend(part.errors)
        total.requests.update(part.requests)
        total.seconds.update(part.seconds)
        total.succeeded.update(part.succeeded)
        for phase, count in part.phases.items():
            total.phases[phase] = total.phases.get(phase, 0) + count
        for name, count in part.checks.items():
            total.checks[name] = total.checks.get(name, 0) + count
    return total


def asgi_loader(app: Any) -> Callable[[SchemathesisConfig], Any]:
    return lambda config: schemathesis.openapi.from_asgi(SCHEMA_PATH, app, config=config)


def url_loader(base_url: str) -> Callable[[SchemathesisConfig], Any]:
    return lambda config: schemathesis.openapi.from_url(base_url + SCHEMA_PATH, config=config)
