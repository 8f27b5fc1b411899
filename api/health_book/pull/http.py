"""HTTP to a facility's FHIR API, defensively.

- **Auth**: with a token URL and client id, SMART Backend Services: a client assertion (RFC 7523)
  signed with our own key of the algorithm the facility asks for — ES384 by default, RS384, or
  EdDSA — whose public half our JWKS publishes (``iss`` = ``sub`` = our client id at the
  facility, ``aud`` = the token URL, five minutes, a random ``jti``), exchanged for an access
  token that is cached until shortly before it expires and dropped when the API answers 401.
  Without a token URL, no ``Authorization`` header at all.
- **Redirects**: followed only to the same origin (scheme, host and port) as the URL asked for, at
  most :data:`MAX_REDIRECTS` times, and for a POST only when the method is kept (307, 308).
  Anything else is refused: the request never leaves the facility's origin.
- **Size**: a successful response may use what is left of the pull's :class:`Budget`; a declared
  ``Content-Length`` past it is refused before reading, and the body is counted as it streams
  (after decompression). Error bodies are read up to 64 KB, for the message only.
- **Time**: connect and read timeouts, and a deadline for each response as a whole.
- **Retries**: 429, 502, 503, 504, connection errors and timeouts are retried with exponential
  backoff and jitter, at most ``PULL_MAX_ATTEMPTS`` times; a ``Retry-After`` longer than the
  backoff wins, and one longer than ``PULL_RETRY_MAX_SECONDS`` ends the pull.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import msgspec

from api.core.backoff import retry_delay
from api.core.security import SigningKeyError, SigningKeys
from api.core.settings import Settings
from api.health_book.pull.errors import (
    AuthFailed,
    RedirectRefused,
    RemoteUnavailable,
    ResponseTooLarge,
)

logger = logging.getLogger("healthbook.pull.http")

FHIR_JSON = "application/fhir+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
ERROR_BODY_LIMIT = 65_536
TOKEN_RESPONSE_LIMIT = 65_536
ASSERTION_LIFETIME_S = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach one facility's FHIR API."""

    facility_id: str
    base_url: str
    token_url: str | None = None
    client_id: str | None = None
    assertion_alg: str = "ES384"

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path}"


@dataclass(slots=True)
class Budget:
    """Bytes one pull may still download."""

    remaining: int
    used: int = 0

    def spend(self, size: int) -> None:
        self.remaining -= size
        self.used += size


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str


class _Token(msgspec.Struct):
    access_token: str
    token_type: str = "bearer"
    expires_in: float | None = None


@dataclass(slots=True)
class _CachedToken:
    value: str
    refresh_at: float


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: str, other: str) -> bool:
    return origin(url) == origin(other)


