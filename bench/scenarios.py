"""Benchmark scenarios: small declarative objects in one registry.

A scenario says which request wrk sends to the running service. Adding one is a single
``register(Scenario(...))`` call at the bottom of this file (see bench/README.md). When a scenario
needs data first (a user, a token, a record to read), give it a ``setup`` callable: it runs once,
after the service is ready and before any load, and returns a :class:`Prepared` with the path,
headers and body to use instead of (or on top of) the scenario's own.
"""

from __future__ import annotations

import json as _json
import math
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESERVED_NAMES = frozenset({"baseline"})


@dataclass(frozen=True)
class Prepared:
    """What a setup callable hands back. ``None`` / empty fields keep the scenario's own."""

    path: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


FASTEST_WRITES_PER_S = 900
"""Above what one pinned worker has done on any single-use write scenario here (kiosk check-ins:
590/s in a round on 2026-12-06), so a setup never runs out of fresh requests mid-round."""


@dataclass(frozen=True)
class SetupContext:
    """What a setup callable may use: the running service and the backends it talks to."""

    base_url: str
    database_url: str
    redis_url: str
    data_dir: Path
    env: Mapping[str, str]
    load_seconds: float = 0.0
    """How long the runner will load each scenario in all (warm-up and every round): setups
    whose requests are used up (a code checks in once, a slot books once) size their data by it."""
    healthbook: str | None = None
    """The service's ``healthbook`` command (the CLI setups run), when not this environment's."""

    def fresh_requests(self, at_least: int) -> int:
        """How many single-use requests a setup prepares: ``at_least``, or more when the planned
        load could use them up at :data:`FASTEST_WRITES_PER_S`."""
        return max(at_least, math.ceil(self.load_seconds * FASTEST_WRITES_PER_S))

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """One HTTP request to the service (loopback only); returns (status, body)."""
        return http_request(
            method, self.base_url + path, json=json, body=body, headers=headers, timeout=timeout
        )

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request` but fails unless 2xx, and decodes the JSON answer."""
        status, data = self.request(method, path, **kwargs)
        if not 200 <= status < 300:
            raise RuntimeError(f"setup {method} {path} answered {status}: {data[:500]!r}")
        return _json.loads(data) if data else None


SetupFn = Callable[[SetupContext], "Prepared | Awaitable[Prepared]"]


@dataclass(frozen=True)
class Scenario:
    """One request shape to load the service with.

    ``lua`` is extra wrk Lua appended after the generated script that sets ``wrk.method``,
    ``wrk.path``, ``wrk.headers`` and ``wrk.body``; use it for a ``request()`` function that varies
    the request (note that a ``request()`` function makes wrk build every request in Lua, which
    costs wrk CPU). ``target_ratio`` is an optional requests/s objective relative to the baseline,
    ``target_rps`` an absolute one (an issue's "at least N/s" on this machine); both are reported,
    never enforced.
    """

    name: str
    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_status: int = 200
    lua: str | None = None
    setup: SetupFn | None = None
    description: str = ""
    target_ratio: float | None = None
    target_rps: float | None = None
    connections: int | None = None
    """wrk connections for this scenario (heavy writes queue past a few); default: the run's."""


@dataclass(frozen=True)
class RequestSpec:
    """The request a scenario resolves to once its setup has run."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None
    expect_status: int
    lua: str | None = None


def resolve(scenario: Scenario, prepared: Prepared | None) -> RequestSpec:
    prepared = prepared or Prepared()
    headers = {**scenario.headers, **prepared.headers}
    body = prepared.body if prepared.body is not None else scenario.body
    return RequestSpec(
        method=scenario.method.upper(),
        path=prepared.path or scenario.path,
        headers=headers,
        body=body,
        expect_status=scenario.expect_status,
        lua=scenario.lua,
    )


def http_request(
    method: str,
    url: str,
    *,
    json: Any = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """A plain stdlib HTTP request; answers (status, body) for every status, 4xx/5xx included."""
    all_headers = dict(headers or {})
    if json is not None:
        body = _json.dumps(json).encode()
        all_headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method.upper(), headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in RESERVED_NAMES:
        raise ValueError(f"scenario name {scenario.name!r} is reserved")
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} registered twice")
    if not scenario.path.startswith("/"):
        raise ValueError(f"scenario {scenario.name!r}: path must start with '/'")
    SCENARIOS[scenario.name] = scenario
    return scenario


# --------------------------------------------------------------------------------------------
# The scenarios. Keep each one a single request shape; add new ones below.
# --------------------------------------------------------------------------------------------

register(
    Scenario(
        name="health_live",
        path="/health/live",
        description="Liveness probe: routing, middleware, msgspec encoding; no I/O.",
        target_ratio=0.40,
    )
)


def _citizen_headers(ctx: SetupContext) -> Prepared:
    from bench.setups import citizen_headers

    return citizen_headers(ctx)


register(
    Scenario(
        name="citizens_me",
        path="/citizens/me",
        setup=_citizen_headers,
        description=(
            "A citizen's profile with a valid access token: token verification (cached per "
            "process), guard, profile from the Redis cache; no database round trip."
        ),
        target_ratio=0.15,
    )
)


def _publish_setup(sample: str) -> SetupFn:
    def setup(ctx: SetupContext) -> Prepared:
        from bench.setups import hospital_publish

        return hospital_publish(sample)(ctx)

    return setup


SEQ = "SEQ000000000"
"""Placeholder in a body that ``UNIQUE_BODY_LUA`` replaces per request."""

# wrk: a per-process random prefix and a counter make every request a new document and patient.
UNIQUE_BODY_LUA = f"""
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local prefix = math.random(100, 999)
local counter = 0
local template = wrk.body
request = function()
  counter = counter + 1
  local body = template:gsub("{SEQ}", string.format("%03d%09d", prefix, counter))
  return wrk.format(nil, nil, nil, body)
end
"""


register(
    Scenario(
        name="publish_ips",
        path="/hospital/summaries",
        method="POST",
        expect_status=201,
        setup=_publish_setup("ips-bundle-minimal.json"),
        lua=UNIQUE_BODY_LUA,
        connections=16,
        target_rps=200,
        description=(
            "A hospital publishes the HL7 IPS sample (16 KB document Bundle), each request a new "
            "document for a new patient: parse, extract, match, store, access log. Target: 200/s."
        ),
    )
)

register(
    Scenario(
        name="publish_synthea",
        path="/hospital/summaries",
        method="POST",
        expect_status=201,
        setup=_publish_setup("synthea-Leonor_Trujillo_5542148c-67d6-4d91-be71-29973234a33b.json"),
        lua=UNIQUE_BODY_LUA,
        connections=4,
        target_rps=10,
        description=(
            "A hospital publishes a 1 MB Synthea transaction Bundle (a whole history: 300+ "
            "entries), each request a new document for a new patient. Target: 10/s."
        ),
    )
)


def _book_owner(ctx: SetupContext) -> Prepared:
    from bench.setups import book_owner_headers

    return book_owner_headers(ctx)


register(
    Scenario(
        name="health_book_overview",
        path="/citizens/me/health-book",
        setup=_book_owner,
        description=(
            "A citizen reads the overview of a book holding a 1 MB Synthea history (warm: the "
            "materialised overview from process memory, kept coherent through Redis)."
        ),
        target_ratio=0.15,
    )
)


# --- appointments ---------------------------------------------------------------------------

# wrk: request i (counted across wrk runs in a file, so that warm-up and rounds never ask for
# the same place twice; one wrk thread, the runner's default) books slot i // per_slot for
# citizen i % #tokens, each with a new Idempotency-Key. With outcomes, every answer is counted
# (201 wins, 409 rejections) and each run appends its counts to bench/results/<name>.outcomes.jsonl.
BOOKING_LUA = """
local data = dofile(wrk.headers["X-Bench-Data"])
wrk.headers["X-Bench-Data"] = nil
local counter = 0
local counts = {wins = 0, rejections = 0, other = 0}

local function save(path, text)
  local file = io.open(path, "w")
  file:write(text)
  file:close()
end

init = function(args)
  local file = io.open(data.counter_file, "r")
  if file then
    counter = tonumber(file:read("*a")) or 0
    file:close()
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

request = function()
  local i = counter
  counter = counter + 1
  save(data.counter_file, tostring(counter))
  local slot = data.slots[math.floor(i / data.per_slot) % #data.slots + 1]
  local token = data.tokens[i % #data.tokens + 1]
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%d-%d", i, math.random(1000000000)),
  }
  return wrk.format("POST", nil, headers, '{"slot_id":"' .. slot .. '"}')
end

if data.per_slot > 1 then
  response = function(status, headers, body)
    if status == 201 then
      counts.wins = counts.wins + 1
    elseif status == 409 then
      counts.rejections = counts.rejections + 1
    else
      counts.other = counts.other + 1
    end
    local text = string.format("%d %d %d", counts.wins, counts.rejections, counts.other)
    save(data.outcomes_file, text)
  end

  done = function(summary, latency, requests)
    local file = io.open(data.outcomes_file, "r")
    if not file then return end
    local wins, rejections, other = file:read("*n", "*n", "*n")
    file:close()
    os.remove(data.outcomes_file)
    local line = string.format(
      '{"at": %d, "requests": %d, "wins": %d, "rejections": %d, "other": %d, ' ..
      '"slots": %d, "capacity": %d}',
      os.time(), summary.requests, wins, rejections, other,
      math.ceil(summary.requests / data.per_slot), data.capacity)
    print("booking outcomes: " .. line)
    local report = io.open(data.report_file, "a")
    report:write(line .. "\\n")
    report:close()
  end
end
"""


def _booking_setup(name: str) -> SetupFn:
    def setup(ctx: SetupContext) -> Prepared:
        from bench import setups

        return getattr(setups, name)(ctx)

    return setup


register(
    Scenario(
        name="book_distinct_slots",
        path="/citizens/me/appointments",
        method="POST",
        expect_status=201,
        setup=_booking_setup("book_distinct_slots"),
        lua=BOOKING_LUA,
        connections=16,
        target_rps=300,
        description=(
            "Citizens book slots nobody else asks for (16 000 slots of one place and 1 600 "
            "citizens, more when the run is long enough to use them up): Idempotency-Key "
            "claim, the conditional update, the appointment, the confirmation and two "
            "reminders in the outbox. Target: 300 bookings/s."
        ),
    )
)

register(
    Scenario(
        name="book_contended",
        path="/citizens/me/appointments",
        method="POST",
        expect_status=409,
        setup=_booking_setup("book_contended"),
        lua=BOOKING_LUA,
        description=(
            "200 citizens in turn ask for each slot of 5 places, 64 connections at once on one "
            "slot: 5 win, 195 get 409 slot-full. Both answers are expected; the runner counts "
            "anything else as an error and reports the wins and rejections of each run, which "
            "are also appended to bench/results/book_contended.outcomes.jsonl."
        ),
    )
)


# --- check-in -------------------------------------------------------------------------------

# wrk: request i (counted across wrk runs in a file, so warm-up and rounds never scan one code
# twice; one wrk thread, the runner's default) posts check-in code i, with the kiosk's token.
KIOSK_LUA = """
local data = dofile(wrk.headers["X-Bench-Data"])
wrk.headers["X-Bench-Data"] = nil
local counter = 0

init = function(args)
  local file = io.open(data.counter_file, "r")
  if file then
    counter = tonumber(file:read("*a")) or 0
    file:close()
  end
end

request = function()
  local i = counter
  counter = counter + 1
  local file = io.open(data.counter_file, "w")
  file:write(tostring(counter))
  file:close()
  local code = data.codes[i % #data.codes + 1]
  return wrk.format("POST", nil, nil, '{"code":"' .. code .. '"}')
end
"""


def _kiosk_setup(ctx: SetupContext) -> Prepared:
    from bench.setups import kiosk_checkin

    return kiosk_checkin(ctx)


register(
    Scenario(
        name="kiosk_checkin",
        path="/kiosk/check-ins",
        method="POST",
        expect_status=201,
        setup=_kiosk_setup,
        lua=KIOSK_LUA,
        connections=16,
        target_rps=300,
        description=(
            "A kiosk checks in appointments nobody else scans (10 000 codes of one department, "
            "more when the run is long enough to use them up, fetched by their citizens in the "
            "setup): code signature, Redis SET NX, the conditional update of the appointment, "
            "the department's counter, the ticket and the 'checked in' push in one "
            "transaction. Target: 300 check-ins/s."
        ),
    )
)


# --- insurance XML ----------------------------------------------------------------------------

INSURANCE_FACILITY = "01009"
"""The bench's insurance XML facility: the service is started accepting its envelopes unsigned
(``INSURANCE_ACCEPT_UNSIGNED_FACILITIES``), since wrk cannot sign a new envelope per request."""


# wrk: every request a new episode (MA_LK) for a new patient (SO_CCCD). The body wrk is given is a
# valid envelope (the runner's check sends it); the template read from the file the setup names
# in the environment keeps the table files as plain XML between markers: SEQ replaced, then
# base64-encoded here.
def insurance_lua(episodes: int) -> str:
    return f"""
local bit = require("bit")
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local chars = {{}}
for i = 1, 64 do chars[i - 1] = alphabet:sub(i, i) end
local function b64(s)
  local out, n = {{}}, #s
  for i = 1, n - 2, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + b * 256 + c
    out[#out + 1] = chars[bit.rshift(v, 18)] .. chars[bit.band(bit.rshift(v, 12), 63)]
      .. chars[bit.band(bit.rshift(v, 6), 63)] .. chars[bit.band(v, 63)]
  end
  local rem = n % 3
  if rem == 1 then
    local v = s:byte(n) * 65536
    out[#out + 1] = chars[bit.rshift(v, 18)] .. chars[bit.band(bit.rshift(v, 12), 63)] .. "=="
  elseif rem == 2 then
    local a, b = s:byte(n - 1, n)
    local v = a * 65536 + b * 256
    out[#out + 1] = chars[bit.rshift(v, 18)] .. chars[bit.band(bit.rshift(v, 12), 63)]
      .. chars[bit.band(bit.rshift(v, 6), 63)] .. "="
  end
  return table.concat(out)
end
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local prefix = math.random(100, 999)
local counter = 0
local file = io.open(os.getenv("BENCH_INSURANCE_TEMPLATE_{episodes}"), "rb")
local template = file:read("*a")
file:close()
request = function()
  counter = counter + 1
  local body = template:gsub("{SEQ}", string.format("%03d%09d", prefix, counter))
  body = body:gsub("@@B64@@(.-)@@END@@", b64)
  return wrk.format(nil, nil, nil, body)
end
"""


def _insurance_setup(episodes: int) -> SetupFn:
    def setup(ctx: SetupContext) -> Prepared:
        from bench.setups import insurance_envelope

        return insurance_envelope(ctx, episodes)

    return setup


register(
    Scenario(
        name="insurance_xml_outpatient",
        path="/hospital/insurance-xml/",
        method="POST",
        expect_status=200,
        setup=_insurance_setup(1),
        lua=insurance_lua(1),
        connections=16,
        target_rps=150,
        description=(
            "A hospital posts a GIAMDINHHS envelope of one outpatient episode (XML1-4, ~40 rows; "
            "unsigned: its facility is configured to accept that, wrk cannot sign), each request "
            "a new episode of a new patient: safe parse, read and check every table, map to FHIR, "
            "publish through the book's pipeline, keep the envelope. Target: 150 episodes/s."
        ),
    )
)

register(
    Scenario(
        name="insurance_xml_envelope20",
        path="/hospital/insurance-xml/",
        method="POST",
        expect_status=200,
        setup=_insurance_setup(20),
        lua=insurance_lua(20),
        connections=4,
        target_rps=10,
        description=(
            "The same with 20 outpatient episodes per envelope (one patient, 20 MA_LK), each "
            "episode published in a transaction of its own. Target: 10 envelopes/s."
        ),
    )
)


# --- sharing --------------------------------------------------------------------------------


# wrk: request i opens the manifest of link i % #links (one link per citizen, see
# bench.setups.share_manifests); the body, a recipient's name, is the scenario's.
SHARE_MANIFEST_LUA = """
local data = dofile(wrk.headers["X-Bench-Data"])
wrk.headers["X-Bench-Data"] = nil
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format(nil, data.paths[(counter % #data.paths) + 1])
end
"""


def _share_manifest_setup(ctx: SetupContext) -> Prepared:
    from bench.setups import share_manifests

    return share_manifests(ctx)


register(
    Scenario(
        name="shl_manifest",
        path="/shl/set-by-the-setup",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=b'{"recipient":"BS. Bench"}',
        setup=_share_manifest_setup,
        lua=SHARE_MANIFEST_LUA,
        connections=16,
        target_rps=1000,
        description=(
            "A recipient's manifest request of a SMART Health Link without a passcode, not "
            "long-term (32 citizens' links in turn): the link found active, a stateless file "
            "`location` (HMAC, no row), the citizen's access-log row (one statement on "
            "PostgreSQL), in one transaction. Target: 1,000/s."
        ),
    )
)


# --- home measurements ------------------------------------------------------------------------

# wrk: request i (counted across wrk runs in a file) records a blood pressure reading for citizen
# i % #tokens, with a new Idempotency-Key and values that vary with i.
MEASUREMENT_LUA = """
local data = dofile(wrk.headers["X-Bench-Data"])
wrk.headers["X-Bench-Data"] = nil
local counter = 0

init = function(args)
  local file = io.open(data.counter_file, "r")
  if file then
    counter = tonumber(file:read("*a")) or 0
    file:close()
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

request = function()
  local i = counter
  counter = counter + 1
  if i % 100 == 0 then
    local file = io.open(data.counter_file, "w")
    file:write(tostring(counter + 100))
    file:close()
  end
  local headers = {
    ["Authorization"] = "Bearer " .. data.tokens[i % #data.tokens + 1],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%d-%d", i, math.random(1000000000)),
  }
  local body = string.format(
    '{"kind":"blood_pressure","systolic":%d,"diastolic":%d,"unit":"mm[Hg]",' ..
    '"effective_at":"%s","device":{"manufacturer":"Omron","model":"M3"}}',
    110 + i % 40, 70 + i % 20, data.at)
  return wrk.format("POST", nil, headers, body)
end
"""


def _measurement_setup(ctx: SetupContext) -> Prepared:
    from bench.setups import home_measurements

    return home_measurements(ctx)


register(
    Scenario(
        name="home_measurement_record",
        path="/citizens/me/measurements",
        method="POST",
        expect_status=201,
        setup=_measurement_setup,
        lua=MEASUREMENT_LUA,
        connections=16,
        target_rps=500,
        description=(
            "50 citizens record blood pressure readings (with a meter): the key's lookup, units "
            "and ranges checked, the FHIR Observation built, the bookkeeping row and the book's "
            "entry (encrypted) in one transaction, the overview dropped after it. Target: 500 "
            "readings/s on one worker."
        ),
    )
)
