"""The benchmark runner runs and its invariants hold (never how fast: see bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.backends import REDIS_HOST, REDIS_PORT, require_servers
from tests.support.tools import WRK, require

ROOT = Path(__file__).resolve().parents[2]


def test_bench_health_live_runs_against_a_baseline(tmp_path: Path) -> None:
    require_servers()
    require(WRK)
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--scenarios",
            "health_live",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--rounds",
            "1",
            "--database",
            "healthbook_bench_test",
            "--redis-url",
            "redis://127.0.0.1:6379/14",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    report = json.loads(out.read_text())
    for name in ("baseline", "baseline_litestar", "health_live"):
        median = report["results"][name]["median"]
        assert median["requests_total"] > 0
        assert median["errors_total"] == 0
    # each scenario is reported against both baselines: the bare ASGI app and bare Litestar
    scenario = report["results"]["health_live"]
    assert scenario["ratio_to_baseline"] > 0
    assert scenario["ratio_to_litestar"] > 0
    assert scenario["cpu_ratio_to_litestar"] > 0
    assert report["results"]["baseline_litestar"]["ratio_to_baseline"] > 0
    printed = result.stdout.decode() + result.stderr.decode()
    assert "health_live" in printed
    assert "ratio" in printed


def test_bench_shl_manifest_runs(tmp_path: Path) -> None:
    """The SMART Health Link manifest scenario: its setup (32 citizens, a link each) and its Lua
    (the links in turn) give only 200 answers."""
    require_servers()
    require(WRK)
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--scenarios",
            "shl_manifest",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--rounds",
            "1",
            "--database",
            "healthbook_bench_test_shl",
            "--redis-url",
            f"redis://{REDIS_HOST}:{REDIS_PORT}/14",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    median = json.loads(out.read_text())["results"]["shl_manifest"]["median"]
    assert median["requests_total"] > 0
    assert median["errors_total"] == 0
