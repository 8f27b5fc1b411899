"""Single-use bench data (check-in codes, free slots) is sized so a run cannot use it up."""

from __future__ import annotations

from pathlib import Path

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
