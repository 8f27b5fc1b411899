"""FHIR Bundle reading: our msgspec parse + extract against ``fhir.resources``, side by side.

    uv run --group bench python -m bench.fhir_parse [--rounds 15] [--min-ms 30] [--cpu 1]
                                                    [--no-freeze] [--samples DIR] [--json PATH]

For each sample in ``tests/data/fhir`` (the same bytes for both), one round times
``parse_bundle`` + ``extract`` (ours) and ``fhir.resources`` parsing the body into its models, back
to back, alternating which goes first from round to round. ``fhir.resources`` 8.x defaults to FHIR
R5; the comparison uses its R4B package (``fhir.resources.R4B.bundle.Bundle``, pydantic v2,
``model_validate_json``), the closest it ships to R4 (8.x has no R4 package); it reads all three
samples without error, the same number of entries as ours (checked before timing). Each timing
repeats the call enough times to last ``--min-ms`` (calibrated once per file, the same count for
both) and is reported per call; the median over rounds is quoted, and the ratio is theirs / ours.
After the warm-up, ``gc.freeze()`` takes the objects both libraries created at import out of the
collector's reach (``--no-freeze`` keeps them in: full collections then scan fhir.resources' ~50,000
objects on both sides). Results go to ``bench/results/fhir_parse.json``. Exit status: 0 when every
file ran, 2 when ``fhir.resources`` is missing (install the ``bench`` dependency group).
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
from importlib.metadata import version
from pathlib import Path
from typing import Any

from api.health_book.fhir import extract, parse_bundle

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "fhir_parse.json"
NATIONAL_ID_SYSTEMS = ("urn:oid:2.16.840.1.113883.2.4.6.3", "http://hospital.smarthealthit.org")
TARGET_RATIO = 5.0


SAMPLES_DIR = PROJECT_ROOT / "tests" / "data" / "fhir"


def ours(body: bytes) -> int:
    extraction = extract(parse_bundle(body), national_id_systems=NATIONAL_ID_SYSTEMS)
    counts = extraction.counts()
    return sum(counts.values()) - counts["sections"] + 1  # every entry: + the patient


def theirs_factory() -> Callable[[bytes], int]:
    from fhir.resources.R4B.bundle import Bundle

    def theirs(body: bytes) -> int:
        return len(Bundle.model_validate_json(body).entry or [])

    return theirs


def per_call_seconds(fn: Callable[[bytes], int], body: bytes, repeat: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(repeat):
        fn(body)
    return (time.perf_counter() - start) / repeat


def calibrate(fn: Callable[[bytes], int], body: bytes, min_seconds: float) -> int:
    once = per_call_seconds(fn, body, 1)
    return max(1, int(min_seconds / max(once, 1e-7)) + 1)


def run(
    samples: Sequence[Path], rounds: int, min_seconds: float, freeze: bool = True
) -> dict[str, Any]:
    theirs = theirs_factory()
    files: dict[str, Any] = {}
    bodies = {path.name: path.read_bytes() for path in samples}
    repeats: dict[str, int] = {}
    for name, body in bodies.items():
        counted_ours, counted_theirs = ours(body), theirs(body)  # warm-up, and the same entries
        if counted_ours != counted_theirs:
            raise SystemExit(
                f"{name}: we read {counted_ours} entries, fhir.resources read {counted_theirs}"
            )
        repeats[name] = calibrate(ours, body, min_seconds)
    if freeze:
        # Both libraries' classes and schemas (fhir.resources brings some 50,000 objects) move
        # out of the collector's generations, so neither side pays for scanning them.
        gc.freeze()
    timings: dict[str, dict[str, list[float]]] = {
        name: {"ours": [], "theirs": []} for name in bodies
    }
    for round_index in range(rounds):
        for name, body in bodies.items():
            order = (("ours", ours), ("theirs", theirs))
            if round_index % 2:
                order = order[::-1]
            for label, fn in order:
                timings[name][label].append(per_call_seconds(fn, body, repeats[name]))
    for name, body in bodies.items():
        ours_median = statistics.median(timings[name]["ours"])
        theirs_median = statistics.median(timings[name]["theirs"])
        files[name] = {
            "bytes": len(body),
            "entries": ours(body),
            "calls_per_timing": repeats[name],
            "ours_ms": {
                "median": ours_median * 1e3,
                "min": min(timings[name]["ours"]) * 1e3,
            },
            "fhir_resources_ms": {
                "median": theirs_median * 1e3,
                "min": min(timings[name]["theirs"]) * 1e3,
            },
            "ratio": theirs_median / ours_median,
        }
    total_ours = sum(f["ours_ms"]["median"] for f in files.values())
    total_theirs = sum(f["fhir_resources_ms"]["median"] for f in files.values())
    return {
        "benchmark": "fhir_parse",
        "what": "parse_bundle + extract (msgspec) vs fhir.resources.R4B Bundle.model_validate_json",
        "python": platform.python_version(),
        "msgspec": version("msgspec"),
        "fhir.resources": version("fhir.resources"),
        "rounds": rounds,
        "gc_freeze_after_warmup": freeze,
        "cpu_affinity": sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "files": files,
        "all_files": {
            "ours_ms": total_ours,
            "fhir_resources_ms": total_theirs,
            "ratio": total_theirs / total_ours,
        },
        "target_ratio": TARGET_RATIO,
        "meets_target": all(f["ratio"] >= TARGET_RATIO for f in files.values()),
    }


def report(result: dict[str, Any]) -> None:
    print(f"{'file':<72} {'KB':>6} {'ours ms':>9} {'fhir.res ms':>12} {'ratio':>7}")
    for name, f in result["files"].items():
        print(
            f"{name:<72} {f['bytes'] / 1024:>6.0f} {f['ours_ms']['median']:>9.3f} "
            f"{f['fhir_resources_ms']['median']:>12.3f} {f['ratio']:>6.1f}x"
        )
    total = result["all_files"]
    print(
        f"{'all files':<72} {'':>6} {total['ours_ms']:>9.3f} {total['fhir_resources_ms']:>12.3f} "
        f"{total['ratio']:>6.1f}x"
    )
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"every file {verdict} the {result['target_ratio']:.0f}x target (medians of "
        f"{result['rounds']} interleaved rounds)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--min-ms", type=float, default=30.0, help="least time per timing")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument("--samples", type=Path, default=None)
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave imported objects to the collector"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    try:
        import fhir.resources  # noqa: F401
    except ImportError:
        print(
            "fhir.resources is missing: uv run --group bench python -m bench.fhir_parse",
            file=sys.stderr,
        )
        return 2
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    samples_dir = args.samples or SAMPLES_DIR
    samples = sorted(samples_dir.glob("*.json"))
    if not samples:
        raise SystemExit(f"no *.json in {samples_dir}")
    result = run(samples, args.rounds, args.min_ms / 1e3, freeze=not args.no_freeze)
    report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
