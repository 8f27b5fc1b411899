"""URLs given by operators (identity providers' JWKS, facilities' FHIR endpoints)."""

from __future__ import annotations

from urllib.parse import urlsplit

from api.core.errors import InvalidInput

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_url(url: str, field: str, *, allow_plain_http: bool) -> None:
    """An https URL with a host (plain http too on loopback, or when ``allow_plain_http``);
    ``InvalidInput`` naming ``field`` of the request body otherwise."""
    parts = urlsplit(url)
    loopback = parts.hostname in _LOOPBACK
    if parts.scheme != "https" and not (parts.scheme == "http" and (allow_plain_http or loopback)):
        raise InvalidInput(f"{field} must be an https URL", field=field, source="body")
    if not parts.hostname:
        raise InvalidInput(f"{field} has no host", field=field, source="body")
