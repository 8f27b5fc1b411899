"""Setup steps shared by scenarios: callers with real credentials, made through the real API.

``citizen_token`` registers an operator client with ``healthbook clients create`` (same database
as the service), serves a throw-away identity provider's JWKS on 127.0.0.1, registers it over the
admin API, and exchanges an ID token for a citizen access token, exactly as a phone would.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from bench.scenarios import SEQ, Prepared, SetupContext

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _healthbook(ctx: SetupContext) -> str:
    """The ``healthbook`` of the environment running this (any uv project environment), else
    the project's ``.venv``, else whatever ``PATH`` finds; the service tree's under ``bench.ab``."""
    if ctx.healthbook is not None:
        return ctx.healthbook
    for local in (
        Path(sys.executable).parent / "healthbook",
        PROJECT_ROOT / ".venv" / "bin" / "healthbook",
    ):
        if local.exists():
            return str(local)
    return "healthbook"


def admin_token(ctx: SetupContext) -> str:
    """An operator client made by the CLI, and its access token from the token endpoint."""
    result = subprocess.run(
        [_healthbook(ctx), "clients", "create", "--kind", "admin", "--name", "bench operator"],
        env=dict(ctx.env),
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = result.stdout.decode().splitlines()
    client_id = next(line.split(": ", 1)[1] for line in lines if line.startswith("client_id: "))
    private_jwk = json.loads(lines[-1])
    key = OKPAlgorithm.from_jwk(json.dumps(private_jwk))
    return _client_token(ctx, client_id, key, private_jwk["kid"])  # type: ignore[arg-type]


class _JwksServer:
    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def citizen_token(ctx: SetupContext, national_id: str = "001090000555") -> str:
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "bench-1", "alg": "EdDSA", "use": "sig"})
    jwks = _JwksServer({"keys": [jwk]})
    issuer = f"{jwks.url}/bench-idp"
    token = admin_token(ctx)
    ctx.request_json(
        "PUT",
        "/admin/identity-providers/bench-idp",
        json={
            "id": "bench-idp",
            "issuer": issuer,
            "jwks_uri": f"{jwks.url}/jwks.json",
            "audiences": ["bench-app"],
            "algorithms": ["EdDSA"],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    now = int(time.time())
    id_token = jwt.encode(
        {
            "iss": issuer,
            "aud": "bench-app",
            "sub": f"bench-{national_id}",
            "iat": now,
            "exp": now + 300,
            "national_id": national_id,
            "name": "Bench Citizen",
            "birthdate": "1990-01-01",
        },
        private,
        algorithm="EdDSA",
        headers={"kid": "bench-1"},
    )
    form = urlencode(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": id_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        }
    ).encode()
    answer = ctx.request_json(
        "POST",
        "/auth/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return answer["access_token"]


def citizen_headers(ctx: SetupContext) -> Prepared:
    return Prepared(headers={"Authorization": f"Bearer {citizen_token(ctx)}"})


def _client_token(
    ctx: SetupContext, client_id: str, private_key: Ed25519PrivateKey, kid: str
) -> str:
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": f"{ctx.env.get('PUBLIC_BASE_URL', ctx.base_url).rstrip('/')}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        },
        private_key,
        algorithm="EdDSA",
        headers={"kid": kid},
    )
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": _JWT_BEARER,
            "client_assertion": assertion,
        }
    ).encode()
    answer = ctx.request_json(
        "POST",
        "/auth/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return answer["access_token"]


def hospital_token(ctx: SetupContext, facility_id: str = "01001") -> str:
    """A facility and a hospital client bound to it, registered over the admin API."""
    admin = {"Authorization": f"Bearer {admin_token(ctx)}"}
    ctx.request_json(
        "PUT",
        f"/admin/facilities/{facility_id}",
        json={"name": "Bench Hospital", "province": "Hà Nội"},
        headers=admin,
    )
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "bench-hospital", "alg": "EdDSA", "use": "sig"})
    created = ctx.request_json(
        "POST",
        "/admin/clients",
        json={
            "kind": "hospital",
            "name": "bench HIS",
            "facility_id": facility_id,
            "jwks": {"keys": [jwk]},
        },
        headers=admin,
    )
    return _client_token(ctx, created["id"], private, "bench-hospital")


SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "fhir"


def _sample(name: str) -> dict[str, Any]:
    """One of the public FHIR samples kept in ``tests/data/fhir``."""
    return json.loads((SAMPLES / name).read_bytes())


def publish_body(name: str) -> bytes:
    """A sample bundle whose document and patient identifiers carry the placeholder SEQ, which
    the scenario's Lua replaces per request so that every publish stores a new document."""
    bundle = _sample(name)
    bundle["identifier"] = {"system": "urn:healthbook:bench", "value": f"{name[:20]}-{SEQ}"}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            for identifier in resource.get("identifier", []):
                identifier["value"] = f"{identifier['value']}{SEQ}".replace("-", "")
    return json.dumps(bundle).encode()


