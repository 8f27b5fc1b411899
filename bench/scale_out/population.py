"""Everything the load needs, made over HTTP through nginx as real callers would: an operator
(made by ``healthbook clients create``), two facilities with departments, hospital and kiosk
clients (signed JWT assertions), an identity provider whose JWKS this process serves, citizens
logged in with ID tokens and their phones registered for push, slots (contended ones of
capacity 5 and distinct ones), and appointments inside the check-in window with their codes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from api.demo.client import TOKEN_EXCHANGE, assertion, generate_client_key
from bench.run import BenchError
from bench.scale_out.stack import API_PROCESSES
from bench.scenarios import SetupContext
from bench.setups import admin_token

T = TypeVar("T")

BOOKING_FACILITY = "01801"
"""Contended and distinct slots, and the hospital that publishes summaries."""
CHECKIN_FACILITY = "01802"
"""Slots starting within the hour, the appointments the kiosk checks in."""
CHECKIN_DEPARTMENTS = (("NOI", "Khoa Nội", "P.101"), ("NHI", "Khoa Nhi", "P.205"))
CHECKIN_SLOTS_PER_DEPARTMENT = 5  # a citizen holds one appointment per slot, 10 in all (limit)
CONTENDED_CAPACITY = 5
FIRST_NATIONAL_ID = 1_091_000_000
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
AUDIENCE = "scaleout-app"
SETUP_CONCURRENCY = 8


@dataclass
class Citizen:
    national_id: str
    id: str
    """Our citizen id (the access token's subject)."""
    token: str
    devices: list[str] = field(default_factory=list)
    """FCM registration tokens of the phones registered for this citizen."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class IdentityProvider:
    """A national identity provider of the run's own: its JWKS is a file nginx serves (no
    thread of this busy process has to answer the API's key fetches)."""

    issuer: str
    jwks_uri: str
    kid: str
    key: Ed25519PrivateKey

    def id_token(self, national_id: str) -> str:
        now = int(time.time())
        return jwt.encode(
            {
                "iss": self.issuer,
                "aud": AUDIENCE,
                "sub": f"scaleout-{national_id}",
                "iat": now,
                "exp": now + 600,
                "national_id": national_id,
                "name": f"Công dân {national_id[-4:]}",
                "birthdate": "1990-01-01",
            },
            self.key,
            algorithm="EdDSA",
            headers={"kid": self.kid},
        )

    def exchange_form(self, national_id: str) -> bytes:
        return urlencode(
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": self.id_token(national_id),
                "subject_token_type": ID_TOKEN_TYPE,
            }
        ).encode()


@dataclass
class CheckInCode:
    appointment_id: str
    code: str


@dataclass
class Population:
    hospital: dict[str, str]
    kiosk: dict[str, str]
    idp: IdentityProvider
    readers: list[Citizen]
    bookers: list[Citizen]
    checkin_citizens: list[Citizen]
    contended_slots: list[str]
    distinct_slots: list[str]
    checkin_codes: list[CheckInCode]
    next_national_id: int
    setup_requests: int = 0
    setup_seconds: float = 0.0

    def citizens(self) -> Iterable[Citizen]:
        yield from self.readers
        yield from self.bookers
        yield from self.checkin_citizens


@dataclass(frozen=True)
class Sizes:
    readers: int
    bookers: int
    contended_slots: int
    distinct_slots: int
    checkins: int


