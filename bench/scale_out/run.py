"""The scale-out run, start to finish (see README.md, "Scale-out run").

1. Recreate the database ``healthbook_scaleout`` and flush the Redis database the run owns;
   migrate with ``healthbook migrate``.
2. Start the fake FCM server, two ``healthbook serve`` (one worker each, shared signing keys and
   secrets, no embedded relay, rate limits off), two ``healthbook worker`` and nginx in front
   (round-robin, kept-alive upstream connections). Everything on 127.0.0.1, each process in its
   own process group, all stopped at the end whatever happens.
3. Set up over HTTP through nginx (:mod:`bench.scale_out.population`).
4. Baseline: ``GET /health/live`` through nginx with the same load generator and concurrency.
5. The mixed load for ``--duration`` seconds (:mod:`bench.scale_out.load`); with ``--solo S``,
   then each scenario alone for S seconds (its CPU per request).
6. Wait until the outbox has drained; check each invariant (:mod:`bench.scale_out.checks`);
   print the throughput per scenario and the invariants (:mod:`bench.scale_out.report`); write
   the JSON report.

Exit code 0 only when every invariant holds; 1 when one does not or the run failed; 2 for a
usage error or nginx missing; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.procs import usable_cpus
from bench.run import (
    DEFAULT_PG_ADMIN,
    LOOPBACK_NAMES,
    BenchError,
    _signals_raise,
    _Terminated,
    pkg_version,
    write_json,
)
from bench.scale_out import checks, population
from bench.scale_out.load import Load, allocate
from bench.scale_out.report import format_report
from bench.scale_out.stack import JWKS_PATH, NGINX_HINT, Stack, find_nginx, log, start_stack
from bench.scenarios import SetupContext

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "scale_out.json"
DEFAULT_DATABASE = "healthbook_scaleout"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
"""Tests use Redis databases 1-14 (1-13 per test process, 14 the bench smoke test); 15 is the
benchmarks' (``bench.run`` defaults to it too: do not run both at once)."""
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class Config:
    duration: float = 20.0
    concurrency: int = 32
    baseline: float = 3.0
    solo: float = 0.0
    checkins: int | None = None
    json_path: Path = DEFAULT_JSON
    database: str = DEFAULT_DATABASE
    pg_admin_dsn: str = DEFAULT_PG_ADMIN
    redis_url: str = DEFAULT_REDIS
    drain_timeout: float = 90.0
    ready_timeout: float = 90.0
    seed: int = 1

    def sizes(self) -> population.Sizes:
        """Enough data that no scenario runs dry at a quiet machine's pace (check-in codes may:
        each costs two setup requests; the report says when they ran out)."""
        return population.Sizes(
            readers=16,
            bookers=max(40, int(self.duration * 3)),
            contended_slots=max(20, int((self.duration + self.solo) * 8)),
            distinct_slots=max(200, int((self.duration + self.solo) * 40)),
            checkins=self.checkins or max(80, int(self.duration * 20 + self.solo * 60)),
        )


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_out",
        description="Two API processes and two relays behind nginx under a mixed load; invariants.",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of mixed load")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight (users over scenarios)"
    )
    parser.add_argument(
        "--baseline", type=float, default=3.0, help="seconds of GET /health/live first (0: none)"
    )
    parser.add_argument(
        "--solo",
        type=float,
        default=0.0,
        help="after the mix, each scenario alone for this many seconds (0: none)",
    )
    parser.add_argument(
        "--checkins", type=int, default=None, help="appointments prepared for the kiosk"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="report path")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="recreated at every start")
    parser.add_argument("--pg-admin-dsn", default=DEFAULT_PG_ADMIN)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="flushed at every start")
    parser.add_argument("--drain-timeout", type=float, default=90.0)
    parser.add_argument("--ready-timeout", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 3600:
        parser.error("--duration must be 1 to 3600 seconds")
    if not len(allocate(1)) <= args.concurrency <= 1000:
        parser.error(f"--concurrency must be {len(allocate(1))} to 1000 (one user per scenario)")
    if args.baseline < 0 or args.solo < 0 or (args.checkins is not None and args.checkins < 1):
        parser.error("--baseline and --solo must be 0 or more, --checkins at least 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.database):
        parser.error("--database must be a plain lower-case identifier")
    for label, url in (("--pg-admin-dsn", args.pg_admin_dsn), ("--redis-url", args.redis_url)):
        if urlsplit(url).hostname not in LOOPBACK_NAMES:
            parser.error(f"{label} must point at this machine (127.0.0.1)")
    return Config(
        duration=args.duration,
        concurrency=args.concurrency,
        baseline=args.baseline,
        solo=args.solo,
        checkins=args.checkins,
        json_path=args.json,
        database=args.database,
        pg_admin_dsn=args.pg_admin_dsn,
        redis_url=args.redis_url,
        drain_timeout=args.drain_timeout,
        ready_timeout=args.ready_timeout,
        seed=args.seed,
    )


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class CpuWindow:
    """CPU used by each group of processes, the load generator and the machine over a window."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.groups = stack.cpu_seconds()
        self.own = time.process_time()
        self.machine = _machine_busy()
        self.wall = time.monotonic()

    def close(self, requests: int) -> dict[str, Any]:
        wall = time.monotonic() - self.wall
        groups = self.stack.cpu_seconds()
        busy, total = _machine_busy()
        used = {name: groups[name] - self.groups[name] for name in groups}
        used["load_generator"] = time.process_time() - self.own
        return {
            "wall_s": round(wall, 3),
            "cores_used": {name: round(seconds / wall, 3) for name, seconds in used.items()},
            "api_cpu_us_per_request": round(used["api"] * 1e6 / requests, 1) if requests else None,
            "machine_busy_share": round(
                (busy - self.machine[0]) / max(1, total - self.machine[1]), 3
            ),
        }


async def _drive(config: Config, stack: Stack, ctx: SetupContext) -> dict[str, Any]:
    sizes = config.sizes()
    assert stack.jwks_file is not None
    people = await population.build(stack.proxy_url, ctx, sizes, (stack.jwks_file, JWKS_PATH), log)
    population.save(people, stack.logs / "population.json")
    log(
        f"setup done: {people.setup_requests} requests in {people.setup_seconds:.1f}s; "
        f"{len(people.checkin_codes)} check-in codes ready"
    )
    load = Load(stack.proxy_url, people, config.concurrency, config.seed)
    report: dict[str, Any] = {
        "population": {
            **asdict(sizes),
            "checkin_codes": len(people.checkin_codes),
            "devices": sum(len(c.devices) for c in people.citizens()),
            "setup_requests": people.setup_requests,
            "setup_seconds": round(people.setup_seconds, 1),
        },
        "users": load.users,
    }
    await _settle(stack)
    if config.baseline:
        log(f"baseline: GET /health/live through nginx, {config.concurrency} users")
        tallies = load.phase("baseline")
        window = CpuWindow(stack)
        wall = await load.run(config.baseline, {"baseline": config.concurrency})
        base = tallies["baseline"]
        report["baseline"] = {
            **base.summary(wall),
            "wall_s": round(wall, 3),
            "cpu": window.close(base.requests),
        }
    await _settle(stack)
    await asyncio.sleep(1.2)  # nginx flushes its upstream log every second
    offset = stack.upstream_offset()
    log(f"mixed load: {config.duration:g}s, users {load.users}")
    tallies = load.phase("mix")
    window = CpuWindow(stack)
    wall = await load.run(config.duration)
    total = sum(t.requests for t in tallies.values())
    report["mix"] = {
        "wall_s": round(wall, 3),
        "requests": total,
        "requests_per_s": round(total / wall, 1),
        "cpu": window.close(total),
        "checkin_codes_ran_out_at_s": load.observed.checkin_exhausted_at,
        "distinct_slots_ran_out_at_s": load.observed.distinct_exhausted_at,
    }
    report["scenarios"] = {
        t.name: t.summary(wall) for t in tallies.values() if t.name != "baseline"
    }
    if "baseline" in report and report["baseline"]["requests_per_s"]:
        report["mix"]["ratio_to_baseline"] = round(
            report["mix"]["requests_per_s"] / report["baseline"]["requests_per_s"], 3
        )
    await asyncio.sleep(1.2)
    report["mix"]["per_api_process"] = stack.upstream_counts(offset)
    if config.solo:
        report["solo"] = await _solo(config.solo, load, stack, report.get("baseline"))
    log("load done; waiting for the relays to drain the outbox")
    drained, waited, statuses = await checks.drain(stack.database_url, config.drain_timeout)
    report["outbox"] = {"drained": drained, "drain_wait_s": round(waited, 2), **statuses}
    invariants = await checks.check(stack.database_url, stack.fcm_url, people, load, drained)
    fcm = next(i for i in invariants if i.name == "notifications_once_per_device")
    report["relay"] = {
        "device_messages_accepted": fcm.data["fake_fcm_stats"].get("accepted", 0),
        "notifications_per_relay": fcm.data["sent_per_relay"],
    }
    report["invariants"] = {
        i.name: {"holds": i.holds, "detail": i.detail, **i.data} for i in invariants
    }
    return report


async def _settle(stack: Stack) -> None:
    """Let the relays finish what the previous phase enqueued, so that a phase's figures are its
    own (bounded: a phase starts anyway after 60 s)."""
    drained, waited, _statuses = await checks.drain(stack.database_url, 60.0)
    if waited > 0.5 or not drained:
        log(f"waited {waited:.1f}s for the relays to drain the outbox (drained: {drained})")


async def _solo(
    seconds: float, load: Load, stack: Stack, baseline: dict[str, Any] | None
) -> dict[str, Any]:
    """Each scenario alone for ``seconds``, with its users of the mix: what one request of it
    costs the API processes (CPU µs per request, steadier than req/s on a shared machine) and
    the relays (the notifications it causes)."""
    solo: dict[str, Any] = {}
    for name, users in load.users.items():
        await _settle(stack)
        log(f"solo: {name} for {seconds:g}s, {users} users")
        tallies = load.phase(f"solo:{name}")
        window = CpuWindow(stack)
        wall = await load.run(seconds, {name: users})
        requests = sum(t.requests for t in tallies.values())
        solo[name] = {
            "users": users,
            "requests": requests,
            "requests_per_s": round(requests / wall, 1),
            "p50_ms": tallies[name].summary(wall)["p50_ms"],
            "p99_ms": tallies[name].summary(wall)["p99_ms"],
            "cpu": window.close(requests),
        }
        if baseline and baseline["requests_per_s"] and requests:
            solo[name]["ratio_to_baseline"] = round(
                solo[name]["requests_per_s"] / baseline["requests_per_s"], 3
            )
            base_cpu = baseline["cpu"]["api_cpu_us_per_request"]
            cpu = solo[name]["cpu"]["api_cpu_us_per_request"]
            solo[name]["cpu_ratio_to_baseline"] = round(base_cpu / cpu, 4) if cpu else None
    return solo


def run(config: Config) -> dict[str, Any]:
    find_nginx()
    json_path = config.json_path.resolve()
    logs = json_path.parent / "logs" / "scale_out"
    logs.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with (
        tempfile.TemporaryDirectory(prefix="healthbook-scaleout-") as tmp,
        contextlib.ExitStack() as processes,
    ):
        work = Path(tmp)
        stack = start_stack(
            processes,
            work=work,
            logs=logs,
            pg_admin_dsn=config.pg_admin_dsn,
            database=config.database,
            redis_url=config.redis_url,
            ready_timeout=config.ready_timeout,
        )
        ctx = SetupContext(
            base_url=stack.proxy_url,
            database_url=stack.database_url,
            redis_url=stack.redis_url,
            data_dir=work / "data",
            env=stack.env,
        )
        report = _run_loop(_drive(config, stack, ctx))
        commands = {
            proc.name: proc.cmd
            for proc in [*stack.apis, *stack.workers, stack.nginx, stack.fcm]
            if proc is not None
        }
        versions = stack.versions
        nginx_conf = (work / "nginx" / "nginx.conf").read_text()
    return {
        "schema": 1,
        "started_at": started_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {**asdict(config), "json_path": str(json_path)},
        "machine": {
            "nproc": len(usable_cpus()),
            "cpu_count": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "granian": pkg_version("granian"),
            "litestar": pkg_version("litestar"),
            "httpx": pkg_version("httpx"),
            **versions,
            "note": (
                "Everything shares this machine's cores, unpinned: two API processes, two relay "
                "workers, nginx, PostgreSQL, Redis, the fake FCM server and the load generator. "
                "Compare ratios, not absolute requests/s."
            ),
        },
        "processes": commands,
        "nginx_conf": nginx_conf,
        "logs": str(logs),
        **report,
    }


def _run_loop(coroutine: Any) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(coroutine)
    result: dict[str, Any] = uvloop.run(coroutine)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        find_nginx()
    except BenchError:
        print(f"error: {NGINX_HINT}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _signals_raise():
            report = run(config)
    except (KeyboardInterrupt, _Terminated):
        print("interrupted: every process stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RuntimeError as exc:  # BenchError, a process that did not start
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    write_json(report, config.json_path)
    print(format_report(report))
    holds = all(inv["holds"] for inv in report["invariants"].values())
    print(f"\n{'every invariant holds' if holds else 'SOME INVARIANT DOES NOT HOLD'}")
    print(f"JSON: {config.json_path}  logs: {report['logs']}")
    return EXIT_OK if holds else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
