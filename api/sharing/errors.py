"""Problems the sharing use cases answer with (each a stable ``type`` under /problems)."""

from __future__ import annotations

from api.core.errors import DomainError, problem_type

LINK_NOT_FOUND = problem_type(
    "share-link-not-found",
    "No such SMART Health Link",
    404,
    "The link is unknown, expired, revoked, or disabled after too many wrong passcodes.",
)
PASSCODE_REQUIRED = problem_type(
    "share-passcode-invalid",
    "Passcode missing or wrong",
    401,
    "The link needs its passcode. `remainingAttempts` says how many wrong passcodes the link "
    "still accepts over its whole life; at zero it is disabled for good.",
)
FILE_NOT_FOUND = problem_type(
    "share-file-not-found",
    "No such shared file",
    404,
    "The file location is unknown or past its lifetime (at most one hour): ask the manifest again.",
)


class LinkNotFound(DomainError):
    problem = LINK_NOT_FOUND


class PasscodeInvalid(DomainError):
    problem = PASSCODE_REQUIRED

    def __init__(self, remaining: int) -> None:
        super().__init__(
            f"{remaining} attempts remain",
            extra={"remainingAttempts": remaining},
            headers={"Cache-Control": "no-store"},
        )


class FileNotFound(DomainError):
    problem = FILE_NOT_FOUND
