"""Apple Health import: read a large synthetic export.xml, against a bare lxml iterparse of it.

    uv run python -m bench.apple_health_parse [--mb 200] [--rounds 2] [--cpu 1] [--json PATH]
                                              [--file export.xml]

A synthetic export of ``--mb`` megabytes (``tests/support/apple_health_export.write_synthetic``:
a watch wearer's mix — heart rate with a device, steps and energy that are not imported, weight,
glucose in ``mmol<…>/L`` with its meal time, a blood pressure correlation beside its two halves
every tenth block — behind Apple's internal DTD) is written into a temporary directory and
removed afterwards (``--file`` reads an existing one instead). Each measurement runs in a fresh
process, so that its peak RSS is its own:

- ``ours``: ``read_export`` over the file, every sample built (units, dates, devices, dedup keys,
  blood pressure pairing) and counted;
- ``baseline``: ``lxml.etree.iterparse`` of the same file with the same parser options, each
  top-level element dropped once ended and nothing else done — the floor of any streaming reader
  of this file, measured in the same run so that the ratio travels between machines.

Rounds alternate the order (A B, then B A). Reported per measurement: ``<Record>`` elements per
second of wall and of CPU time, and the peak RSS growth during the read (``VmHWM`` at the end
minus ``VmRSS`` before the first byte); medians over the rounds and the ratio ours / baseline.
Results go to ``bench/results/apple_health_parse.json``. A benchmark never decides whether tests
pass; ``tests/unit/measurements/test_apple_health_memory.py`` runs :func:`measure_in_child` on a
small file and checks only that memory stays flat and the counts hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "apple_health_parse.json"
KINDS = ("baseline", "ours")


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _baseline(path: Path) -> dict[str, int]:
    from lxml import etree

    records = 0
    root = None
    with path.open("rb") as raw:
        for _event, element in etree.iterparse(  # pyright: ignore[reportAttributeAccessIssue]
            raw,
            events=("end",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        ):
            if root is None:
                root = element.getroottree().getroot()
            if element.tag == "Record":
                records += 1
            if element.getparent() is root:
                root.remove(element)
    return {"records": records}


def _ours(path: Path) -> dict[str, Any]:
    from api.measurements.apple_health import read_export

    samples = 0
    with path.open("rb") as raw, read_export(raw) as reader:
        for _sample in reader:
            samples += 1
    summary = reader.summary
    return {
        "samples": samples,
        "refused": summary.refused,
        "skipped": sum(summary.skipped.values()),
        "bytes_read": summary.bytes_read,
    }


def measure(kind: str, path: Path) -> dict[str, Any]:
    """One measurement in this process (call it in a fresh one: see :func:`measure_in_child`)."""
    if kind == "ours":
        import api.measurements.apple_health  # noqa: F401  (imports outside the measurement)
    else:
        import lxml.etree  # noqa: F401
    rss_before = _status_kib("VmRSS")
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    counts = _ours(path) if kind == "ours" else _baseline(path)
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    peak = _status_kib("VmHWM")
    return {
        "kind": kind,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak / 1024,
        "rss_growth_mib": (peak - rss_before) / 1024,
        **counts,
    }


def measure_in_child(kind: str, path: Path, cpu: int | None = None) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process (its peak RSS is then its own)."""
    command = [
        sys.executable,
        "-m",
        "bench.apple_health_parse",
        "--child",
        kind,
        "--file",
        str(path),
    ]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {kind} measurement failed:\n{done.stderr}")
    return json.loads(done.stdout)


def run(path: Path, records: int, rounds: int, cpu: int | None) -> dict[str, Any]:
    size = path.stat().st_size
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for round_index in range(rounds):
        for kind in KINDS if round_index % 2 == 0 else KINDS[::-1]:
            result = measure_in_child(kind, path, cpu)
            result["records_per_s"] = records / result["wall_s"]
            result["records_per_cpu_s"] = records / result["cpu_s"]
            runs[kind].append(result)
            print(
                f"  round {round_index + 1} {kind:<8} {result['wall_s']:7.2f} s wall "
                f"{result['cpu_s']:7.2f} s CPU {result['records_per_s']:>9,.0f} records/s "
                f"RSS +{result['rss_growth_mib']:.1f} MiB",
                flush=True,
            )
    medians = {
        kind: {
            field: statistics.median(result[field] for result in results)
            for field in ("wall_s", "cpu_s", "records_per_s", "records_per_cpu_s", "rss_growth_mib")
        }
        for kind, results in runs.items()
    }
    return {
        "benchmark": "apple_health_parse",
        "what": "read_export over a synthetic export.xml vs a bare iterparse of it",
        "python": platform.python_version(),
        "file": {"bytes": size, "records": records},
        "rounds": rounds,
        "cpu_affinity": cpu,
        "load_average": os.getloadavg(),
        "median": medians,
        "ratio_to_baseline": {
            "records_per_s": medians["ours"]["records_per_s"]
            / medians["baseline"]["records_per_s"],
            "records_per_cpu_s": medians["ours"]["records_per_cpu_s"]
            / medians["baseline"]["records_per_cpu_s"],
        },
        "runs": runs,
    }


def report(result: dict[str, Any]) -> None:
    file = result["file"]
    print(f"export.xml: {file['bytes'] / 1e6:.0f} MB, {file['records']:,} <Record> elements")
    print(f"{'':<10} {'records/s':>10} {'/CPU s':>10} {'RSS growth':>11}")
    for kind in KINDS:
        median = result["median"][kind]
        print(
            f"{kind:<10} {median['records_per_s']:>10,.0f} {median['records_per_cpu_s']:>10,.0f} "
            f"{median['rss_growth_mib']:>8.1f} MiB"
        )
    ratio = result["ratio_to_baseline"]
    print(
        f"ours / baseline: {ratio['records_per_s']:.2f} (wall), {ratio['records_per_cpu_s']:.2f} "
        f"(CPU); medians of {result['rounds']} rounds; load average "
        f"{', '.join(f'{value:.1f}' for value in result['load_average'])}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--mb", type=float, default=200.0, help="size of the synthetic export")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpu", type=int, default=None, help="pin each measurement to one CPU")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--file", type=Path, default=None, help="an export.xml to read instead")
    parser.add_argument("--child", choices=KINDS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.child is not None:
        print(json.dumps(measure(args.child, args.file)))
        return 0
    with tempfile.TemporaryDirectory(prefix="apple-health-bench-") as scratch:
        if args.file is None:
            from tests.support.apple_health_export import write_synthetic

            path = Path(scratch) / "export.xml"
            started = time.perf_counter()
            written = write_synthetic(path, int(args.mb * 1e6))
            records = written.records
            print(
                f"wrote {written.bytes / 1e6:.0f} MB ({records:,} records) in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
        else:
            path = args.file
            records = measure_in_child("baseline", path, args.cpu)["records"]
        result = run(path, records, args.rounds, args.cpu)
    report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
