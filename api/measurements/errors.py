"""Problems of home measurements."""

from __future__ import annotations

from api.core.errors import DomainError, InvalidInput, problem_type

IMPOSSIBLE_VALUE = problem_type(
    "measurement-out-of-range",
    "Measurement out of range",
    422,
    "A value is outside what a living person can measure (or a unit is not one the kind "
    "accepts); `errors` names the field.",
)
IDEMPOTENCY_REUSED = problem_type(
    "measurement-key-reused",
    "Idempotency key reused",
    422,
    "This idempotency key (the `Idempotency-Key` header, or a sample's `id`) was used for "
    "another measurement of this person; use a new key per measurement.",
)
IMPORT_LIMIT = problem_type(
    "measurement-limit-reached",
    "Measurement limit reached",
    422,
    "This person's book holds as many home measurements as it may (MEASUREMENTS_MAX_PER_CITIZEN), "
    "or a batch holds more samples than MEASUREMENTS_MAX_BATCH.",
)


class ImpossibleValue(InvalidInput):
    """A value no person can have (``field`` names it)."""

    problem = IMPOSSIBLE_VALUE


class KeyReused(DomainError):
    problem = IDEMPOTENCY_REUSED


class LimitReached(DomainError):
    problem = IMPORT_LIMIT
