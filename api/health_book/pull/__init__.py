"""Pulling summaries from hospitals' FHIR APIs into the health book (the same ingestion path as a
push). :class:`PullService` holds the use cases, :mod:`.http` the defensive HTTP (SMART Backend
Services, same-origin redirects only, size limit, timeouts, retries), :mod:`.bundles` what is
done with the answers. The composition root (api/runtime.py) builds the service."""

from api.health_book.pull.errors import (
    AuthFailed,
    PatientNotFound,
    PullError,
    PullNotConfigured,
    RedirectRefused,
    RemoteRefused,
    RemoteUnavailable,
    ResponseTooLarge,
    UnusableContent,
)
from api.health_book.pull.service import PullService, SyncResult

__all__ = [
    "AuthFailed",
    "PatientNotFound",
    "PullError",
    "PullNotConfigured",
    "PullService",
    "RedirectRefused",
    "RemoteRefused",
    "RemoteUnavailable",
    "ResponseTooLarge",
    "SyncResult",
    "UnusableContent",
]
