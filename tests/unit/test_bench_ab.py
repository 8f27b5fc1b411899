"""The A/B runner's comparison: medians per side, new ÷ old, and the table it prints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench import ab
from bench import run as bench_run
from bench.ab import compare, format_table


def _report(cpu: float, rps: float, errors: int = 0) -> dict:
    median = {"cpu_us_per_request": cpu, "requests_per_s": rps, "errors_total": errors}
    return {"results": {"baseline": {"median": median}, "booking": {"median": median}}}


def test_compare_takes_the_median_of_each_side_and_the_ratio_new_over_old() -> None:
    runs = {
        "old": [_report(1000, 400), _report(1200, 380), _report(1100, 390)],
        "new": [_report(800, 500), _report(900, 480, errors=2), _report(10_000, 10)],
    }
    table = compare(runs, "old", "new")
    row = table["booking"]
    assert row["old"]["cpu_us_per_request"] == 1100
    assert row["new"]["cpu_us_per_request"] == 900
    assert row["cpu_new_over_old"] == round(900 / 1100, 3)
    assert row["rps_new_over_old"] == round(480 / 390, 3)
    assert row["new"]["errors_total"] == 2
    assert row["old"]["runs"] == 3


def test_a_scenario_missing_on_one_side_has_no_ratio() -> None:
    only_new = {"results": {"fresh": {"median": {"cpu_us_per_request": 5, "requests_per_s": 9}}}}
    table = compare({"a": [_report(1, 1)], "b": [only_new]}, "a", "b")
    assert table["fresh"]["cpu_new_over_old"] is None
    assert table["fresh"]["a"]["runs"] == 0
    text = format_table(table, "a", "b")
    assert "fresh" in text.splitlines()[-1]
    assert text.splitlines()[-1].split()[1] == "-"


def test_both_sides_run_the_new_commits_harness_against_their_own_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], Path]] = []

    def fake_run(command: list[str], *, cwd: Path, **_: object) -> subprocess.CompletedProcess:
        calls.append((command, cwd))
        out = Path(command[command.index("--json") + 1])
        out.write_text(json.dumps({"results": {}}))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(ab.subprocess, "run", fake_run)
    old, new = tmp_path / "old", tmp_path / "new"
    args = ab.parse_args(["OLD", "NEW"])
    ab.run_once(old, new, tmp_path / "o.json", args)
    ab.run_once(new, new, tmp_path / "n.json", args)
    (old_cmd, old_cwd), (new_cmd, new_cwd) = calls
    assert old_cmd[0] == str(new / ".venv" / "bin" / "python")
    assert old_cwd == new
    assert old_cmd[old_cmd.index("--service-tree") + 1] == str(old)
    # its own database and Redis DB: not the ones a concurrent `make bench` recreates
    assert old_cmd[old_cmd.index("--database") + 1] == "healthbook_ab"
    assert new_cmd[new_cmd.index("--redis-url") + 1] == "redis://127.0.0.1:6379/14"
    assert new_cmd[0] == old_cmd[0]
    assert new_cwd == new
    assert "--service-tree" not in new_cmd


def test_the_service_tree_must_have_its_environment(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--service-tree", str(tmp_path)])
    script = tmp_path / ".venv" / "bin" / "healthbook"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    config = bench_run.parse_args(["--service-tree", str(tmp_path)])
    assert config.service_tree == tmp_path.resolve()
    assert bench_run.service_healthbook(config) == [
        str(tmp_path.resolve() / ".venv/bin/healthbook")
    ]


def test_the_report_names_the_service_tree_in_json(tmp_path: Path) -> None:
    script = tmp_path / ".venv" / "bin" / "healthbook"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    config = bench_run.parse_args(["--service-tree", str(tmp_path)])
    facts = json.loads(json.dumps(bench_run.config_facts(config, tmp_path / "out.json")))
    assert facts["service_tree"] == str(tmp_path.resolve())
    assert facts["json_path"] == str(tmp_path / "out.json")
    assert (
        json.loads(json.dumps(bench_run.config_facts(bench_run.parse_args([]), tmp_path)))[
            "service_tree"
        ]
        is None
    )
