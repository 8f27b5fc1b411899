"""What can go wrong pulling from a facility's FHIR API, as domain errors (RFC 9457 types)."""

from __future__ import annotations

from api.core.errors import DomainError, problem_type

PULL_NOT_CONFIGURED = problem_type(
    "pull-not-configured",
    "Facility not set up for pulling",
    409,
    "The facility is unknown, inactive or has no FHIR base URL, so nothing can be pulled from it.",
)
PULL_PATIENT_NOT_FOUND = problem_type(
    "pull-patient-not-found",
    "Patient not found at the facility",
    404,
    "The facility's FHIR API has no Patient with the identifier asked for (or several).",
)
PULL_FAILED = problem_type(
    "pull-failed",
    "Pull from the facility failed",
    502,
    "The facility's FHIR API could not be read: it kept failing, refused our credentials, "
    "answered too slowly or too much, redirected to another host, or sent content that cannot be "
    "stored. `detail` says which.",
)


class PullError(DomainError):
    """A pull that failed; nothing of it was stored."""

    problem = PULL_FAILED


class PullNotConfigured(PullError):
    problem = PULL_NOT_CONFIGURED


class PatientNotFound(PullError):
    problem = PULL_PATIENT_NOT_FOUND


class RemoteUnavailable(PullError):
    """The server kept failing (429, 502, 503, 504, connection errors, timeouts) past the
    attempts allowed: worth trying again later."""


class RemoteRefused(PullError):
    """The exchange cannot succeed as it stands: retrying now would not help."""


class RedirectRefused(RemoteRefused):
    """A redirect to another origin (or too many redirects)."""


class ResponseTooLarge(RemoteRefused):
    """A response past what is left of ``PULL_MAX_BYTES``."""


class AuthFailed(RemoteRefused):
    """The token endpoint or the FHIR API refused our credentials."""


class UnusableContent(RemoteRefused):
    """The server answered, but not with something we can store (not FHIR, wrong patient,
    a Bundle the ingestion refuses)."""
