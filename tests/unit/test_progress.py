"""``api.core.progress.Progress`` as the long commands drive it, recorded."""

from __future__ import annotations


class Recorder:
    """A Progress that keeps what it heard."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.steps: list[int] = []

    def start(self, total: int) -> None:
        assert self.total is None, "started twice"
        self.total = total

    def advance(self, steps: int) -> None:
        assert self.total is not None, "advanced before start"
        self.steps.append(steps)

    @property
    def done(self) -> int:
        return sum(self.steps)