def hospital_publish(name: str) -> Any:
    def setup(ctx: SetupContext) -> Prepared:
        return Prepared(
            headers={
                "Authorization": f"Bearer {hospital_token(ctx)}",
                "Content-Type": "application/fhir+json",
            },
            body=publish_body(name),
        )

    return setup


BOOK_OWNER = "001090007777"


def book_owner_headers(ctx: SetupContext) -> Prepared:
    """A citizen whose book holds a whole 1 MB Synthea history, published by a hospital."""
    bundle = _sample("synthea-Leonor_Trujillo_5542148c-67d6-4d91-be71-29973234a33b.json")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["identifier"].append(
                {"system": "https://fhir.moh.gov.vn/sid/cccd", "value": BOOK_OWNER}
            )
    hospital = hospital_token(ctx, facility_id="01002")
    ctx.request_json(
        "POST",
        "/hospital/summaries",
        body=json.dumps(bundle).encode(),
        headers={"Authorization": f"Bearer {hospital}", "Content-Type": "application/fhir+json"},
    )
    return Prepared(
        headers={"Authorization": f"Bearer {citizen_token(ctx, national_id=BOOK_OWNER)}"}
    )


# --- appointments ---------------------------------------------------------------------------

BOOKING_FACILITY = "01003"
"""The bench's booking facility (its own, so the publish scenarios' facilities stay apart)."""


