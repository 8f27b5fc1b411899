"""Firebase Cloud Messaging through firebase-admin's async API (FCM HTTP v1).

Pushes go out with ``messaging.send_each_async`` in batches of at most 500, one HTTP/2 request per
message. Each failure is classified by its FCM error code:

- ``UNREGISTERED``, ``SENDER_ID_MISMATCH``, and ``INVALID_ARGUMENT`` about the token:
  ``invalid_token`` (the relay deletes the device; no retry);
- ``INVALID_ARGUMENT`` about the message, ``THIRD_PARTY_AUTH_ERROR``: ``rejected`` (no retry);
- ``QUOTA_EXCEEDED`` (429), ``UNAVAILABLE`` (503), ``INTERNAL`` (500), timeouts and anything
  else: ``retry``, carrying the ``Retry-After`` FCM sent.

firebase-admin 7.7 has no option for what the relay needs from its HTTP client, so
:func:`_configure_service` gives its messaging service a client of firebase-admin's own class
(:class:`_BoundedClient`), configured:

- without retries: firebase-admin retries 500/503 up to four times inside one call, ignoring
  ``Retry-After``; the relay owns retries (per device, with backoff, jitter and ``Retry-After``);
- with a bound on requests in flight (``FCM_MAX_CONCURRENCY``), and the OAuth token applied as a
  header; the token is refreshed in a worker thread before it expires (google-auth refreshes
  synchronously, which would block the event loop inside a send) and after a 401;
- for tests only, ``FCM_ENDPOINT`` (loopback) replaces the fixed fcm.googleapis.com origin, so
  tests run the real request, encoding and error-parsing path against a fake FCM server.

The message encoding, the request and the parsing of FCM's errors stay firebase-admin's.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import Any, cast

import firebase_admin
import httpx
from firebase_admin import _http_client, _retry, credentials, exceptions, messaging
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request as GoogleAuthRequest

from notifications.senders.base import PAYLOAD_TOO_LARGE, Push, SendResult, fits, token_hint

logger = logging.getLogger("healthbook.push.fcm")

MAX_BATCH = 500
"""firebase-admin's limit per ``send_each_async`` call."""
MAX_IN_FLIGHT = 64
"""Default concurrent requests per sender (HTTP/2 streams; HTTP/1.1 connections to a fake)."""

_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
_TOKEN_GONE = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
_REJECTED = frozenset({"THIRD_PARTY_AUTH_ERROR"})