class SetupClient:
    """httpx through nginx that fails loudly on an unexpected answer, and counts requests."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=120,
            limits=httpx.Limits(max_connections=SETUP_CONCURRENCY * 2),
        )
        self.requests = 0
        self.server_errors = 0

    async def call(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kwargs: Any
    ) -> Any:
        answer = await self.http.request(method, path, **kwargs)
        self.requests += 1
        if answer.status_code >= 500:
            self.server_errors += 1
        if answer.status_code not in expect:
            raise BenchError(
                f"setup {method} {path} answered {answer.status_code}: {answer.text[:500]}"
            )
        return answer.json() if answer.content else None

    async def client_token(self, client_id: str, private_jwk: dict[str, Any]) -> dict[str, str]:
        signed = assertion(
            {"client_id": client_id, "private_jwk": private_jwk}, f"{self.base_url}/auth/token"
        )
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        }
        answer = await self.call("POST", "/auth/token", data=form, expect=(200,))
        return {"Authorization": f"Bearer {answer['access_token']}"}

    async def aclose(self) -> None:
        await self.http.aclose()


async def _gather_limited(
    items: Iterable[T], work: Callable[[T], Awaitable[Any]], limit: int = SETUP_CONCURRENCY
) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with semaphore:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def _subject(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["sub"])


async def build(
    base_url: str,
    ctx: SetupContext,
    sizes: Sizes,
    jwks: tuple[Path, str],
    log: Callable[[str], None],
) -> Population:
    """Make the population (see the module docstring); about a thousand requests at the
    default sizes."""
    started = time.monotonic()
    client = SetupClient(base_url)
    try:
        population = await _build(client, ctx, sizes, jwks, log)
    finally:
        await client.aclose()
    if client.server_errors:
        raise BenchError(f"setup got {client.server_errors} answers 5xx")
    population.setup_requests = client.requests
    population.setup_seconds = time.monotonic() - started
    return population


async def _build(
    client: SetupClient,
    ctx: SetupContext,
    sizes: Sizes,
    jwks: tuple[Path, str],
    log: Callable[[str], None],
) -> Population:
    jwks_file, jwks_path = jwks
    admin_headers = {"Authorization": f"Bearer {await asyncio.to_thread(admin_token, ctx)}"}
    for facility, name in (
        (BOOKING_FACILITY, "Bệnh viện Scale-out 1"),
        (CHECKIN_FACILITY, "Bệnh viện Scale-out 2"),
    ):
        await client.call(
            "PUT",
            f"/admin/facilities/{facility}",
            json={"name": name, "province": "Hà Nội"},
            headers=admin_headers,
        )
    await client.call(
        "PUT",
        f"/admin/facilities/{BOOKING_FACILITY}/departments/NOI",
        json={"name": "Khoa Nội", "room": "P.101"},
        headers=admin_headers,
    )
    for code, name, room in CHECKIN_DEPARTMENTS:
        await client.call(
            "PUT",
            f"/admin/facilities/{CHECKIN_FACILITY}/departments/{code}",
            json={"name": name, "room": room},
            headers=admin_headers,
        )

    async def make_client(kind: str, facility: str) -> dict[str, str]:
        public_jwks, private_jwk = generate_client_key()
        created = await client.call(
            "POST",
            "/admin/clients",
            json={
                "kind": kind,
                "name": f"scale-out {kind} {facility}",
                "facility_id": facility,
                "jwks": public_jwks,
            },
            headers=admin_headers,
        )
        return await client.client_token(created["id"], private_jwk)

    hospital = await make_client("hospital", BOOKING_FACILITY)
    checkin_hospital = await make_client("hospital", CHECKIN_FACILITY)
    kiosk = await make_client("kiosk", CHECKIN_FACILITY)

    idp = _identity_provider(jwks_file, f"{client.base_url}{jwks_path}")
    await client.call(
        "PUT",
        "/admin/identity-providers/scaleout",
        json={
            "id": "scaleout",
            "issuer": idp.issuer,
            "jwks_uri": idp.jwks_uri,
            "audiences": [AUDIENCE],
            "algorithms": ["EdDSA"],
        },
        headers=admin_headers,
    )

    checkin_citizens_count = -(-sizes.checkins // (2 * CHECKIN_SLOTS_PER_DEPARTMENT))
    numbers = iter(range(FIRST_NATIONAL_ID, FIRST_NATIONAL_ID + 10_000_000))
    groups = {
        "readers": (sizes.readers, 2),
        "bookers": (sizes.bookers, 0),  # 1 or 2 phones, alternately
        "checkin": (checkin_citizens_count, 1),
    }
    log(
        f"setup: {sum(n for n, _ in groups.values())} citizens log in and register phones; "
        f"{sizes.contended_slots} contended + {sizes.distinct_slots} distinct slots; "
        f"{checkin_citizens_count * 2 * CHECKIN_SLOTS_PER_DEPARTMENT} appointments to check in"
    )

    async def login(spec: tuple[str, int]) -> Citizen:
        national_id, phones = spec
        answer = await client.call(
            "POST",
            "/auth/token",
            content=idp.exchange_form(national_id),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            expect=(200,),
        )
        citizen = Citizen(national_id, _subject(answer["access_token"]), answer["access_token"])
        for phone in range(phones):
            token = f"scaleout-{national_id}-{phone}-{secrets.token_hex(24)}"
            await client.call(
                "PUT",
                f"/citizens/me/devices/scaleout-phone-{phone}",
                json={"token": token, "platform": "android" if phone % 2 == 0 else "ios"},
                headers=citizen.auth,
            )
            citizen.devices.append(token)
        return citizen

    # one login at a time first (a token request and two phones each, so nginx's round robin
    # sends the two token requests to different API processes): each process fetches the
    # provider's keys once, unhurried; the logins after them find the keys cached
    first = [await login((f"{next(numbers):012d}", 2)) for _ in range(API_PROCESSES)]
    specs: dict[str, list[tuple[str, int]]] = {}
    for group, (count, phones) in groups.items():
        specs[group] = [
            (f"{next(numbers):012d}", phones or 1 + n % 2)
            for n in range(count - (len(first) if group == "readers" else 0))
        ]
    readers = [*first, *await _gather_limited(specs["readers"], login)]
    bookers = await _gather_limited(specs["bookers"], login)
    checkin_citizens = await _gather_limited(specs["checkin"], login)

    contended, distinct = await _booking_slots(client, hospital, sizes)
    codes = await _checkin_appointments(client, checkin_hospital, checkin_citizens, sizes.checkins)
    return Population(
        hospital=hospital,
        kiosk=kiosk,
        idp=idp,
        readers=readers,
        bookers=bookers,
        checkin_citizens=checkin_citizens,
        contended_slots=contended,
        distinct_slots=distinct,
        checkin_codes=codes,
        next_national_id=next(numbers),
    )


def _identity_provider(jwks_file: Path, jwks_uri: str) -> IdentityProvider:
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    kid = f"scaleout-{secrets.token_hex(4)}"
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    issuer = jwks_uri.rsplit("/", 1)[0] + "/idp"
    return IdentityProvider(issuer=issuer, jwks_uri=jwks_uri, kid=kid, key=key)


def _slot(ext_id: str, department: str, start: dt.datetime, capacity: int) -> dict[str, Any]:
    return {
        "id": ext_id,
        "department": department,
        "service": "Khám tổng quát",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=15)).isoformat(),
        "capacity": capacity,
    }


async def _publish_slots(
    client: SetupClient, hospital: dict[str, str], slots: list[dict[str, Any]]
) -> list[str]:
    ids: list[str] = []
    for batch in range(0, len(slots), 1000):
        answer = await client.call(
            "PUT", "/hospital/slots", json={"slots": slots[batch : batch + 1000]}, headers=hospital
        )
        ids.extend(s["slot_id"] for s in answer["slots"])
    return ids


async def _booking_slots(
    client: SetupClient, hospital: dict[str, str], sizes: Sizes
) -> tuple[list[str], list[str]]:
    """Contended slots of capacity 5, two days ahead, and distinct ones of capacity 1, three
    days ahead (their reminders are not due during the run)."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    run = uuid.uuid4().hex[:8]
    contended = [
        _slot(f"c-{run}-{n}", "NOI", now + dt.timedelta(days=2, minutes=n), CONTENDED_CAPACITY)
        for n in range(sizes.contended_slots)
    ]
    distinct = [
        _slot(f"d-{run}-{n}", "NOI", now + dt.timedelta(days=3, minutes=n), 1)
        for n in range(sizes.distinct_slots)
    ]
    return (
        await _publish_slots(client, hospital, contended),
        await _publish_slots(client, hospital, distinct),
    )


