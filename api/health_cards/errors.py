"""Problems the health card use cases answer with (each a stable ``type`` under /problems)."""

from __future__ import annotations

from api.core.errors import DomainError, problem_type

CARD_TOO_LARGE_FOR_QR = problem_type(
    "health-card-too-large-for-qr",
    "Health card too large for one QR code",
    422,
    "The signed card is longer than one QR code holds (1195 characters, version 22), and cards "
    "are never split over several codes: download the `.smart-health-card` file, or share the "
    "records with a SMART Health Link (POST /citizens/{citizen_id}/shares), whose QR code stays "
    "small whatever it carries.",
)
NOTHING_TO_ISSUE = problem_type(
    "health-card-empty",
    "Nothing to put on a health card",
    404,
    "The book holds no immunization record (or no such visit) to sign.",
)
ISSUER_NOT_CONFIGURED = problem_type(
    "health-card-issuer-not-configured",
    "Health cards are not configured",
    503,
    "This service has no health card signing key (HEALTH_CARD_SIGNING_KEYS is unset in "
    "production).",
)
CRL_NOT_FOUND = problem_type(
    "health-card-crl-not-found",
    "No such revocation list",
    404,
    "The key id is not one of this issuer's health card keys.",
)


class CardTooLargeForQr(DomainError):
    problem = CARD_TOO_LARGE_FOR_QR


class NothingToIssue(DomainError):
    problem = NOTHING_TO_ISSUE


class IssuerNotConfigured(DomainError):
    problem = ISSUER_NOT_CONFIGURED


class CrlNotFound(DomainError):
    problem = CRL_NOT_FOUND
