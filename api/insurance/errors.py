"""The problems the insurance endpoint answers with (problem+json, registered under /problems)."""

from __future__ import annotations

from api.core.errors import PAYLOAD_TOO_LARGE, DomainError, problem_type

ENVELOPE_INVALID = problem_type(
    "insurance-envelope-invalid",
    "Insurance XML envelope not readable",
    400,
    "The body is not a GIAMDINHHS envelope this service can read safely: not well-formed XML, a "
    "DTD or entity declaration, no facility code (THONGTINDONVI/MACSKCB) or no HOSO. Nothing of "
    "it was stored.",
)
SIGNATURE_INVALID = problem_type(
    "insurance-signature-invalid",
    "Insurance XML signature not valid",
    422,
    "The CHUKYDONVI XML-DSig is missing, or does not verify against any certificate registered "
    "for the facility (SHA-256 digests, an enveloped signature over the whole envelope). Nothing "
    "of the envelope was stored.",
)
EPISODES_REJECTED = problem_type(
    "insurance-episodes-rejected",
    "Insurance XML episodes rejected",
    422,
    "Every episode (HOSO) of the envelope was rejected; `episodes` lists each with every "
    "problem found (table, MA_LK, field, value, rule). Nothing was stored.",
)
EPISODE_REJECTED = problem_type(
    "insurance-episode-rejected",
    "Insurance XML episode rejected",
    422,
    "One episode (HOSO) could not be accepted; its `problems` name each table, MA_LK, field, "
    "value and the rule it breaks. Other episodes of the envelope are answered on their own.",
)


class EnvelopeInvalid(DomainError):
    problem = ENVELOPE_INVALID


class SignatureInvalid(DomainError):
    problem = SIGNATURE_INVALID


class EnvelopeTooLarge(DomainError):
    problem = PAYLOAD_TOO_LARGE


class EpisodesRejected(DomainError):
    """Every episode was rejected: the answer's ``episodes`` member holds them."""

    problem = EPISODES_REJECTED