async def _checkin_appointments(
    client: SetupClient, hospital: dict[str, str], citizens: list[Citizen], wanted: int
) -> list[CheckInCode]:
    """Slots starting in 25-30 minutes (inside the check-in window), each citizen booked on
    every one of them, and each appointment's check-in code as the app fetches it."""
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=25)
    run = uuid.uuid4().hex[:8]
    slots = [
        _slot(f"k-{run}-{code}-{n}", code, start + dt.timedelta(minutes=n), 1000)
        for code, _name, _room in CHECKIN_DEPARTMENTS
        for n in range(CHECKIN_SLOTS_PER_DEPARTMENT)
    ]
    slot_ids = await _publish_slots(client, hospital, slots)
    pairs = [(citizen, slot) for citizen in citizens for slot in slot_ids][:wanted]

    async def book(pair: tuple[Citizen, str]) -> CheckInCode:
        citizen, slot_id = pair
        appointment = await client.call(
            "POST",
            "/citizens/me/appointments",
            json={"slot_id": slot_id},
            headers={**citizen.auth, "Idempotency-Key": uuid.uuid4().hex},
            expect=(201,),
        )
        code = await client.call(
            "GET",
            f"/citizens/me/appointments/{appointment['id']}/check-in",
            headers=citizen.auth,
            expect=(200,),
        )
        return CheckInCode(appointment["id"], code["token"])

    return await _gather_limited(pairs, book)


def save(population: Population, path: Path) -> None:
    """The population's identifiers (no secrets) beside the report, for a look afterwards."""
    path.write_text(
        json.dumps(
            {
                "readers": [c.national_id for c in population.readers],
                "bookers": [c.national_id for c in population.bookers],
                "checkin_citizens": [c.national_id for c in population.checkin_citizens],
                "contended_slots": population.contended_slots,
                "distinct_slots": population.distinct_slots,
                "checkin_appointments": [c.appointment_id for c in population.checkin_codes],
            },
            indent=1,
        )
    )
