"""Problems the appointment use cases answer with (each a stable ``type`` under /problems)."""

from __future__ import annotations

from api.core.errors import DomainError, problem_type

SLOT_FULL = problem_type(
    "slot-full",
    "Slot fully booked",
    409,
    "Every place of the slot is taken. Choose another slot (GET /facilities/{id}/slots).",
)
SLOT_UNAVAILABLE = problem_type(
    "slot-unavailable",
    "Slot not bookable",
    409,
    "The slot is blocked, has started, or starts beyond the booking window.",
)
ALREADY_BOOKED = problem_type(
    "appointment-exists",
    "Already booked",
    409,
    "The citizen already holds an appointment on this slot.",
)
LIMIT_REACHED = problem_type(
    "appointment-limit-reached",
    "Too many upcoming appointments",
    409,
    "The citizen holds as many upcoming appointments as allowed; cancel one first.",
)
ILLEGAL_TRANSITION = problem_type(
    "appointment-state-conflict",
    "Not possible in the appointment's current state",
    409,
    "The appointment's status does not allow this change; `current_status` says what it is.",
)
APPOINTMENT_CANCELLED = problem_type(
    "appointment-cancelled",
    "Appointment cancelled",
    409,
    "The appointment was cancelled (by the citizen or the hospital).",
)
ALREADY_CHECKED_IN = problem_type(
    "appointment-already-checked-in",
    "Already checked in",
    409,
    "The appointment is checked in already.",
)
CUTOFF_PASSED = problem_type(
    "appointment-cutoff-passed",
    "Too late to change",
    409,
    "Appointments can be cancelled or moved only until the cut-off before their start "
    "(`cutoff_minutes`); contact the facility.",
)
SLOT_HAS_BOOKINGS = problem_type(
    "slot-has-bookings",
    "Slot has appointments",
    409,
    "A slot's time or department cannot change while it holds appointments; block it instead "
    "(which cancels them and tells the citizens) and publish a new slot.",
)
IDEMPOTENCY_IN_PROGRESS = problem_type(
    "idempotency-key-in-use",
    "Request already in progress",
    409,
    "A request with this Idempotency-Key is still being processed; retry after `Retry-After`.",
)
IDEMPOTENCY_MISMATCH = problem_type(
    "idempotency-key-reused",
    "Idempotency-Key reused",
    422,
    "This Idempotency-Key was used for a different request (within the last 24 hours).",
)


class SlotFull(DomainError):
    problem = SLOT_FULL


class SlotUnavailable(DomainError):
    problem = SLOT_UNAVAILABLE


class AlreadyBooked(DomainError):
    problem = ALREADY_BOOKED


class LimitReached(DomainError):
    problem = LIMIT_REACHED


class IllegalTransition(DomainError):
    problem = ILLEGAL_TRANSITION


class AppointmentCancelled(IllegalTransition):
    problem = APPOINTMENT_CANCELLED


class AlreadyCheckedIn(IllegalTransition):
    problem = ALREADY_CHECKED_IN


class CutoffPassed(DomainError):
    problem = CUTOFF_PASSED


class SlotHasBookings(DomainError):
    problem = SLOT_HAS_BOOKINGS


class IdempotencyInProgress(DomainError):
    problem = IDEMPOTENCY_IN_PROGRESS


class IdempotencyMismatch(DomainError):
    problem = IDEMPOTENCY_MISMATCH
