"""Identity providers' signing keys: fetched over HTTP, cached, rotation-aware.

- Keys are used for ``ttl`` after a fetch, then fetched again on the next use.
- A token naming an unknown ``kid`` triggers a refetch at most once per ``cooldown`` per
  provider, so a flood of random ``kid`` values costs one fetch, not one each.
- When a fetch fails, the last good keys keep working until they are ``max_staleness`` old.
- Concurrent callers share one fetch (single flight): whoever needs keys while a fetch for that
  provider is in flight waits for it — bounded by the fetch's ``fetch_timeout`` — instead of
  being refused, so a burst of logins on a cold process costs one fetch and no 503. The fetch
  runs in a task of its own: a caller that gives up does not cancel it for the others.
- Only the configured ``jwks_uri`` is ever fetched; key URLs inside tokens are never followed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from jwt import PyJWK

from api.core.observability import EventCounter

logger = logging.getLogger("healthbook.jwks")

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_MAX_JWKS_BYTES = 256 * 1024


def _provider(uri: str) -> str:
    """A provider's label in the metrics: the host of its JWKS URI (a configured few)."""
    return urlsplit(uri).hostname or "unknown"


class JwksUnavailable(Exception):
    """No keys could be had for a provider."""


class _Entry:
    __slots__ = ("fetched_at", "in_flight", "keys", "last_attempt")

    def __init__(self) -> None:
        self.keys: dict[str, PyJWK] = {}
        self.fetched_at: float | None = None
        self.last_attempt: float = float("-inf")
        self.in_flight: asyncio.Task[None] | None = None


class JwksCache:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        ttl: float,
        cooldown: float,
        max_staleness: float,
        fetch_timeout: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        fetches: EventCounter | None = None,
    ) -> None:
        self.http = http
        # fetches by provider (the JWKS URI's host) and result: healthbook_jwks_fetches_total
        self.fetches = fetches or EventCounter(
            "healthbook_jwks_fetches", "", ("provider", "result")
        )
        self.fetch_timeout = fetch_timeout
        self.ttl = ttl
        self.cooldown = cooldown
        self.max_staleness = max_staleness
        self._now = monotonic
        self._entries: dict[str, _Entry] = {}
        self.fetch_count = 0

    def _entry(self, uri: str) -> _Entry:
        entry = self._entries.get(uri)
        if entry is None:
            entry = self._entries[uri] = _Entry()
        return entry

    async def get_key(self, uri: str, kid: str | None) -> PyJWK:
        """The key for ``kid``; raises ``jwt.InvalidKeyError`` (unknown key, a 401) or
        ``JwksUnavailable`` (no usable keys at all, a 503)."""
        entry = self._entry(uri)
        now = self._now()
        stale = entry.fetched_at is None or now - entry.fetched_at >= self.ttl
        key = self._pick(entry, kid)
        if key is not None and not stale:
            return key
        if entry.in_flight is not None:
            usable = key is not None and now - (entry.fetched_at or now) <= self.max_staleness
            if not usable:  # nothing to go on until the fetch in flight answers: wait for it
                await self._refresh(entry, uri)
                key = self._pick(entry, kid)
        elif now - entry.last_attempt >= self.cooldown:
            await self._refresh(entry, uri)
            key = self._pick(entry, kid)
        if entry.fetched_at is None:
            raise JwksUnavailable("the identity provider's keys cannot be fetched")
        if self._now() - entry.fetched_at > self.max_staleness:
            raise JwksUnavailable("the identity provider's keys are too old to trust")
        if key is None:
            raise jwt.InvalidKeyError("no key with that kid")
        return key

    @staticmethod
    def _pick(entry: _Entry, kid: str | None) -> PyJWK | None:
        if kid is not None:
            return entry.keys.get(kid)
        if len(entry.keys) == 1:
            return next(iter(entry.keys.values()))
        return None

    async def _refresh(self, entry: _Entry, uri: str) -> None:
        """Wait for the provider's fetch in flight, starting it when there is none."""
        if entry.in_flight is None:
            entry.last_attempt = self._now()
            entry.in_flight = asyncio.create_task(self._fetch_into(entry, uri), name="jwks-fetch")
        await asyncio.shield(entry.in_flight)

    async def _fetch_into(self, entry: _Entry, uri: str) -> None:
        try:
            async with asyncio.timeout(self.fetch_timeout):
                keys = await self._fetch(uri)
        except Exception as exc:  # network, timeout, HTTP status, bad JSON: keep the last good keys
            self.fetches.inc(_provider(uri), "failed")
            logger.warning(
                "JWKS fetch failed; keeping the last good keys",
                extra={"jwks_uri": uri, "error": type(exc).__name__},
            )
        else:
            self.fetches.inc(_provider(uri), "ok")
            entry.keys = keys
            entry.fetched_at = self._now()
        finally:
            entry.in_flight = None

    async def _fetch(self, uri: str) -> dict[str, PyJWK]:
        self.fetch_count += 1
        response = await self.http.get(uri, follow_redirects=False, timeout=self.fetch_timeout)
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        document: Any = response.json()
        keys: dict[str, PyJWK] = {}
        for item in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(item, dict) or item.get("use", "sig") != "sig":
                continue
            if item.get("kty") == "oct":
                continue  # symmetric keys are never accepted from a provider
            try:
                key = PyJWK.from_dict(item)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue
            kid = item.get("kid")
            keys[str(kid) if kid is not None else f"_{len(keys)}"] = key
        if not keys:
            raise ValueError("JWKS document holds no usable signing key")
        return keys