def booking_citizens(ctx: SetupContext, count: int, first: int) -> list[str]:
    """``count`` citizens logged in through one throw-away identity provider (registered once),
    national ID numbers from ``first``; their access tokens, in that order."""
    from concurrent.futures import ThreadPoolExecutor

    private = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    kid = f"bench-book-{first}"
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    jwks = _JwksServer({"keys": [jwk]})
    issuer = f"{jwks.url}/bench-book"
    provider = f"bench-book-{first}"
    ctx.request_json(
        "PUT",
        f"/admin/identity-providers/{provider}",
        json={
            "id": provider,
            "issuer": issuer,
            "jwks_uri": f"{jwks.url}/jwks.json",
            "audiences": ["bench-app"],
            "algorithms": ["EdDSA"],
        },
        headers={"Authorization": f"Bearer {admin_token(ctx)}"},
    )

    def login(number: int) -> str:
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": issuer,
                "aud": "bench-app",
                "sub": f"bench-{number}",
                "iat": now,
                "exp": now + 600,
                "national_id": f"{number:012d}",
                "birthdate": "1990-01-01",
            },
            private,
            algorithm="EdDSA",
            headers={"kid": kid},
        )
        form = urlencode(
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": id_token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            }
        ).encode()
        answer = ctx.request_json(
            "POST",
            "/auth/token",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
        return answer["access_token"]

    tokens = [login(first)]  # the first fetches the provider's keys; the rest find them cached
    with ThreadPoolExecutor(8) as pool:
        tokens.extend(pool.map(login, range(first + 1, first + count)))
    return tokens


def slot_start(first: dt.datetime, n: int) -> dt.datetime:
    """The start of the bench's ``n``-th slot: a second apart, so millions of slots still start
    inside the booking window (``APPOINTMENT_BOOKING_WINDOW_DAYS``, 60 by default)."""
    return first + dt.timedelta(seconds=n)


def booking_slots(ctx: SetupContext, prefix: str, count: int, capacity: int) -> list[str]:
    """``count`` slots of ``capacity`` at the booking facility, two days ahead and later (a
    department ``NOI`` and a hospital client are made first); our slot ids, in order."""

    hospital = {"Authorization": f"Bearer {hospital_token(ctx, BOOKING_FACILITY)}"}
    ctx.request_json(
        "PUT",
        f"/admin/facilities/{BOOKING_FACILITY}/departments/NOI",
        json={"name": "Khoa Nội"},
        headers={"Authorization": f"Bearer {admin_token(ctx)}"},
    )
    first = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    ids: list[str] = []
    for batch in range(0, count, 1000):
        slots = [
            {
                "id": f"{prefix}-{n}",
                "department": "NOI",
                "service": "Khám nội tổng quát",
                "start": slot_start(first, n).isoformat(),
                "end": (slot_start(first, n) + dt.timedelta(minutes=15)).isoformat(),
                "capacity": capacity,
            }
            for n in range(batch, min(count, batch + 1000))
        ]
        answer = ctx.request_json(
            "PUT", "/hospital/slots", json={"slots": slots}, headers=hospital, timeout=120
        )
        ids.extend(s["slot_id"] for s in answer["slots"])
    return ids


def _lua_list(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def booking_load(
    ctx: SetupContext,
    name: str,
    *,
    slots: int,
    capacity: int,
    citizens: int,
    per_slot: int,
    first_citizen: int,
) -> Prepared:
    """Data for the booking scenarios' Lua (``bench.scenarios.BOOKING_LUA``): tokens and slot ids
    in a Lua file named by the ``X-Bench-Data`` header; request ``i`` (counted across wrk runs)
    books slot ``i // per_slot`` for citizen ``i % citizens``. The static request (the runner's
    check) books a slot of its own."""
    tokens = booking_citizens(ctx, citizens, first_citizen)
    ids = booking_slots(ctx, name, slots + 1, capacity)
    check_slot, ids = ids[0], ids[1:]
    data = ctx.data_dir / f"{name}.lua"
    report = PROJECT_ROOT / "bench" / "results" / f"{name}.outcomes.jsonl"
    report.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(
        "return {\n"
        f"  tokens = {_lua_list(tokens)},\n"
        f"  slots = {_lua_list(ids)},\n"
        f"  per_slot = {per_slot},\n"
        f"  counter_file = {json.dumps(str(ctx.data_dir / f'{name}.counter'))},\n"
        f"  outcomes_file = {json.dumps(str(ctx.data_dir / f'{name}.outcomes'))},\n"
        f"  report_file = {json.dumps(str(report))},\n"
        f"  capacity = {capacity},\n"
        "}\n"
    )
    return Prepared(
        path="/citizens/me/appointments",
        headers={
            "Authorization": f"Bearer {tokens[0]}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"{name}-check-{secrets.token_hex(8)}",
            "X-Bench-Data": str(data),
        },
        body=json.dumps({"slot_id": check_slot}).encode(),
    )


def book_distinct_slots(ctx: SetupContext) -> Prepared:
    """16 000 slots of one place (more for a long run), a citizen for every ten (each books at
    most 10: the default limit of upcoming appointments); every request books a slot nobody else
    asks for."""
    slots = ctx.fresh_requests(16_000)
    return booking_load(
        ctx,
        "book_distinct_slots",
        slots=slots,
        capacity=1,
        citizens=-(-slots // 10),
        per_slot=1,
        first_citizen=1_000_000_000,
    )


def book_contended(ctx: SetupContext) -> Prepared:
    """1 000 slots of 5 places; 200 citizens ask for each slot in turn (64 connections at once
    on one slot): 5 win, 195 are refused, slot after slot."""
    prepared = booking_load(
        ctx,
        "book_contended",
        slots=1_000,
        capacity=5,
        citizens=200,
        per_slot=200,
        first_citizen=1_000_100_000,
    )
    # the runner's check expects the refusal: fill the check slot first
    check = json.loads(prepared.body or b"{}")
    for n, token in enumerate(booking_citizens(ctx, 5, 1_000_200_000)):
        ctx.request_json(
            "POST",
            "/citizens/me/appointments",
            json=check,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"fill-{n}"},
        )
    return prepared


# --- check-in -------------------------------------------------------------------------------

KIOSK_FACILITY = "01004"
"""The bench's check-in facility (its own, apart from the booking and publishing ones)."""


def kiosk_token(ctx: SetupContext, facility_id: str) -> str:
    """A kiosk client bound to ``facility_id``, registered over the admin API; its token."""
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "bench-kiosk", "alg": "EdDSA", "use": "sig"})
    created = ctx.request_json(
        "POST",
        "/admin/clients",
        json={
            "kind": "kiosk",
            "name": "bench kiosk",
            "facility_id": facility_id,
            "jwks": {"keys": [jwk]},
        },
        headers={"Authorization": f"Bearer {admin_token(ctx)}"},
    )
    return _client_token(ctx, created["id"], private, "bench-kiosk")


