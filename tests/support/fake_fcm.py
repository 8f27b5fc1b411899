"""A fake FCM HTTP v1 server on 127.0.0.1.

firebase-admin talks to it through its real HTTP path (``messaging.send_each_async``, its message
encoding, headers and error parsing), with ``FCM_ENDPOINT`` pointing ``messages:send`` here and a
service-account JSON written by :meth:`FakeFcm.write_service_account`: a locally generated RSA key
and a test universe domain, so google-auth signs its own access token (a JWT this server verifies)
and never calls Google's token endpoint or any other Google host.

It records every request, counts what it accepted per (notification, token) so tests can check
"exactly once per device", and answers scripted FCM errors (``fail_token``, ``fail_any``) in the
exact JSON shape FCM uses. ``hold()`` keeps accepted sends unanswered until ``release()`` (a relay
killed meanwhile has claimed but not recorded); ``stall()`` keeps sends waiting *before* they are
accepted (a send whose connection closes meanwhile is dropped, never delivered) until
``release()``: a relay stopped meanwhile has sent nothing. Run standalone for the benchmark::

    python -m tests.support.fake_fcm --port 0 --service-account /tmp/sa.json

which prints ``READY <base_url>`` and serves ``GET /_fake/stats`` until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT_ID = "healthbook-test"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
TEST_UNIVERSE = "fake-fcm.test"

# FCM code -> (HTTP status, google.rpc status, message, violated field)
ERRORS: dict[str, tuple[int, str, str, str | None]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found.", None),
    "INVALID_ARGUMENT": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        "message.token",
    ),
    "INVALID_MESSAGE": (
        400,
        "INVALID_ARGUMENT",
        "Invalid value at 'message.android.ttl'",
        "message.android.ttl",
    ),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for the project.", None),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable.", None),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered.", None),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch", None),
    "UNAUTHENTICATED": (401, "UNAUTHENTICATED", "Request had invalid credentials.", None),
}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}

_KEY: rsa.RSAPrivateKey | None = None


def _private_key() -> rsa.RSAPrivateKey:
    global _KEY
    if _KEY is None:
        _KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEY


@dataclass(frozen=True)
class Received:
    token: str
    notification_id: str | None
    kind: str | None
    title: str | None
    body: str | None
    data: dict[str, str]
    answer: str  # "ok" or the FCM error code answered
    at: float


@dataclass
class _Script:
    code: str
    times: int
    retry_after: int | None


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    accepted: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    per_token: dict[str, deque[_Script]] = field(default_factory=dict)
    any_token: deque[_Script] = field(default_factory=deque)
    grants: int = 0  # distinct access tokens verified
    stalled: int = 0  # sends waiting for release() before being looked at
    dropped: int = 0  # stalled sends whose connection closed first


class FakeFcm:
    """Start with ``with FakeFcm() as fcm:`` (a thread of its own); see the module docstring."""

    def __init__(self, *, project_id: str = PROJECT_ID, latency: float = 0.0, port: int = 0):
        self.project_id = project_id
        self.latency = latency
        self._port = port
        self._lock = threading.Lock()
        self._state = _State()
        self._verified: set[str] = set()
        self._counter = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._released: asyncio.Event | None = None
        self._flowing: asyncio.Event | None = None  # cleared by stall()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeFcm:
        self._thread = threading.Thread(target=self._run, name="fake-fcm", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake FCM server did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        loop = self._loop
        if loop is not None and self._server is not None:
            loop.call_soon_threadsafe(self._release_now)
            loop.call_soon_threadsafe(self._server.close)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._released = asyncio.Event()
        self._released.set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = loop.run_until_complete(
            loop.create_server(lambda: _Connection(self), "127.0.0.1", self._port, backlog=1024)
        )
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._server.wait_closed())
            loop.close()

    def write_service_account(self, directory: Path) -> Path:
        """A service-account JSON whose token endpoint is this server."""
        pem = _private_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        info = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem.decode(),
            "client_email": f"relay@{self.project_id}.iam.gserviceaccount.com",
            "client_id": "100000000000000000000",
            "token_uri": f"{self.base_url}/token",  # required by google-auth; never called
            # A universe other than googleapis.com: google-auth then signs its own access token
            # (a JWT, verified here) instead of calling a token endpoint, and makes none of its
            # background lookups (regional access boundaries) towards Google.
            "universe_domain": TEST_UNIVERSE,
        }
        path = Path(directory) / "fcm-service-account.json"
        path.write_text(json.dumps(info))
        return path

    # --- scripting ---------------------------------------------------------------------------

    def fail_token(
        self, token: str, code: str, *, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next ``times`` sends to ``token`` with FCM error ``code``."""
        if code not in ERRORS:
            raise ValueError(code)
        with self._lock:
            queue = self._state.per_token.setdefault(token, deque())
            queue.append(_Script(code, times, retry_after))

    def fail_any(self, code: str, *, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` sends, whatever their token, with ``code``."""
        if code not in ERRORS:
            raise ValueError(code)
        with self._lock:
            self._state.any_token.append(_Script(code, times, retry_after))

    def hold(self) -> None:
        """Accept sends but leave them unanswered until :meth:`release`."""
        assert self._loop is not None
        assert self._released is not None
        self._loop.call_soon_threadsafe(self._released.clear)

    def stall(self) -> None:
        """Leave sends waiting, not yet accepted, until :meth:`release`; a send whose client
        hangs up meanwhile is dropped (counted in ``stats()["dropped"]``), never delivered."""
        assert self._loop is not None
        assert self._flowing is not None
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def release(self) -> None:
        """End :meth:`hold` and :meth:`stall`."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._release_now)

    def _release_now(self) -> None:
        if self._released is not None:
            self._released.set()
        if self._flowing is not None:
            self._flowing.set()

    # --- inspection --------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._state.received)

    def accepted(self) -> Counter[tuple[str | None, str]]:
        """Accepted sends per (notification id, token)."""
        with self._lock:
            return Counter(self._state.accepted)

    def duplicates(self) -> int:
        return sum(count - 1 for count in self.accepted().values() if count > 1)

    @property
    def grants(self) -> int:
        with self._lock:
            return self._state.grants

    def wait_for(self, condition: Callable[[FakeFcm], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError("the fake FCM server did not see what was expected")
            time.sleep(0.02)

    def stats(self) -> dict[str, int]:
        with self._lock:
            accepted = self._state.accepted
            return {
                "received": len(self._state.received),
                "accepted": sum(accepted.values()),
                "distinct": len(accepted),
                "duplicates": sum(c - 1 for c in accepted.values() if c > 1),
                "errors": sum(1 for r in self._state.received if r.answer != "ok"),
                "grants": self._state.grants,
                "stalled": self._state.stalled,
                "dropped": self._state.dropped,
            }

    # --- HTTP ----------------------------------------------------------------------------------

    def route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[str], Any, bool]:
        """(status, extra headers, JSON payload, whether to wait for latency or a hold)."""
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/_fake/stats":
            return 200, [], self.stats(), False
        expected = f"/v1/projects/{self.project_id}/messages:send"
        if method != "POST" or path != expected:
            error = {"code": 404, "message": "Not found", "status": "NOT_FOUND"}
            return 404, [], {"error": error}, False
        if not self._authorized(headers.get("authorization", "")):
            return 401, [], {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, False
        return self._send(json.loads(body))

    def flowing(self) -> bool:
        return self._flowing is None or self._flowing.is_set()

    async def wait_flowing(self) -> None:
        assert self._flowing is not None
        await self._flowing.wait()

    async def wait(self) -> None:
        """Before answering an accepted send: the configured latency, and any hold."""
        if self.latency:
            await asyncio.sleep(self.latency)
        assert self._released is not None
        await self._released.wait()

    def _authorized(self, authorization: str) -> bool:
        """An access token google-auth signed with the service account's key (verified once)."""
        token = authorization.removeprefix("Bearer ")
        if token in self._verified:
            return True
        try:
            claims = jwt.decode(
                token,
                _private_key().public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return False
        if claims.get("iss") != f"relay@{self.project_id}.iam.gserviceaccount.com":
            return False
        self._verified.add(token)
        with self._lock:
            self._state.grants += 1
        return True

    def _script_for(self, token: str) -> _Script | None:
        for queue in (self._state.per_token.get(token), self._state.any_token):
            if queue:
                script = queue[0]
                script.times -= 1
                if script.times <= 0:
                    queue.popleft()
                return script
        return None

    def _send(self, request: dict[str, Any]) -> tuple[int, list[str], Any, bool]:
        message = request.get("message") or {}
        token = str(message.get("token") or "")
        data = message.get("data") or {}
        notification = message.get("notification") or {}
        with self._lock:
            script = self._script_for(token)
            answer = script.code if script else "ok"
            self._state.received.append(
                Received(
                    token=token,
                    notification_id=data.get("notification_id"),
                    kind=data.get("kind"),
                    title=notification.get("title"),
                    body=notification.get("body"),
                    data=dict(data),
                    answer=answer,
                    at=time.monotonic(),
                )
            )
            if script is None:
                self._state.accepted[(data.get("notification_id"), token)] += 1
        if script is not None:
            status, rpc_status, text, violated = ERRORS[script.code]
            code = "INVALID_ARGUMENT" if script.code == "INVALID_MESSAGE" else script.code
            details: list[dict[str, Any]] = []
            if script.code != "UNAUTHENTICATED":  # an OAuth failure carries no FCM code
                details.append({"@type": _FCM_ERROR, "errorCode": code})
            if violated:
                details.append({"@type": _BAD_REQUEST, "fieldViolations": [{"field": violated}]})
            extra = [f"retry-after: {script.retry_after}"] if script.retry_after else []
            error = {"code": status, "message": text, "status": rpc_status, "details": details}
            return status, extra, {"error": error}, False
        name = f"projects/{self.project_id}/messages/{next(self._counter)}"
        assert self._released is not None
        return 200, [], {"name": name}, bool(self.latency) or not self._released.is_set()


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one request at a time (as httpx sends them), parsed by hand:
    the fake must cost the benchmark as little CPU as it can."""

    def __init__(self, fake: FakeFcm) -> None:
        self.fake = fake
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.pending: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, target, _ = lines[0].split(" ", 2)
            self.closing = headers.get("connection", "").lower() == "close"
            if not self.fake.flowing():
                self._later(self._route_when_flowing(method, target, headers, body))
                continue
            status, extra, payload, wait = self.fake.route(method, target, headers, body)
            if wait:
                task = asyncio.ensure_future(self._answer_later(status, extra, payload))
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
            else:
                self._answer(status, extra, payload)

    def _later(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _route_when_flowing(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> None:
        with self.fake._lock:
            self.fake._state.stalled += 1
        try:
            await self.fake.wait_flowing()
        finally:
            with self.fake._lock:
                self.fake._state.stalled -= 1
        if self.transport is None:  # the client gave up: this send never reaches FCM
            with self.fake._lock:
                self.fake._state.dropped += 1
            return
        status, extra, payload, wait = self.fake.route(method, target, headers, body)
        if wait:
            await self.fake.wait()
        self._answer(status, extra, payload)

    async def _answer_later(self, status: int, extra: list[str], payload: Any) -> None:
        await self.fake.wait()
        self._answer(status, extra, payload)

    def _answer(self, status: int, extra: list[str], payload: Any) -> None:
        if self.transport is None:
            return
        data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        head += ["content-type: application/json; charset=UTF-8"]
        head += [f"content-length: {len(data)}", *extra, "", ""]
        self.transport.write("\r\n".join(head).encode() + data)
        if self.closing:
            self.transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--project", default=PROJECT_ID)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--service-account", type=Path, required=True)
    args = parser.parse_args()
    with FakeFcm(project_id=args.project, latency=args.latency, port=args.port) as fcm:
        path = fcm.write_service_account(args.service_account.parent)
        if path != args.service_account:
            path.replace(args.service_account)
        print(f"READY {fcm.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