def describe_origin(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class FhirHttp:
    """Requests to facilities' FHIR APIs and token endpoints (one per process; caches tokens)."""

    def __init__(self, http: httpx.AsyncClient, keys: SigningKeys, settings: Settings) -> None:
        self._http = http
        self._keys = keys
        self._settings = settings
        self._timeout = httpx.Timeout(
            settings.pull.read_timeout_seconds, connect=settings.pull.connect_timeout_seconds
        )
        self._tokens: dict[tuple[str, str, str], _CachedToken] = {}
        self._token_lock = asyncio.Lock()

    async def get(
        self, endpoint: Endpoint, url: str, *, budget: Budget, params: dict[str, str] | None = None
    ) -> Reply:
        """GET ``url`` of the facility's API with its credentials; the final reply, whatever its
        status, except that retryable failures past the attempts raise RemoteUnavailable."""
        return await self._exchange(
            "GET", url, params=params, data=None, budget=budget, endpoint=endpoint
        )

    def forget_token(self, endpoint: Endpoint) -> None:
        if endpoint.token_url and endpoint.client_id:
            self._tokens.pop((endpoint.token_url, endpoint.client_id, endpoint.assertion_alg), None)

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None,
        data: dict[str, str] | None,
        budget: Budget,
        endpoint: Endpoint | None,
    ) -> Reply:
        settings = self._settings
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            headers = {"accept": FHIR_JSON if endpoint is not None else "application/json"}
            token = await self._bearer(endpoint) if endpoint is not None else None
            if token is not None:
                headers["authorization"] = f"Bearer {token}"
            retry_after: float | None = None
            try:
                reply = await self._send(method, url, params, data, headers, budget)
            except (httpx.TransportError, TimeoutError) as exc:
                failure = _describe_failure(exc)
            else:
                if reply.status == 401 and token is not None and not refreshed:
                    # the token may have been revoked early: fetch a new one, once
                    assert endpoint is not None
                    self.forget_token(endpoint)
                    refreshed = True
                    attempt -= 1
                    continue
                if reply.status not in RETRY_STATUSES:
                    return reply
                failure = f"HTTP {reply.status}"
                retry_after = parse_retry_after(reply.headers.get("retry-after"))
            where = describe_origin(url)
            if attempt >= settings.pull.max_attempts:
                raise RemoteUnavailable(
                    f"{where} failed {attempt} time(s); last: {failure}",
                    extra={"attempts": attempt},
                )
            if retry_after is not None and retry_after > settings.pull.retry_max_seconds:
                raise RemoteUnavailable(
                    f"{where} answered {failure} and asks to wait {retry_after:.0f} s, longer "
                    f"than PULL_RETRY_MAX_SECONDS ({settings.pull.retry_max_seconds:.0f} s)"
                )
            delay = retry_delay(
                attempt,
                base=settings.pull.retry_base_seconds,
                cap=settings.pull.retry_max_seconds,
                retry_after=retry_after,
            )
            logger.info(
                "retrying a pull request",
                extra={"origin": where, "failure": failure, "attempt": attempt, "delay": delay},
            )
            await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        data: dict[str, str] | None,
        headers: dict[str, str],
        budget: Budget,
    ) -> Reply:
        """One request, following same-origin redirects; reads the body within the budget."""
        allowed = url
        for _ in range(MAX_REDIRECTS + 1):
            request = self._http.build_request(
                method, url, params=params, data=data, headers=headers, timeout=self._timeout
            )
            async with asyncio.timeout(self._settings.pull.response_deadline_seconds):
                response = await self._http.send(request, stream=True, follow_redirects=False)
                try:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECT_STATUSES and location:
                        target = urljoin(str(response.url), location)
                        if not same_origin(target, allowed):
                            raise RedirectRefused(
                                f"{describe_origin(allowed)} redirected to another host "
                                f"({describe_origin(target)}); a pull never follows it",
                                extra={"location_origin": describe_origin(target)},
                            )
                        if method == "POST" and response.status_code not in (307, 308):
                            raise RedirectRefused(f"a POST to {url} was redirected with a GET")
                        url, params = target, None
                        continue
                    if 200 <= response.status_code < 300:
                        body = await _read(response, budget.remaining)
                        budget.spend(len(body))
                    else:
                        body = await _read(response, ERROR_BODY_LIMIT, truncate=True)
                    return Reply(response.status_code, response.headers, body, str(response.url))
                finally:
                    await response.aclose()
        raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects from {describe_origin(url)}")

    async def _bearer(self, endpoint: Endpoint) -> str | None:
        if not endpoint.token_url:
            return None
        if not endpoint.client_id:
            raise AuthFailed("the facility has a FHIR token URL but no client id")
        key = (endpoint.token_url, endpoint.client_id, endpoint.assertion_alg)
        cached = self._tokens.get(key)
        if cached is not None and cached.refresh_at > time.monotonic():
            return cached.value
        async with self._token_lock:
            cached = self._tokens.get(key)
            if cached is None or cached.refresh_at <= time.monotonic():
                cached = await self._fetch_token(
                    endpoint.token_url, endpoint.client_id, endpoint.assertion_alg
                )
                self._tokens[key] = cached
        return cached.value

    async def _fetch_token(self, token_url: str, client_id: str, alg: str) -> _CachedToken:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": secrets.token_urlsafe(24),
        }
        try:
            # off the event loop: an RS384 key is made on its first use in embedded mode
            assertion = await asyncio.to_thread(self._keys.sign, claims, typ="JWT", alg=alg)
        except SigningKeyError as exc:
            raise AuthFailed(f"no key to sign the client assertion ({alg}): {exc}") from exc
        form = {
            "grant_type": "client_credentials",
            "scope": self._settings.pull.token_scope,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        }
        reply = await self._exchange(
            "POST",
            token_url,
            params=None,
            data=form,
            budget=Budget(TOKEN_RESPONSE_LIMIT),
            endpoint=None,
        )
        if reply.status != 200:
            raise AuthFailed(
                f"the facility's token endpoint answered HTTP {reply.status}"
                + _oauth_error(reply.body)
            )
        try:
            token = msgspec.json.decode(reply.body, type=_Token)
        except msgspec.DecodeError as exc:
            raise AuthFailed(f"the facility's token endpoint sent no usable token: {exc}") from exc
        if token.token_type.lower() != "bearer" or not token.access_token:
            raise AuthFailed(f"the token endpoint issued a {token.token_type!r} token, not bearer")
        lifetime = token.expires_in if token.expires_in and token.expires_in > 0 else 300.0
        margin = min(60.0, lifetime / 5)
        return _CachedToken(token.access_token, time.monotonic() + lifetime - margin)


async def _read(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(
            f"the response declares {declared} bytes; {max(limit, 0)} are left of PULL_MAX_BYTES"
        )
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise ResponseTooLarge(
                f"the response passed the {max(limit, 0)} bytes left of PULL_MAX_BYTES"
            )
    return bytes(body)


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _OAuthError(msgspec.Struct):
    error: str | None = None
    error_description: str | None = None


def _oauth_error(body: bytes) -> str:
    try:
        parsed = msgspec.json.decode(body, type=_OAuthError)
    except msgspec.DecodeError:
        return ""
    if not parsed.error:
        return ""
    text = f" ({parsed.error}"
    if parsed.error_description:
        text += f": {parsed.error_description[:200]}"
    return text + ")"
