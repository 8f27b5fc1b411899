"""The pure parts of bench.scale_data: sizes, skew, plan reading."""

from __future__ import annotations

import random

from bench.scale_data.plans import seq_scans_of
from bench.scale_data.seed import Sizes, documents_per_citizen, national_id, seeded_id


def test_sizes_follow_the_national_proportions() -> None:
    sizes = Sizes(1_000_000)
    assert sizes.documents == 3_000_000
    assert sizes.slots == 20_000
    assert sizes.appointments == 5_000_000
    assert sizes.access_log == 10_000_000
    assert sizes.heavy == 500


def test_documents_are_skewed_but_add_up() -> None:
    sizes = Sizes(20_000)
    counts = documents_per_citizen(sizes, random.Random(7))
    assert len(counts) == 20_000
    assert all(100 <= c <= 400 for c in counts[: sizes.heavy])
    assert min(counts) >= 1
    assert abs(sum(counts) - sizes.documents) / sizes.documents < 0.05


def test_seeded_ids_and_numbers_are_distinct_per_table() -> None:
    assert seeded_id("citizen", 1) != seeded_id("health_entry", 1)
    assert national_id(0) == "500000000000"
    assert len(national_id(999_999)) == 12


def test_a_sequential_scan_of_a_large_table_is_found_anywhere_in_the_plan() -> None:
    plan = {
        "Node Type": "Nested Loop",
        "Plans": [
            {"Node Type": "Index Scan", "Relation Name": "citizen"},
            {
                "Node Type": "Hash",
                "Plans": [{"Node Type": "Seq Scan", "Relation Name": "health_entry"}],
            },
            {"Node Type": "Seq Scan", "Relation Name": "facility"},
        ],
    }
    assert seq_scans_of(plan) == ["health_entry"]
    assert seq_scans_of({"Node Type": "Result"}) == []


def test_the_report_prints_a_dash_where_the_small_run_measured_no_cpu() -> None:
    from bench.scale_data.__main__ import compare, format_report
    from bench.scale_data.measure import PATHS

    def run(citizens: int, cpu: float) -> dict[str, object]:
        path = {"requests": 5, "p50_ms": 2.0, "p99_ms": 4.0, "cpu_us_per_request": cpu}
        return {"citizens": citizens, "paths": {name: dict(path) for name in PATHS}}

    small, large = run(150, 0.0), run(300, 2000.0)
    growth = compare(small, large)
    assert all(g["cpu_growth"] is None and g["p99_growth"] == 1.0 for g in growth.values())
    report = format_report(small, large, growth)
    rows = report.splitlines()[3:]
    assert len(rows) == len(PATHS)
    assert all(row.rstrip().endswith("—") for row in rows)
