"""The scale-out run (``python -m bench.scale_out``): two API processes and two relay workers
behind nginx on the PostgreSQL and Redis servers, a short mixed load, and every invariant holds
afterwards. Never how fast it was (see bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.backends import require_servers
from tests.support.tools import NGINX, require

ROOT = Path(__file__).resolve().parents[2]
INVARIANTS = (
    "slots_within_capacity",
    "bookings_once_per_key",
    "notifications_once_per_device",
    "checkin_code_used_once",
    "publish_stored_once",
    "no_5xx",
    "only_expected_answers",
)
SCENARIOS = ("login", "book_read", "booking_contended", "booking_distinct", "publish", "checkin")


def test_scale_out_run_ends_with_every_invariant_holding(tmp_path: Path) -> None:
    require_servers()
    require(NGINX)
    out = tmp_path / "scale_out.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale_out",
            "--duration",
            "8",
            "--baseline",
            "1",
            "--checkins",
            "60",
            "--database",
            "healthbook_scaleout_test",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=240,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, f"{stdout[-4000:]}\n{stderr[-4000:]}"
    lines = stdout.splitlines()
    for name in INVARIANTS:
        assert any(line.startswith(f"invariant {name}: holds (") for line in lines), stdout
    assert "every invariant holds" in stdout
    report = json.loads(out.read_text())
    assert set(report["invariants"]) == set(INVARIANTS)
    assert all(invariant["holds"] for invariant in report["invariants"].values())
    for name in SCENARIOS:  # every scenario ran and got answers it counts as success
        assert report["scenarios"][name]["ok"] > 0, name
    assert report["mix"]["requests_per_s"] > 0
    served = [a for a, n in report["mix"]["per_api_process"].items() if a.startswith("127.")]
    assert len(served) == 2  # nginx passed requests to both API processes
    fcm = report["invariants"]["notifications_once_per_device"]
    assert fcm["fake_fcm_stats"]["accepted"] > 0
