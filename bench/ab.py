"""A/B of two commits: the bench run alternately on each, CPU per request compared per scenario.

Absolute figures move between sessions and even between minutes on a shared machine; two commits
measured one after the other can differ by what the machine did meanwhile. This runner checks both
commits out as detached worktrees, installs each one's locked environment, and runs
``python -m bench.run`` on each in turn — A B B A A B … — so that drift hits both alike. The
harness is the new commit's for both sides (``bench.run --service-tree``: the old commit's service
is started from its own tree and environment, but the baselines, the scenarios, their setups and
the load are the same code), so a change of the bench itself cannot pass for a change of the
service; ``--own-harness`` runs each commit's own ``bench.run`` instead. Per
scenario it reports the median server CPU µs per request of each commit over its runs, the ratio
new ÷ old (below 1: the new commit is cheaper), and the same for requests/s.

    uv run python -m bench.ab OLD NEW                        # all scenarios, 2 pairs
    uv run python -m bench.ab 4d16329 HEAD --pairs 3 --duration 5 --warmup 2
    uv run python -m bench.ab OLD NEW --scenarios book_distinct_slots,kiosk_checkin

Each run is a whole ``bench.run`` (its own database, servers and baseline), so the commits need
not share a schema. Worktrees go to ``--workdir`` (default ``bench/results/ab``) and are removed at
the end; every run's JSON stays there. Exit code: 0 when every run completed without errors,
1 otherwise (the table is printed either way).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = ROOT / "bench" / "results" / "ab"


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        raise SystemExit("uv not found: run `make uv` first")
    return found


def checkout(commit: str, workdir: Path) -> Path:
    """A detached worktree of ``commit`` with its locked environment installed."""
    sha = _git("rev-parse", "--verify", f"{commit}^{{commit}}")
    tree = workdir / sha[:12]
    if not tree.exists():
        _git("worktree", "add", "--detach", str(tree), sha)
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tree / ".venv")}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([_uv(), "sync", "--frozen", "--quiet"], cwd=tree, check=True, env=env)
    return tree


def run_once(
    tree: Path, harness: Path, out: Path, args: argparse.Namespace
) -> dict[str, Any] | None:
    """One ``bench.run`` of ``harness`` against the service of ``tree``."""
    command = [
        str(harness / ".venv" / "bin" / "python"),
        "-m",
        "bench.run",
        "--scenarios",
        args.scenarios,
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--rounds",
        "1",
        "--json",
        str(out),
    ]
    command += ["--database", args.database, "--redis-url", args.redis_url]
    if tree != harness:
        command += ["--service-tree", str(tree)]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    print(f"ab: {tree.name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=harness, env=env, check=False)
    if not out.exists():
        return None
    report: dict[str, Any] = json.loads(out.read_text())
    report["exit_code"] = done.returncode
    return report


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def compare(runs: dict[str, list[dict[str, Any]]], old: str, new: str) -> dict[str, Any]:
    """Per scenario: median CPU µs/req and req/s of each side, and new ÷ old."""
    names: list[str] = []
    for report in runs[old] + runs[new]:
        for name in report.get("results", {}):
            if name not in names:
                names.append(name)
    table: dict[str, Any] = {}
    for name in names:
        row: dict[str, Any] = {}
        for side in (old, new):
            medians = [
                r["results"][name]["median"] for r in runs[side] if name in r.get("results", {})
            ]
            row[side] = {
                "runs": len(medians),
                "cpu_us_per_request": _median(
                    [m["cpu_us_per_request"] for m in medians if m.get("cpu_us_per_request")]
                ),
                "requests_per_s": _median(
                    [m["requests_per_s"] for m in medians if m.get("requests_per_s")]
                ),
                "errors_total": sum(int(m.get("errors_total") or 0) for m in medians),
            }
        cpu_old, cpu_new = row[old]["cpu_us_per_request"], row[new]["cpu_us_per_request"]
        rps_old, rps_new = row[old]["requests_per_s"], row[new]["requests_per_s"]
        row["cpu_new_over_old"] = round(cpu_new / cpu_old, 3) if cpu_old and cpu_new else None
        row["rps_new_over_old"] = round(rps_new / rps_old, 3) if rps_old and rps_new else None
        table[name] = row
    return table


def format_table(table: dict[str, Any], old: str, new: str) -> str:
    head = (
        f"{'target':<24}{'cpu µs/req old':>16}{'new':>10}{'new/old':>9}"
        f"{'req/s old':>12}{'new':>10}{'new/old':>9}{'errors':>8}"
    )
    lines = [f"A/B: old {old}  new {new}", head, "-" * len(head)]
    for name, row in table.items():
        a, b = row[old], row[new]

        def fmt(value: float | None, digits: int = 1) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        lines.append(
            f"{name:<24}{fmt(a['cpu_us_per_request']):>16}{fmt(b['cpu_us_per_request']):>10}"
            f"{fmt(row['cpu_new_over_old'], 3):>9}{fmt(a['requests_per_s'], 0):>12}"
            f"{fmt(b['requests_per_s'], 0):>10}{fmt(row['rps_new_over_old'], 3):>9}"
            f"{a['errors_total'] + b['errors_total']:>8}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("old", help="the commit before the change (any git revision)")
    parser.add_argument("new", help="the commit after it")
    parser.add_argument("--pairs", type=int, default=2, help="A/B pairs (order alternates)")
    parser.add_argument("--scenarios", default="all", help="as bench.run --scenarios")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--json", type=Path, default=None, help="default: WORKDIR/ab.json")
    parser.add_argument("--keep", action="store_true", help="keep the worktrees")
    parser.add_argument(
        "--database",
        default="healthbook_ab",
        help="the bench database of every run (recreated; not the one `make bench` uses, so an "
        "A/B and a bench at the same time do not drop each other's tables)",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/14", help="the Redis DB the runs own"
    )
    parser.add_argument(
        "--own-harness",
        action="store_true",
        help="run each commit's own bench.run (default: the new commit's harness for both)",
    )
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    old = _git("rev-parse", "--short=12", f"{args.old}^{{commit}}")
    new = _git("rev-parse", "--short=12", f"{args.new}^{{commit}}")
    if old == new:
        raise SystemExit("ab: OLD and NEW are the same commit")
    trees = {old: checkout(old, args.workdir), new: checkout(new, args.workdir)}
    runs: dict[str, list[dict[str, Any]]] = {old: [], new: []}
    clean = True
    try:
        for pair in range(args.pairs):
            order = (old, new) if pair % 2 == 0 else (new, old)
            for side in order:
                out = args.workdir / f"{side}-{pair}.json"
                harness = trees[side] if args.own_harness else trees[new]
                report = run_once(trees[side], harness, out, args)
                if report is None or report["exit_code"] != 0:
                    clean = False
                if report is not None:
                    runs[side].append(report)
    finally:
        if not args.keep:
            for tree in trees.values():
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tree)],
                    cwd=ROOT,
                    check=False,
                    capture_output=True,
                )
    table = compare(runs, old, new)
    print(format_table(table, old, new))
    target = args.json or args.workdir / "ab.json"
    harness = "own" if args.own_harness else new
    target.write_text(
        json.dumps(
            {"old": old, "new": new, "pairs": args.pairs, "harness": harness, "table": table}
        )
    )
    print(f"ab: results in {target}", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
