"""Retry timing shared by the notification relay and the FHIR pull. No I/O."""

from __future__ import annotations

import random


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the next attempt: exponential (``base * 2**(attempt-1)``, at most ``cap``)
    with jitter in its upper half, and never less than the provider's ``Retry-After``."""
    exponential = min(cap, base * 2 ** max(0, attempt - 1))
    delay = (rng or random).uniform(exponential / 2, exponential)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay
