"""Benchmark runner: the healthbook service against a bare-ASGI baseline, both under granian.

    uv run python -m bench.run [--scenarios health_live,...] [--duration 10] [--warmup 3]
                               [--rounds 2] [--connections 64] [--json out.json]

Method (see bench/README.md): both servers run under granian with
one worker and one runtime thread, pinned to core 1; wrk (-t1 -c64 --latency) is pinned to core 0.
Each round loads the baseline, then every scenario; the medians over rounds are reported, with the
server's CPU time per request (from /proc over its whole process tree) and the ratio of each
scenario's requests/s to the baseline's. Everything binds and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import inspect
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.procs import ServerProcess, pin_prefix, usable_cpus
from bench.scenarios import SCENARIOS, RequestSpec, Scenario, SetupContext, http_request, resolve
from bench.wrk import INSTALL_HINT, find_wrk, lua_script, run_wrk, wrk_version

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "latest.json"
HOST = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
DEFAULT_DB_NAME = "healthbook_bench"
BASELINE = "baseline"
# The second, Python-bound baseline: a bare Litestar app (bench/baseline_litestar.py).
LITESTAR_BASELINE = "baseline_litestar"
BASELINE_PATH = "/"
SERVICE_READY_PATH = "/health/ready"

# The baseline's granian flags: what `healthbook serve --workers 1` sets through granian's Python
# API (ASGI, one worker, one runtime thread, no access log, default loop and websockets on).
BASELINE_GRANIAN_FLAGS = (
    "--interface",
    "asgi",
    "--workers",
    "1",
    "--runtime-threads",
    "1",
    "--log-level",
    "warning",
    "--no-access-log",
)

# A pinned one-worker server under closed-loop load should keep its core busy; below this share
# of it, something else held the core (or wrk could not keep up) and req/s understate the server.
SATURATED = 0.9

EXIT_OK, EXIT_RUN_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class BenchError(RuntimeError):
    pass


@dataclass
class Config:
    scenarios: list[str]
    duration: int = 10
    warmup: int = 3
    rounds: int = 2
    connections: int = 64
    threads: int = 1
    json_path: Path = DEFAULT_JSON
    pg_admin_dsn: str = DEFAULT_PG_ADMIN
    database: str = DEFAULT_DB_NAME
    redis_url: str = DEFAULT_REDIS
    pin: bool = True
    ready_timeout: float = 90.0
    service_tree: Path | None = None
    """Serve (and set up with the CLI of) another checkout with its own ``.venv``: the same
    harness, baselines and scenarios load both sides of an A/B (``bench.ab``)."""


@dataclass
class Target:
    """One thing wrk loads: the baseline, or a scenario on the service."""

    name: str
    kind: str  # "baseline" | "scenario"
    server: ServerProcess
    spec: RequestSpec
    script: Path | None
    scenario: Scenario | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url + self.spec.path

    def connections(self, config: Config) -> int:
        """The scenario's own connection count (heavy writes), else the run's."""
        if self.scenario is not None and self.scenario.connections is not None:
            return self.scenario.connections
        return config.connections


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ arguments


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Load the healthbook service and a bare-ASGI baseline with wrk; compare.",
    )
    parser.add_argument(
        "--scenarios",
        default="health_live",
        help=f"comma-separated scenario names, or 'all' (known: {', '.join(SCENARIOS)})",
    )
    parser.add_argument("--duration", type=_positive, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=_non_negative, default=3, help="warm-up seconds (0: none)")
    parser.add_argument("--rounds", type=_positive, default=2, help="A B A B rounds (median)")
    parser.add_argument("--connections", type=_positive, default=64, help="wrk -c")
    parser.add_argument("--threads", type=_positive, default=1, help="wrk -t")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--pg-admin-dsn", default=DEFAULT_PG_ADMIN, help="to drop+create the DB")
    parser.add_argument("--database", default=DEFAULT_DB_NAME, help="bench database (recreated)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="Redis DB the bench owns")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--ready-timeout", type=float, default=90.0, help="seconds to get ready")
    parser.add_argument(
        "--service-tree",
        type=Path,
        default=None,
        help="run the service from this checkout's .venv (A/B with one harness); default: here",
    )
    args = parser.parse_args(argv)

    if args.scenarios.strip() == "all":
        names = list(SCENARIOS)
    else:
        names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        parser.error(f"unknown scenario(s) {unknown or names}; known: {', '.join(SCENARIOS)}")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    if (
        args.service_tree is not None
        and not (args.service_tree / ".venv" / "bin" / "healthbook").is_file()
    ):
        parser.error("--service-tree must be a checkout with its environment (.venv) installed")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.database):
        parser.error("--database must be a plain lower-case identifier")
    for label, url in (("--pg-admin-dsn", args.pg_admin_dsn), ("--redis-url", args.redis_url)):
        if urlsplit(url).hostname not in LOOPBACK_NAMES:
            parser.error(f"{label} must point at this machine (127.0.0.1)")
    return Config(
        scenarios=list(dict.fromkeys(names)),
        duration=args.duration,
        warmup=args.warmup,
        rounds=args.rounds,
        connections=args.connections,
        threads=args.threads,
        json_path=args.json,
        pg_admin_dsn=args.pg_admin_dsn,
        database=args.database,
        redis_url=args.redis_url,
        pin=not args.no_pin,
        ready_timeout=args.ready_timeout,
        service_tree=args.service_tree.resolve() if args.service_tree else None,
    )


# ---------------------------------------------------------------------------------- backends


def service_database_url(admin_dsn: str, database: str) -> str:
    parts = urlsplit(admin_dsn)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{database}", "", ""))


async def _recreate_database(admin_dsn: str, database: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        server_version = await conn.fetchval("SHOW server_version")
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return str(server_version)


def recreate_database(admin_dsn: str, database: str) -> str:
    """Drop and create the bench database; answer the PostgreSQL server version."""
    try:
        return asyncio.run(_recreate_database(admin_dsn, database))
    except Exception as exc:  # unreachable, auth refused, no CREATEDB right...
        raise BenchError(f"PostgreSQL at {admin_dsn} is not reachable: {exc}") from exc


def reset_redis(url: str) -> str:
    """Empty the bench's Redis database; answer the Redis server version."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.flushdb()
        return str(client.info("server").get("redis_version", "unknown"))
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {url} is not reachable: {exc}") from exc
    finally:
        client.close()


