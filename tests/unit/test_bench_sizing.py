"""Single-use bench data (check-in codes, free slots) is sized so a run cannot use it up."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scenarios import FASTEST_WRITES_PER_S, SetupContext


def _context(load_seconds: float) -> SetupContext:
    return SetupContext(
        base_url="http://127.0.0.1:1",
        database_url="postgresql+asyncpg://127.0.0.1/none",
        redis_url="redis://127.0.0.1:6379/15",
        data_dir=Path("/nonexistent"),
        env={},
        load_seconds=load_seconds,
    )


def test_short_runs_keep_the_default_size() -> None:
    assert _context(0).fresh_requests(10_000) == 10_000
    assert _context(5 + 2 * 5).fresh_requests(16_000) == 16_000


def test_long_runs_get_enough_for_the_fastest_rate() -> None:
    # 3 s warm-up and two 10 s rounds: more than 10 000 codes at the kiosk's best rate
    planned = 3 + 2 * 10
    sized = _context(planned).fresh_requests(10_000)
    assert sized == planned * FASTEST_WRITES_PER_S
    assert sized / planned > 590  # the fastest round measured would not use them up


def _run(rps: float) -> dict[str, float | int]:
    return {
        "requests_per_s": rps,
        "p50_ms": 10.0,
        "p99_ms": 20.0,
        "cpu_us_per_request": 1_000_000 / rps,
        "requests": int(rps * 10),
        "errors": 0,
        "server_cpu_share": 0.99,
        "wrk_cpu_share": 0.05,
    }


@pytest.mark.parametrize(("rounds", "verdict"), [((280, 310, 320), "met"), ((250, 290), "NOT met")])
def test_an_absolute_target_is_judged_on_the_median_and_printed(
    rounds: tuple[float, ...], verdict: str
) -> None:
    from bench.run import Target, entry, format_table
    from bench.scenarios import SCENARIOS, RequestSpec

    scenario = SCENARIOS["kiosk_checkin"]
    assert scenario.target_rps == 300
    target = Target(
        "kiosk_checkin",
        "scenario",
        None,  # type: ignore[arg-type]
        RequestSpec("POST", scenario.path, {}, b"{}", 201),
        script=None,
        scenario=scenario,
        runs=[_run(r) for r in rounds],
    )
    baseline = {"median": _run(50_000), "runs": [_run(50_000) for _ in rounds]}
    data = entry(target, baseline)
    assert data["target_rps"] == 300
    assert data["meets_target_rps"] is (verdict == "met")
    line = format_table({"kiosk_checkin": data}).splitlines()[-1]
    assert line.endswith(f">= 300/s {verdict}")


def test_long_runs_slots_still_start_inside_the_booking_window() -> None:
    import datetime as dt

    from api.core.settings import Settings
    from bench.setups import slot_start

    first = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    window = dt.timedelta(days=Settings().appointments.booking_window_days)
    ten_minutes_at_the_fastest = _context(600).fresh_requests(16_000)
    assert slot_start(first, ten_minutes_at_the_fastest) - first + dt.timedelta(days=2) < window
    assert slot_start(first, 1) > slot_start(first, 0)