def _error_body(exc: exceptions.FirebaseError) -> dict[str, Any]:
    response = exc.http_response
    if response is None:
        return {}
    try:
        parsed = response.json()
    except ValueError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _fcm_code(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == _FCM_ERROR_TYPE:
            code = detail.get("errorCode")
            return str(code) if code else None
    return None


def _about_token(error: dict[str, Any]) -> bool:
    """Whether an INVALID_ARGUMENT is about the registration token rather than the message."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == _BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or ():
                if isinstance(violation, dict) and violation.get("field") == "message.token":
                    return True
    return "registration token" in str(error.get("message", "")).lower()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
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
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def classify(exc: exceptions.FirebaseError) -> SendResult:
    """Map a failed send to what the relay does about it."""
    error = _error_body(exc)
    code = _fcm_code(error) or str(exc.code or "UNKNOWN")
    if code in _TOKEN_GONE or (code == "INVALID_ARGUMENT" and _about_token(error)):
        return SendResult(outcome="invalid_token", error=code)
    if code == "INVALID_ARGUMENT" or code in _REJECTED:
        return SendResult(outcome="rejected", error=code)
    retry_after = None
    if exc.http_response is not None:
        retry_after = parse_retry_after(exc.http_response.headers.get("retry-after"))
    return SendResult(outcome="retry", error=code, retry_after=retry_after)


def _configure_service(
    service: Any, *, endpoint: str | None, timeout: float, max_in_flight: int = MAX_IN_FLIGHT
) -> Any:
    """Rebuild the messaging service's async client without retries and, for tests, point it at
    ``endpoint``. Returns the client it replaced (to close). See the module docstring."""
    missing = [
        name
        for name in ("_fcm_url", "_async_client", "_credential", "_project_id")
        if not hasattr(service, name)
    ]
    if missing:
        raise RuntimeError(
            f"firebase-admin {firebase_admin.__version__} lays out its messaging service "
            f"differently (no {', '.join(missing)}); this sender supports 7.7"
        )
    if endpoint:
        origin = endpoint.rstrip("/")
        service._fcm_url = f"{origin}/v1/projects/{service._project_id}/messages:send"
    replaced = service._async_client
    service._async_client = _BoundedClient(service._credential, timeout, max_in_flight)
    return replaced


class _BoundedClient(_http_client.HttpxAsyncClient):
    """firebase-admin's async HTTP client, leaner: no retries (the relay retries per device, with
    backoff, jitter and ``Retry-After``), at most ``max_in_flight`` requests at once (a batch of
    500 waits on a semaphore, not in httpx's pool queue whose bookkeeping grows with the square of
    the waiting requests), and the credential's ``Authorization`` header applied directly instead
    of through httpx's auth-flow generator. The sender refreshes the token (in a thread) before it
    expires, and after FCM answers 401 (``token_rejected``)."""

    def __init__(self, credential: Any, timeout: float, max_in_flight: int) -> None:
        super().__init__(
            credential=credential,
            timeout=timeout,  # type: ignore[arg-type]  # httpx takes a float; the stub says int
            retry_config=_retry.HttpxRetry(max_retries=0),
        )
        transport = httpx.AsyncHTTPTransport(
            http2=True,
            retries=0,
            limits=httpx.Limits(
                max_connections=max_in_flight, max_keepalive_connections=max_in_flight
            ),
        )
        # The client built by the base class never connected: nothing to close.
        self._async_client = httpx.AsyncClient(
            http2=True, timeout=timeout, headers=self._headers, transport=transport
        )
        self._credential = credential
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._urls: dict[str, httpx.URL] = {}
        self.token_rejected = False

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = httpx.URL(self.base_url + url)
        headers = kwargs.pop("headers", None) or {}
        self._credential.apply(headers)
        kwargs.setdefault("timeout", self.timeout)
        async with self._in_flight:
            response = await self._async_client.request(method, target, headers=headers, **kwargs)
        if response.status_code == 401:
            self.token_rejected = True
        return response.raise_for_status()


def build_message(push: Push) -> messaging.Message:
    """The FCM message for one push. Phones register FCM registration tokens, so the target is
    ``token``; firebase-admin 7.7 flags it in favour of ``fid`` (Firebase installation ids, a
    different identifier the app does not send), which is silenced here and nowhere else."""
    apns_headers = {"apns-priority": "10" if push.priority == "high" else "5"}
    if push.collapse_key:
        apns_headers["apns-collapse-id"] = push.collapse_key
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)
        return messaging.Message(
            token=push.token,
            notification=messaging.Notification(title=push.title, body=push.body),
            data=dict(push.data),
            android=messaging.AndroidConfig(
                priority=push.priority, ttl=push.ttl_seconds, collapse_key=push.collapse_key
            ),
            apns=messaging.APNSConfig(
                headers=apns_headers,
                payload=messaging.APNSPayload(aps=messaging.Aps(sound="default")),
            ),
        )


class FcmSender:
    """Sends through one firebase-admin app of its own (several senders can coexist)."""

    name = "fcm"

    def __init__(
        self,
        credentials_path: str,
        *,
        endpoint: str | None = None,
        timeout: float = 10.0,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        certificate = credentials.Certificate(credentials_path)
        self._app = firebase_admin.initialize_app(
            certificate,
            options={"httpTimeout": timeout},
            name=f"healthbook-{uuid.uuid4().hex}",
        )
        self._service = messaging._get_messaging_service(self._app)
        self._replaced_client = _configure_service(
            self._service, endpoint=endpoint, timeout=timeout, max_in_flight=max_in_flight
        )
        self._credential = self._service._credential
        self._refresh_lock = asyncio.Lock()
        self.project_id = self._service._project_id

    async def _ensure_access_token(self) -> None:
        # the client _configure_service put in place of firebase-admin's
        client = cast(_BoundedClient, self._service._async_client)
        if self._credential.valid and not client.token_rejected:
            return
        async with self._refresh_lock:
            if not self._credential.valid or client.token_rejected:
                await asyncio.to_thread(self._credential.refresh, GoogleAuthRequest())
                client.token_rejected = False

    async def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(pushes)
        pending: list[tuple[int, Push]] = []
        for index, push in enumerate(pushes):
            if fits(push):
                pending.append((index, push))
            else:
                results[index] = PAYLOAD_TOO_LARGE
        if pending:
            try:
                await self._ensure_access_token()
            except (auth_exceptions.GoogleAuthError, OSError) as exc:
                logger.error("FCM access token refresh failed: %s", type(exc).__name__)
                failure = SendResult(outcome="retry", error="AUTH_REFRESH_FAILED")
                for index, _ in pending:
                    results[index] = failure
                pending = []
        for start in range(0, len(pending), MAX_BATCH):
            chunk = pending[start : start + MAX_BATCH]
            sent = await self._send_chunk([push for _, push in chunk])
            for (index, _), result in zip(chunk, sent, strict=True):
                results[index] = result
        return [result for result in results if result is not None]

    async def _send_chunk(self, pushes: list[Push]) -> list[SendResult]:
        try:
            batch = await messaging.send_each_async(
                [build_message(push) for push in pushes], app=self._app
            )
        except ValueError:
            # firebase-admin refused to encode a message: find which, send the others.
            if len(pushes) == 1:
                logger.warning(
                    "FCM refused a message", extra={"token": token_hint(pushes[0].token)}
                )
                return [SendResult(outcome="rejected", error="INVALID_MESSAGE")]
            results: list[SendResult] = []
            for push in pushes:
                results.extend(await self._send_chunk([push]))
            return results
        except exceptions.FirebaseError as exc:
            return [SendResult(outcome="retry", error=str(exc.code or "UNKNOWN"))] * len(pushes)
        results = []
        for push, response in zip(pushes, batch.responses, strict=True):
            if response.success:
                results.append(SendResult(outcome="sent", message_id=response.message_id))
                continue
            result = classify(response.exception)
            logger.info(
                "FCM refused a push",
                extra={"token": token_hint(push.token), "fcm_error": result.error},
            )
            results.append(result)
        return results

    async def aclose(self) -> None:
        await self._service._async_client.aclose()
        if isinstance(self._replaced_client, _http_client.HttpxAsyncClient):
            await self._replaced_client.aclose()
        # delete_app closes the services with asyncio.run(): run it off this event loop.
        await asyncio.to_thread(firebase_admin.delete_app, self._app)