# ------------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def service_healthbook(config: Config) -> list[str]:
    """The ``healthbook`` command of the service under test: ``--service-tree``'s, else ours."""
    if config.service_tree is not None:
        return [str(config.service_tree / ".venv" / "bin" / "healthbook")]
    return venv_command("healthbook")


def venv_command(name: str) -> list[str]:
    """The project environment's console script ``name`` (``uv run --no-sync NAME`` if absent)."""
    script = Path(sys.executable).parent / name
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    uv = shutil.which("uv")
    if uv is None:
        raise BenchError(
            f"neither {script} nor uv found: run this with `uv run python -m bench.run`"
        )
    return [uv, "run", "--no-sync", name]


def pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def machine_facts(
    *, pg_version: str, redis_version: str, wrk: str, cores: dict[str, int | None]
) -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(usable_cpus()),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "granian": pkg_version("granian"),
        "litestar": pkg_version("litestar"),
        "wrk": wrk_version(wrk),
        "server_core": cores["server"],
        "load_core": cores["load"],
        "postgresql": {"version": pg_version, "same_machine": True, "pinned": False},
        "redis": {"version": redis_version, "same_machine": True, "pinned": False},
        "note": (
            "PostgreSQL and Redis run on this machine, unpinned: they share the cores with the "
            "server and wrk. Absolute req/s vary 15-25% between sessions; compare ratios."
        ),
    }


# ---------------------------------------------------------------------------------- measuring


