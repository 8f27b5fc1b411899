"""The relay benchmark runs and its invariants hold (sent = enqueued); never how fast it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.backends import require_servers

ROOT = Path(__file__).resolve().parents[2]


def test_relay_bench_sends_exactly_what_was_enqueued(tmp_path: Path) -> None:
    require_servers()
    out = tmp_path / "relay.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.relay",
            "--notifications",
            "300",
            "--devices",
            "2",
            "--citizens",
            "50",
            "--workers",
            "2",
            "--batch-size",
            "50",
            "--database",
            "healthbook_bench_relay_test",
            "--redis-url",
            "redis://127.0.0.1:6379/12",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    report = json.loads(out.read_text())
    assert report["expected_device_messages"] == 600
    assert report["fake_fcm"]["accepted"] == 600
    assert report["fake_fcm"]["duplicates"] == 0
    assert all(report["checks"].values()), report["checks"]
    assert report["device_messages_per_s"] > 0
    assert "messages/s" in result.stdout.decode()