SLOT_CAPACITY_MAX = 1_000
"""The most places a published slot may have (``PUT /hospital/slots`` refuses more)."""


def kiosk_checkin(
    ctx: SetupContext, *, appointments: int = 9_999, departments: int = 1
) -> Prepared:
    """``appointments`` + 1 appointments starting in 20 minutes (inside their check-in window)
    in ``departments`` departments (one: ``NOI``, every check-in on one queue's counter), booked
    over the API by citizens holding ten each (the default limit),
    and each one's check-in code fetched as the app does; the codes go to the Lua data file
    (``bench.scenarios.KIOSK_LUA``), the first to the runner's check request."""
    from concurrent.futures import ThreadPoolExecutor

    appointments = ctx.fresh_requests(appointments + 1) - 1
    per_citizen = 10
    admin = {"Authorization": f"Bearer {admin_token(ctx)}"}
    hospital = {"Authorization": f"Bearer {hospital_token(ctx, KIOSK_FACILITY)}"}
    codes_of = ["NOI", *(f"K{d:02d}" for d in range(1, departments))]
    for n, code in enumerate(codes_of):
        ctx.request_json(
            "PUT",
            f"/admin/facilities/{KIOSK_FACILITY}/departments/{code}",
            json={"name": f"Khoa {code}", "room": f"P.{101 + n}"},
            headers=admin,
        )
    citizens = -(-(appointments + 1) // per_citizen)
    # each citizen books one slot of a group of ten; a slot holds at most SLOT_CAPACITY_MAX
    groups = -(-citizens // SLOT_CAPACITY_MAX)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=20)
    slots = [
        {
            "id": f"kiosk-{k}",
            "department": codes_of[k % departments],
            "start": (start + dt.timedelta(minutes=k % per_citizen)).isoformat(),
            "end": (start + dt.timedelta(minutes=k % per_citizen + 15)).isoformat(),
            "capacity": min(citizens, SLOT_CAPACITY_MAX),
        }
        for k in range(per_citizen * groups)
    ]
    answer = ctx.request_json("PUT", "/hospital/slots", json={"slots": slots}, headers=hospital)
    slot_ids = [s["slot_id"] for s in answer["slots"]]
    tokens = booking_citizens(ctx, citizens, 1_000_300_000)

    def book_and_fetch(n: int) -> str:
        who = n // per_citizen
        token = tokens[who]
        citizen = {"Authorization": f"Bearer {token}"}
        group = who // SLOT_CAPACITY_MAX
        booked = ctx.request_json(
            "POST",
            "/citizens/me/appointments",
            json={"slot_id": slot_ids[group * per_citizen + n % per_citizen]},
            headers={**citizen, "Idempotency-Key": f"kiosk-bench-{n}"},
            timeout=60,
        )
        code = ctx.request_json(
            "GET", f"/citizens/me/appointments/{booked['id']}/check-in", headers=citizen
        )
        return str(code["token"])

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(book_and_fetch, range(appointments + 1)))
    check_code, codes = codes[0], codes[1:]
    data = ctx.data_dir / "kiosk_checkin.lua"
    data.write_text(
        "return {\n"
        f"  codes = {_lua_list(codes)},\n"
        f"  counter_file = {json.dumps(str(ctx.data_dir / 'kiosk_checkin.counter'))},\n"
        "}\n"
    )
    return Prepared(
        path="/kiosk/check-ins",
        headers={
            "Authorization": f"Bearer {kiosk_token(ctx, KIOSK_FACILITY)}",
            "Content-Type": "application/json",
            "X-Bench-Data": str(data),
        },
        body=json.dumps({"code": check_code}).encode(),
    )


# --- insurance XML ----------------------------------------------------------------------------


def insurance_envelope(ctx: SetupContext, episodes: int) -> Prepared:
    """A hospital client of the insurance facility; a valid envelope of ``episodes`` outpatient
    episodes (the runner's check), and the template ``insurance_lua`` makes each request from
    (MA_LK and SO_CCCD carrying SEQ, files as plain XML between markers), in a file named by
    ``BENCH_INSURANCE_TEMPLATE_<episodes>`` in the environment wrk inherits."""
    import base64
    import os

    from bench.scenarios import INSURANCE_FACILITY
    from tests.support.qd130 import build_episode_files

    token = hospital_token(ctx, facility_id=INSURANCE_FACILITY)

    def envelope(seq: str, encode: bool) -> str:
        hosos = []
        for index in range(episodes):
            files = build_episode_files(
                "outpatient", ma_lk=f"B{index:02d}-{seq}", cccd=seq, facility=INSURANCE_FACILITY
            )
            parts = "".join(
                f"<FILEHOSO><LOAIHOSO>{name}</LOAIHOSO><NOIDUNGFILE>"
                + (base64.b64encode(data).decode() if encode else f"@@B64@@{data.decode()}@@END@@")
                + "</NOIDUNGFILE></FILEHOSO>"
                for name, data in files.items()
            )
            hosos.append(f"<HOSO>{parts}</HOSO>")
        return (
            '<?xml version="1.0" encoding="utf-8"?><GIAMDINHHS><THONGTINDONVI><MACSKCB>'
            f"{INSURANCE_FACILITY}</MACSKCB></THONGTINDONVI><THONGTINHOSO>"
            f"<NGAYLAP>20261120</NGAYLAP><SOLUONGHOSO>{episodes}</SOLUONGHOSO><DANHSACHHOSO>"
            f"{''.join(hosos)}</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI/></GIAMDINHHS>"
        )

    template = Path(ctx.data_dir) / f"insurance-{episodes}.template.xml"
    template.write_text(envelope(SEQ, encode=False))
    os.environ[f"BENCH_INSURANCE_TEMPLATE_{episodes}"] = str(template)
    return Prepared(
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        body=envelope(f"{episodes:012d}", encode=True).encode(),
    )


# --- sharing --------------------------------------------------------------------------------

SHARE_OWNERS = 32
"""Citizens whose links the manifest scenario opens in turn: one link's answers line up on its
citizen's access-log chain (each answer is logged in the citizen's hash chain), as a real load
spread over many citizens does not."""


def share_manifests(ctx: SetupContext) -> Prepared:
    """A SMART Health Link of each of :data:`SHARE_OWNERS` citizens, without a passcode and not
    long-term (its manifest answers a ``location``); their manifest paths in a Lua file named by
    the ``X-Bench-Data`` header, which ``bench.scenarios.SHARE_MANIFEST_LUA`` cycles through."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    tokens = booking_citizens(ctx, SHARE_OWNERS, 1_090_008_000)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()

    def make(token: str) -> str:
        created = ctx.request_json(
            "POST",
            "/citizens/me/shares",
            json={"expires_at": expires, "label": "bench"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        return urlsplit(created["url"]).path

    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(make, tokens))
    data = ctx.data_dir / "shl_manifest.lua"
    data.write_text(f"return {{ paths = {_lua_list(paths)} }}\n")
    return Prepared(path=paths[0], headers={"X-Bench-Data": str(data)})


def home_measurements(ctx: SetupContext) -> Prepared:
    """50 citizens, each recording blood pressure readings (``bench.scenarios.MEASUREMENT_LUA``:
    request ``i`` for citizen ``i % 50``, a new Idempotency-Key each, values that vary)."""
    name = "home_measurements"
    tokens = booking_citizens(ctx, 50, 2_000_000_000)
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    data = ctx.data_dir / f"{name}.lua"
    data.write_text(
        "return {\n"
        f"  tokens = {_lua_list(tokens)},\n"
        f"  at = {json.dumps(at)},\n"
        f"  counter_file = {json.dumps(str(ctx.data_dir / f'{name}.counter'))},\n"
        "}\n"
    )
    body = {"kind": "blood_pressure", "systolic": 120, "diastolic": 80, "unit": "mm[Hg]"}
    return Prepared(
        path="/citizens/me/measurements",
        headers={
            "Authorization": f"Bearer {tokens[0]}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"{name}-check-{secrets.token_hex(8)}",
            "X-Bench-Data": str(data),
        },
        body=json.dumps({**body, "effective_at": at}).encode(),
    )
