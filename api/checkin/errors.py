"""Problems the check-in and queue use cases answer with (each a stable ``type`` under /problems).

A cancelled appointment and one checked in already answer the appointment domain's own types,
``/problems/appointment-cancelled`` and ``/problems/appointment-already-checked-in``.
"""

from __future__ import annotations

from api.core.errors import DomainError, problem_type

TOKEN_INVALID = problem_type(
    "check-in-code-invalid",
    "Not a valid check-in code",
    422,
    "The scanned text is not a check-in code of ours: malformed, altered, or signed by a key we "
    "do not know.",
)
TOO_EARLY = problem_type(
    "check-in-too-early",
    "Too early to check in",
    422,
    "Check-in opens a while before the appointment's start; `valid_from` says when.",
)
EXPIRED = problem_type(
    "check-in-expired",
    "Check-in window closed",
    422,
    "The check-in window ended a while after the appointment's start (`valid_until`); ask at "
    "the desk.",
)
WRONG_FACILITY = problem_type(
    "check-in-wrong-facility",
    "Appointment at another facility",
    422,
    "The appointment is at another facility (`facility_id`, `facility_name`) than this kiosk's.",
)
TOKEN_USED = problem_type(
    "check-in-code-used",
    "Check-in code already used",
    409,
    "This check-in code was used already (or is being used at this moment at another kiosk).",
)
SUPERSEDED = problem_type(
    "check-in-code-superseded",
    "Check-in code out of date",
    409,
    "The appointment changed (it was moved) after this code was shown: open it again in the app.",
)
WALK_IN_CODE_INVALID = problem_type(
    "walk-in-code-invalid",
    "Not a facility QR code",
    422,
    "The scanned text is not one of our printed facility/department codes, or it was altered.",
)
NOTHING_CALLED = problem_type(
    "queue-nothing-called",
    "Nobody is being called",
    409,
    "The queue has no ticket called at the moment (call the next one first).",
)


class CheckInCodeInvalid(DomainError):
    problem = TOKEN_INVALID


class CheckInTooEarly(DomainError):
    problem = TOO_EARLY


class CheckInExpired(DomainError):
    problem = EXPIRED


class CheckInWrongFacility(DomainError):
    problem = WRONG_FACILITY


class CheckInCodeUsed(DomainError):
    problem = TOKEN_USED


class CheckInCodeSuperseded(DomainError):
    problem = SUPERSEDED


class WalkInCodeInvalid(DomainError):
    problem = WALK_IN_CODE_INVALID


class NothingCalled(DomainError):
    problem = NOTHING_CALLED