def measure(target: Target, config: Config, wrk: str, load_prefix: list[str], rnd: int) -> None:
    before = target.server.cpu_seconds()
    load_before = _children_cpu_seconds()
    started = time.monotonic()
    result, raw = run_wrk(
        wrk,
        target.url,
        duration_s=config.duration,
        connections=target.connections(config),
        threads=config.threads,
        script=target.script,
        cpu_prefix=load_prefix,
    )
    wall = time.monotonic() - started
    cpu = target.server.cpu_seconds() - before
    load_cpu = _children_cpu_seconds() - load_before
    record: dict[str, Any] = {"round": rnd, **result.as_dict()}
    outcomes = _outcomes(raw)
    if outcomes is not None:
        # The scenario's Lua counted every answer: wins and rejections are both expected (a
        # contended booking), anything else is an error.
        record["outcomes"] = outcomes
        # wrk gives up on an answer after --timeout (2 s): on one contended slot, 64 requests
        # queue behind one row lock and the last ones wait that long. They are reported per
        # round as `timeouts`, not as errors: the server still answers them, wrk stopped
        # waiting (the slot's capacity is held by a database constraint whatever the order).
        record["timeouts"] = result.socket_errors.get("timeout", 0)
        record["errors"] = (
            sum(result.socket_errors.values()) - record["timeouts"] + int(outcomes["other"])
        )
    elif target.spec.expect_status >= 400:
        # wrk only counts "non-2xx or 3xx": here those are the expected answers, the rest are not.
        socket_errors = sum(result.socket_errors.values())
        record["errors"] = socket_errors + result.requests - result.non_2xx_3xx
    record["server_cpu_s"] = round(cpu, 3)
    record["server_cpu_share"] = round(cpu / wall, 3) if wall else None
    # wrk's own CPU: near 1.0 (one thread) means the load generator, not the server, was the limit.
    record["wrk_cpu_share"] = round(load_cpu / wall, 3) if wall else None
    record["cpu_us_per_request"] = (
        round(cpu * 1e6 / result.requests, 2) if result.requests else None
    )
    target.runs.append(record)
    log(
        f"round {rnd}: {target.name:<20} {result.requests_per_s:>10.1f} req/s  "
        f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
        f"cpu {record['cpu_us_per_request']} us/req  server cpu {record['server_cpu_share']}  "
        f"wrk cpu {record['wrk_cpu_share']}  errors {record['errors']}"
        + (
            f"  wins {outcomes['wins']}  rejections {outcomes['rejections']}"
            f"  timeouts {record['timeouts']}"
            if outcomes is not None
            else ""
        )
    )


OUTCOMES_PREFIX = "booking outcomes: "


def _outcomes(raw: str) -> dict[str, Any] | None:
    """The answer counts a scenario's Lua ``done()`` printed (``booking outcomes: {json}``)."""
    for line in raw.splitlines():
        if line.startswith(OUTCOMES_PREFIX):
            counts: dict[str, Any] = json.loads(line[len(OUTCOMES_PREFIX) :])
            return counts
    return None


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def warm_up(target: Target, config: Config, wrk: str, load_prefix: list[str]) -> None:
    log(f"warm-up: {target.name} ({config.warmup}s)")
    run_wrk(
        wrk,
        target.url,
        duration_s=config.warmup,
        connections=target.connections(config),
        threads=config.threads,
        script=target.script,
        cpu_prefix=load_prefix,
    )


def _median(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return round(statistics.median(clean), 3) if clean else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "requests_per_s": _median([r["requests_per_s"] for r in runs]),
        "p50_ms": _median([r["p50_ms"] for r in runs]),
        "p99_ms": _median([r["p99_ms"] for r in runs]),
        "cpu_us_per_request": _median([r["cpu_us_per_request"] for r in runs]),
        "requests_total": sum(r["requests"] for r in runs),
        "errors_total": sum(r["errors"] for r in runs),
        "timeouts_total": sum(int(r.get("timeouts", 0)) for r in runs),
        "server_cpu_share": _median([r["server_cpu_share"] for r in runs]),
        "wrk_cpu_share": _median([r["wrk_cpu_share"] for r in runs]),
    }


