"""``bench.scale_data`` at a small size: the seeding's proportions, every path answered, and no
statement of a measured path scans a large table when an index could serve (never its speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scale_data.measure import PATHS
from tests.support.backends import require_servers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_scale_data_small_run_holds_its_invariants_and_plans(tmp_path: Path) -> None:
    require_servers()
    out = tmp_path / "scale.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale_data",
            "--citizens",
            "300",
            "--reference",
            "150",
            "--requests",
            "5",
            "--redis-url",
            "redis://127.0.0.1:6379/11",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=850,
    )
    assert result.returncode == 0, (result.stdout.decode() + result.stderr.decode())[-4000:]
    report = json.loads(out.read_text())
    small, large = report["runs"]
    assert (small["citizens"], large["citizens"]) == (150, 300)
    counts = large["counts"]
    # the proportions: 10 access-log rows, 5 appointments per citizen, ...
    assert counts["citizen"] == 300
    assert counts["access_log"] == 3_000
    assert counts["appointment"] == 1_500
    assert counts["appointment_slot"] == 20
    assert counts["notification_outbox"] == 750
    assert counts["health_document"] >= 300
    assert counts["health_entry"] > 2 * counts["health_document"]
    for run in report["runs"]:
        assert set(run["paths"]) == set(PATHS)
        for name, path in run["paths"].items():
            assert path["requests"] == 5, name
            assert all(200 <= int(status) < 300 for status in path["statuses"]), name
        explained = [p for p in run["plans"] if p["error"] is None]
        assert len(explained) >= 20
        # a warm overview is served from the cache and may run no statement at all
        assert {p["path"] for p in explained} >= set(PATHS) - {"overview_warm"}
        assert all(p["mode"] == "forced" for p in run["plans"])
    assert report["seq_scans"] == []
    assert "p99" in result.stdout.decode()
