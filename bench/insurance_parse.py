"""Insurance XML: read + map one outpatient episode, against a bare lxml parse of the same bytes.

    uv run python -m bench.insurance_parse [--rounds 15] [--min-ms 50] [--cpu 1] [--json PATH]

The episode is the fixture builder's outpatient one (``tests/support/qd130.py``: XML1 + XML2 +
XML3 + XML4, about 40 rows), already base64-decoded (the envelope, its signature and the HTTP
path are not in this figure). Each round times, back to back and alternating which goes first:

- ``ours``: ``read_episode`` (the hardened parse of each table file, every field checked and
  typed) + ``episode_to_bundle`` (the FHIR R4 document) + ``msgspec.json.encode`` (the bytes the
  book's publish pipeline takes);
- ``baseline``: ``lxml.etree.fromstring`` of each table file, nothing else — the floor any reader
  of these files pays, measured in the same run so the ratio travels between machines;
- ``with_book``: ``ours`` followed by the book's own ``parse_bundle`` + ``extract`` (R4 validation
  and extraction), to show how the publish path's parsing cost splits.

Each timing repeats the call enough times to last ``--min-ms`` (calibrated once); medians over the
rounds are reported as episodes per second and as the ratio ours / baseline. Results go to
``bench/results/insurance_parse.json``. A benchmark never decides whether tests pass.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from lxml import etree

from api.health_book.fhir import extract, parse_bundle
from api.insurance import vocabulary
from api.insurance.mapping import episode_to_bundle
from api.insurance.tables import read_episode
from tests.support.qd130 import FACILITY, build_episode_files

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "insurance_parse.json"
MAX_FILE_BYTES = 10_000_000


def episode_pairs(kind: str = "outpatient") -> tuple[tuple[str, bytes], ...]:
    return build_episode_files(kind).pairs


def ours(pairs: tuple[tuple[str, bytes], ...]) -> bytes:
    episode, problems = read_episode(pairs, max_file_bytes=MAX_FILE_BYTES)
    if episode is None:
        raise SystemExit(f"the bench episode has problems: {problems}")
    return msgspec.json.encode(episode_to_bundle(episode, facility_code=FACILITY))


def baseline(pairs: tuple[tuple[str, bytes], ...]) -> int:
    return sum(len(etree.fromstring(data)) for _, data in pairs)


def with_book(pairs: tuple[tuple[str, bytes], ...]) -> int:
    body = ours(pairs)
    extraction = extract(parse_bundle(body), national_id_systems=[vocabulary.NATIONAL_ID])
    return sum(extraction.counts().values())


def per_call_seconds(fn: Callable[[Any], object], arg: Any, repeat: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(repeat):
        fn(arg)
    return (time.perf_counter() - start) / repeat


def calibrate(fn: Callable[[Any], object], arg: Any, min_seconds: float) -> int:
    once = per_call_seconds(fn, arg, 1)
    return max(1, int(min_seconds / max(once, 1e-7)) + 1)


def run(rounds: int, min_seconds: float) -> dict[str, Any]:
    pairs = episode_pairs()
    rows = sum(len(etree.fromstring(data)[0]) if name != "XML1" else 1 for name, data in pairs)
    functions: dict[str, Callable[[Any], object]] = {
        "ours": ours,
        "baseline": baseline,
        "with_book": with_book,
    }
    for fn in functions.values():
        fn(pairs)  # warm-up (imports, ICD-10 tables)
    repeats = {name: calibrate(fn, pairs, min_seconds) for name, fn in functions.items()}
    gc.freeze()
    timings: dict[str, list[float]] = {name: [] for name in functions}
    order = list(functions.items())
    for round_index in range(rounds):
        for name, fn in order if round_index % 2 == 0 else order[::-1]:
            timings[name].append(per_call_seconds(fn, pairs, repeats[name]))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    best = {name: min(values) for name, values in timings.items()}
    return {
        "benchmark": "insurance_parse",
        "what": "read_episode + episode_to_bundle + JSON encode of one outpatient episode",
        "python": platform.python_version(),
        "episode": {
            "kind": "outpatient",
            "tables": [name for name, _ in pairs],
            "rows": rows,
            "bytes": sum(len(data) for _, data in pairs),
        },
        "rounds": rounds,
        "calls_per_timing": repeats,
        "cpu_affinity": sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "ms": {name: value * 1e3 for name, value in medians.items()},
        "episodes_per_second": {name: 1 / value for name, value in medians.items()},
        "ratio_to_baseline": {
            name: medians[name] / medians["baseline"] for name in ("ours", "with_book")
        },
        "best_ms": {name: value * 1e3 for name, value in best.items()},
        "best_episodes_per_second": {name: 1 / value for name, value in best.items()},
        "best_ratio_to_baseline": {
            name: best[name] / best["baseline"] for name in ("ours", "with_book")
        },
    }


def report(result: dict[str, Any]) -> None:
    episode = result["episode"]
    print(
        f"outpatient episode: {len(episode['tables'])} table files, {episode['rows']} rows, "
        f"{episode['bytes'] / 1024:.1f} KB"
    )
    print(f"{'':<44} {'ms':>8} {'episodes/s':>11} {'× baseline':>11} {'best/s':>8} {'best ×':>7}")
    labels = {
        "baseline": "baseline: lxml.etree.fromstring per file",
        "ours": "read_episode + episode_to_bundle + encode",
        "with_book": "… + the book's parse_bundle + extract",
    }
    for name in ("baseline", "ours", "with_book"):
        ratio = result["ratio_to_baseline"].get(name, 1.0)
        best_ratio = result["best_ratio_to_baseline"].get(name, 1.0)
        print(
            f"{labels[name]:<44} {result['ms'][name]:>8.3f} "
            f"{result['episodes_per_second'][name]:>11.0f} {ratio:>10.1f}x "
            f"{result['best_episodes_per_second'][name]:>8.0f} {best_ratio:>6.1f}x"
        )
    print(
        f"medians (and best) of {result['rounds']} interleaved rounds; on a shared machine the "
        "best round is the one least disturbed by other work"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--min-ms", type=float, default=50.0, help="least time per timing")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    result = run(args.rounds, args.min_ms / 1e3)
    report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