def entry(
    target: Target, baseline: dict[str, Any] | None, litestar: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec = target.spec
    median = summarize(target.runs)
    data: dict[str, Any] = {
        "kind": target.kind,
        "request": {
            "method": spec.method,
            "path": spec.path,
            "header_names": sorted(spec.headers),
            "body_bytes": len(spec.body) if spec.body is not None else 0,
            "expect_status": spec.expect_status,
        },
        "runs": target.runs,
        "median": median,
        "ok": median["errors_total"] == 0 and median["requests_total"] > 0,
    }
    if target.scenario is not None:
        data["description"] = target.scenario.description
    if baseline is not None:
        base_rps = baseline["median"]["requests_per_s"]
        rps = median["requests_per_s"]
        ratio = round(rps / base_rps, 3) if rps and base_rps else None
        paired = [
            round(r["requests_per_s"] / b["requests_per_s"], 3)
            for r, b in zip(target.runs, baseline["runs"], strict=False)
            if b["requests_per_s"]
        ]
        goal = target.scenario.target_ratio if target.scenario else None
        base_cpu = baseline["median"]["cpu_us_per_request"]
        cpu = median["cpu_us_per_request"]
        data["ratio_to_baseline"] = ratio
        # The same comparison by CPU cost (baseline µs/req ÷ scenario µs/req): steadier than req/s
        # when other work shares the server's core, as it may on this shared machine.
        data["cpu_ratio_to_baseline"] = round(base_cpu / cpu, 3) if base_cpu and cpu else None
        data["paired_ratios"] = paired
        data["target_ratio"] = goal
        data["meets_target"] = None if goal is None or ratio is None else ratio >= goal
    if litestar is not None:
        # The same two ratios against the Litestar baseline (Python-bound like the service).
        lit_rps = litestar["median"]["requests_per_s"]
        lit_cpu = litestar["median"]["cpu_us_per_request"]
        rps, cpu = median["requests_per_s"], median["cpu_us_per_request"]
        data["ratio_to_litestar"] = round(rps / lit_rps, 3) if rps and lit_rps else None
        data["cpu_ratio_to_litestar"] = round(lit_cpu / cpu, 3) if lit_cpu and cpu else None
    wanted = target.scenario.target_rps if target.scenario else None
    if wanted is not None:
        rps = median["requests_per_s"]
        data["target_rps"] = wanted
        data["meets_target_rps"] = None if rps is None else rps >= wanted
    return data


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(results: dict[str, dict[str, Any]]) -> str:
    header = (
        f"{'scenario':<22}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU µs/req':>12}{'ratio':>8}{'cpu ratio':>11}{'lit ratio':>11}{'lit cpu':>9}  target"
    )
    lines = [header, "-" * len(header)]
    for name, data in results.items():
        med = data["median"]
        is_base = name == BASELINE
        ratio = 1.0 if is_base else data.get("ratio_to_baseline")
        cpu_ratio = 1.0 if is_base else data.get("cpu_ratio_to_baseline")
        lit_ratio = 1.0 if name == LITESTAR_BASELINE else data.get("ratio_to_litestar")
        lit_cpu = 1.0 if name == LITESTAR_BASELINE else data.get("cpu_ratio_to_litestar")
        goal = data.get("target_ratio")
        verdict = ""
        if goal is not None:
            verdict = f">= {goal:.2f} {'met' if data.get('meets_target') else 'NOT met'}"
        wanted = data.get("target_rps")
        if wanted is not None:
            met = "met" if data.get("meets_target_rps") else "NOT met"
            verdict += f" >= {wanted:g}/s {met}"
        if not data["ok"]:
            verdict += f"  ({med['errors_total']} errors!)"
        share = med["server_cpu_share"]
        if share is not None and share < SATURATED:
            verdict += f"  (server used {share:.0%} of its core: contended or load-bound)"
        lines.append(
            f"{name:<22}{_fmt(med['requests_per_s'], 1):>11}{_fmt(med['p50_ms'], 2):>9}"
            f"{_fmt(med['p99_ms'], 2):>9}{_fmt(med['cpu_us_per_request'], 1):>12}"
            f"{_fmt(ratio, 3):>8}{_fmt(cpu_ratio, 3):>11}{_fmt(lit_ratio, 3):>11}"
            f"{_fmt(lit_cpu, 3):>9}  {verdict.strip()}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- driver


def _check_request(target: Target) -> None:
    spec = target.spec
    try:
        status, body = http_request(
            spec.method, target.url, body=spec.body, headers=spec.headers, timeout=10
        )
    except OSError as exc:
        raise BenchError(f"{target.name}: {spec.method} {spec.path} failed: {exc}") from exc
    if status != spec.expect_status:
        raise BenchError(
            f"{target.name}: {spec.method} {spec.path} answered {status}, expected "
            f"{spec.expect_status}: {body[:300]!r}"
        )


def _prepare_scenario(scenario: Scenario, ctx: SetupContext) -> RequestSpec:
    prepared = None
    if scenario.setup is not None:
        log(f"setup: {scenario.name}")
        prepared = scenario.setup(ctx)
        if inspect.isawaitable(prepared):
            prepared = asyncio.run(_await(prepared))
    return resolve(scenario, prepared)  # type: ignore[arg-type]


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run_benchmark(config: Config) -> dict[str, Any]:
    """Run the whole benchmark (servers started and always stopped here); answer the report."""
    wrk = find_wrk()
    if wrk is None:
        raise BenchError(INSTALL_HINT)

    cpus = usable_cpus()
    pinning = config.pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    cores: dict[str, int | None] = {
        "server": (1 if 1 in cpus else cpus[1]) if pinning else None,
        "load": (0 if 0 in cpus else cpus[0]) if pinning else None,
    }
    server_prefix, load_prefix = pin_prefix(cores["server"]), pin_prefix(cores["load"])
    if not pinning:
        log("not pinning (fewer than 2 cores, taskset missing, or --no-pin)")

    log(f"recreating database {config.database}; flushing {config.redis_url}")
    pg_version = recreate_database(config.pg_admin_dsn, config.database)
    redis_version = reset_redis(config.redis_url)
    database_url = service_database_url(config.pg_admin_dsn, config.database)

    json_path = config.json_path.resolve()
    log_dir = json_path.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    with (
        tempfile.TemporaryDirectory(prefix="healthbook-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        tmp_dir = Path(tmp)
        data_dir = tmp_dir / "data"
        data_dir.mkdir()

        base_port, lit_port, svc_port = free_port(), free_port(), free_port()
        while len({base_port, lit_port, svc_port}) < 3:
            lit_port, svc_port = free_port(), free_port()
        baseline_cmd = [
            *server_prefix,
            *venv_command("granian"),
            "--host",
            HOST,
            "--port",
            str(base_port),
            *BASELINE_GRANIAN_FLAGS,
            "bench.baseline_app:app",
        ]
        litestar_cmd = [
            *server_prefix,
            *venv_command("granian"),
            "--host",
            HOST,
            "--port",
            str(lit_port),
            *BASELINE_GRANIAN_FLAGS,
            "bench.baseline_litestar:app",
        ]
        service_url = f"http://{HOST}:{svc_port}"
        service_env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": config.redis_url,
            "AUTO_MIGRATE": "true",
            "ACCESS_LOG": "false",
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(data_dir),
            "PRODUCTION": "false",
            # a few identities drive hundreds of requests per second: budgets would refuse them
            "RATE_LIMIT_ENABLED": "false",
            "PUBLIC_BASE_URL": service_url,
            # the insurance XML scenarios post unsigned envelopes (wrk cannot sign per request)
            "INSURANCE_ACCEPT_UNSIGNED_FACILITIES": "01009",
            # the identifier systems of the public FHIR samples the publish scenarios send
            "NATIONAL_ID_SYSTEMS": (
                "https://fhir.moh.gov.vn/sid/cccd,urn:oid:2.16.840.1.113883.2.4.6.3,"
                "http://hospital.smarthealthit.org"
            ),
        }
        service_cmd = [
            *server_prefix,
            *service_healthbook(config),
            "serve",
            "--host",
            HOST,
            "--port",
            str(svc_port),
            "--workers",
            "1",
        ]
        baseline_server = ServerProcess(
            BASELINE,
            baseline_cmd,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            cwd=PROJECT_ROOT,
            log_path=log_dir / "baseline.log",
            base_url=f"http://{HOST}:{base_port}",
            ready_path=BASELINE_PATH,
        )
        litestar_server = ServerProcess(
            LITESTAR_BASELINE,
            litestar_cmd,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            cwd=PROJECT_ROOT,
            log_path=log_dir / "baseline_litestar.log",
            base_url=f"http://{HOST}:{lit_port}",
            ready_path=BASELINE_PATH,
        )
        service = ServerProcess(
            "healthbook",
            service_cmd,
            env=service_env,
            cwd=config.service_tree or PROJECT_ROOT,
            log_path=log_dir / "healthbook.log",
            base_url=service_url,
            ready_path=SERVICE_READY_PATH,
        )
        for server in (baseline_server, litestar_server, service):
            stack.callback(server.stop)
            log(f"starting {server.name}: {' '.join(server.cmd)}")
            server.start()
        baseline_server.wait_ready(config.ready_timeout)
        litestar_server.wait_ready(config.ready_timeout)
        service.wait_ready(config.ready_timeout)
        log(f"both servers ready (baseline pid {baseline_server.pid}, service pid {service.pid})")

        ctx = SetupContext(
            base_url=service_url,
            database_url=database_url,
            redis_url=config.redis_url,
            data_dir=data_dir,
            env=service_env,
            load_seconds=config.warmup + config.duration * config.rounds,
            healthbook=service_healthbook(config)[0] if config.service_tree else None,
        )
        targets = [
            Target(
                BASELINE,
                "baseline",
                baseline_server,
                RequestSpec("GET", BASELINE_PATH, {}, None, 200),
                script=None,
            ),
            Target(
                LITESTAR_BASELINE,
                "baseline",
                litestar_server,
                RequestSpec("GET", BASELINE_PATH, {}, None, 200),
                script=None,
            ),
        ]
        for name in config.scenarios:
            scenario = SCENARIOS[name]
            spec = _prepare_scenario(scenario, ctx)
            script = tmp_dir / f"{name}.lua"
            script.write_text(lua_script(spec))
            targets.append(Target(name, "scenario", service, spec, script, scenario))
        for target in targets:
            _check_request(target)

        if config.warmup:
            for target in targets:
                warm_up(target, config, wrk, load_prefix)
        for rnd in range(1, config.rounds + 1):
            for target in targets:
                measure(target, config, wrk, load_prefix, rnd)

        results: dict[str, dict[str, Any]] = {}
        results[BASELINE] = entry(targets[0], None)
        results[LITESTAR_BASELINE] = entry(targets[1], results[BASELINE])
        for target in targets[2:]:
            results[target.name] = entry(target, results[BASELINE], results[LITESTAR_BASELINE])

        facts = machine_facts(
            pg_version=pg_version, redis_version=redis_version, wrk=wrk, cores=cores
        )
        servers = {
            "baseline": {"command": baseline_server.cmd, "url": baseline_server.base_url},
            LITESTAR_BASELINE: {"command": litestar_server.cmd, "url": litestar_server.base_url},
            "healthbook": {"command": service.cmd, "url": service.base_url},
        }

    return {
        "schema": 1,
        "started_at": started_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": config_facts(config, json_path),
        "machine": facts,
        "servers": servers,
        "method": (
            f"wrk -t{config.threads} -c{config.connections} -d{config.duration}s --latency; "
            f"{config.warmup}s warm-up per target; {config.rounds} rounds alternating baseline and "
            "scenarios; medians reported; CPU = utime+stime over the server's process tree"
        ),
        "results": results,
    }


def config_facts(config: Config, json_path: Path) -> dict[str, Any]:
    """The run's configuration as JSON values (paths as strings)."""
    facts = asdict(config)
    facts["json_path"] = str(json_path)
    facts["service_tree"] = str(config.service_tree) if config.service_tree else None
    return facts


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


class _Terminated(BaseException):
    pass


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT / SIGTERM / SIGHUP unwind the stack, so every server is stopped on the way out."""

    def handler(signum: int, _frame: object) -> None:
        raise _Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C too, even when started in the background of a shell that set SIGINT to "ignore".
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    if find_wrk() is None:
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _signals_raise():
            report = run_benchmark(config)
    except (KeyboardInterrupt, _Terminated):
        print("interrupted: servers stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RuntimeError as exc:  # BenchError, WrkError, a server that did not start
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUN_ERRORS
    write_json(report, config.json_path)
    print(format_table(report["results"]))
    machine = report["machine"]
    print(
        f"\nnproc={machine['nproc']}  server core={machine['server_core']}  "
        f"wrk core={machine['load_core']}  PostgreSQL and Redis on this machine (unpinned)"
    )
    print(f"JSON: {config.json_path}")
    return EXIT_OK if all(r["ok"] for r in report["results"].values()) else EXIT_RUN_ERRORS


if __name__ == "__main__":
    sys.exit(main())
