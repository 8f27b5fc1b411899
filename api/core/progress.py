"""How a long operation reports its progress to whoever runs it (the CLI draws a bar)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """``start(total)`` once the amount of work is known, then ``advance(n)`` as it is done."""

    def start(self, total: int) -> None: ...

    def advance(self, steps: int) -> None: ...
