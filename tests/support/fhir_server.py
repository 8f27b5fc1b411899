"""A small FHIR R4 server on 127.0.0.1 serving the sample bundles, for the pull tests.

``load(document)`` stores a bundle's resources under its Patient as a server would: references
between them rewritten from ``urn:uuid:`` to relative ``Type/id``, each resource's last update
the time of loading (the samples carry no ``meta.lastUpdated``). It answers:

- ``GET {base}/Patient?identifier=system|value[,system|value...]``: a searchset of the Patients
  carrying one of them;
- ``GET {base}/Patient/{id}/$everything[?_since=&_count=&_offset=]``: the patient's resources
  updated after ``_since``, as searchset pages of ``page_size`` linked by absolute
  ``link[next]`` URLs, each page stamped ``meta.lastUpdated`` with the server's time;
- ``GET {base}/Patient/{id}/$summary``: the document bundle loaded for the patient, verbatim
  (404 for the others);
- ``POST /token``: with :meth:`require_smart`, a SMART Backend Services token endpoint that
  verifies the client assertion against the JWKS it is given (fetched at each request, as a
  server that follows a client's ``jwks_url`` does), accepting only the algorithms it is told
  (EdDSA unless told otherwise); the FHIR endpoints then want the bearer token it issues.

Switches make it misbehave: ``everything_status`` (answer ``$everything`` with that status),
``fail_times``/``fail_status``/``retry_after`` (fail the next FHIR requests), ``redirect_host``
(redirect ``$everything`` to that host on the same port), ``moved`` (redirect every ``/fhir``
request to ``/fhir-moved`` on this host), ``next_host`` (``link[next]`` on another host),
``oversize``/``declare_length`` (a ``$everything`` body that large), ``delay`` (sleep before
answering ``$everything``). Every request is recorded in ``requests``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

PREFIX = "/fhir"
MOVED_PREFIX = "/fhir-moved"
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Stored:
    resource: dict[str, Any]
    last_updated: dt.datetime


@dataclass
class _Record:
    patient: dict[str, Any]
    resources: dict[str, _Stored] = field(default_factory=dict)
    document: dict[str, Any] | None = None


def _now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _instant(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rewrite(value: Any, addresses: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: addresses.get(item, item)
            if key == "reference" and isinstance(item, str)
            else _rewrite(item, addresses)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(item, addresses) for item in value]
    return value


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _wanted_identifiers(parameter: str) -> list[tuple[str | None, str]]:
    wanted: list[tuple[str | None, str]] = []
    for token in _UNESCAPED_COMMA.split(parameter):
        parts = _UNESCAPED_PIPE.split(token, maxsplit=1)
        if len(parts) == 2:
            wanted.append((_unescape(parts[0]) or None, _unescape(parts[1])))
        else:
            wanted.append((None, _unescape(parts[0])))
    return wanted


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        headers = {key.lower(): value for key, value in self.headers.items()}
        with owner.lock:
            owner.requests.append(Recorded(method, url.path, query, headers))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            owner.route(self, method, url.path, query, headers)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/fhir+json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_outcome(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
        }
        self.send_json(status, outcome, headers)

    def redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("location", location)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    owner: FhirServer

    def handle_error(self, *_args: Any) -> None:
        return


class FhirServer:
    """See the module docstring. Use as a context manager."""

    __test__ = False

    def __init__(self, page_size: int = 50) -> None:
        self.page_size = page_size
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.records: dict[str, _Record] = {}
        self.everything_status: int | None = None
        self.fail_times = 0
        self.fail_status = 503
        self.retry_after: str | None = "0"
        self.redirect_host: str | None = None
        self.moved = False
        self.next_host: str | None = None
        self.oversize: int | None = None
        self.declare_length = False
        self.delay = 0.0
        self.smart_client_id: str | None = None
        self.jwks: Callable[[], dict[str, Any]] | None = None
        self.algorithms: tuple[str, ...] = ("EdDSA",)
        self.token_lifetime = 300
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.assertions: list[dict[str, Any]] = []
        self._jtis: set[str] = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = self.origin + PREFIX
        self.token_url = self.origin + "/token"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FhirServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- data -------------------------------------------------------------------------------

    def load(self, document: dict[str, Any]) -> str:
        """Serve a bundle's resources under its Patient; returns the Patient's id."""
        resources = [entry["resource"] for entry in document["entry"] if "resource" in entry]
        addresses = {
            entry["fullUrl"]: f"{entry['resource']['resourceType']}/{entry['resource']['id']}"
            for entry in document["entry"]
            if entry.get("fullUrl") and "resource" in entry and entry["resource"].get("id")
        }
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        record = _Record(patient=patient)
        loaded = _now()
        for resource in resources:
            key = f"{resource['resourceType']}/{resource['id']}"
            record.resources[key] = _Stored(_rewrite(resource, addresses), loaded)
        if document.get("type") == "document":
            record.document = copy.deepcopy(document)
        self.records[patient["id"]] = record
        return patient["id"]

    def change(self, patient_id: str, key: str, edit: Callable[[dict[str, Any]], None]) -> None:
        stored = self.records[patient_id].resources[key]
        edit(stored.resource)
        stored.last_updated = _now()

    def delete(self, patient_id: str, key: str) -> None:
        del self.records[patient_id].resources[key]

    def require_smart(
        self,
        client_id: str,
        jwks: Callable[[], dict[str, Any]],
        algorithms: tuple[str, ...] = ("EdDSA",),
    ) -> None:
        """Require bearer tokens issued for assertions by ``client_id`` signed with a key of
        ``jwks`` (called at each token request) with one of ``algorithms``."""
        self.smart_client_id = client_id
        self.jwks = jwks
        self.algorithms = algorithms

    def fhir_requests(self, operation: str | None = None) -> list[Recorded]:
        with self.lock:
            found = [r for r in self.requests if r.path.startswith((PREFIX, MOVED_PREFIX))]
        return [r for r in found if operation is None or r.path.endswith(operation)]

    # --- routing ----------------------------------------------------------------------------

    def route(
        self,
        handler: _Handler,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
    ) -> None:
        if method == "POST" and path == "/token":
            self._token(handler)
            return
        if self.moved and path.startswith(PREFIX + "/"):
            suffix = handler.path[len(PREFIX) :]
            handler.redirect(301, MOVED_PREFIX + suffix)
            return
        prefix = MOVED_PREFIX if path.startswith(MOVED_PREFIX + "/") else PREFIX
        if method != "GET" or not path.startswith(prefix + "/"):
            handler.send_outcome(404, "not found")
            return
        if self.smart_client_id is not None:
            token = headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self.tokens:
                handler.send_outcome(401, "a bearer token is required")
                return
        with self.lock:
            failing = self.fail_times > 0
            self.fail_times -= 1 if failing else 0
        if failing:
            extra = {"retry-after": self.retry_after} if self.retry_after is not None else {}
            handler.send_outcome(self.fail_status, "try again later", extra)
            return
        parts = path[len(prefix) + 1 :].split("/")
        if parts == ["Patient"]:
            self._search(handler, query.get("identifier", ""), prefix)
        elif len(parts) == 3 and parts[0] == "Patient" and parts[2] == "$everything":
            self._everything(handler, parts[1], query, prefix)
        elif len(parts) == 3 and parts[0] == "Patient" and parts[2] == "$summary":
            record = self.records.get(parts[1])
            if record is None or record.document is None:
                handler.send_outcome(404, "no summary for this patient")
            else:
                handler.send_json(200, record.document)
        else:
            handler.send_outcome(404, f"unknown path {path}")

    def _search(self, handler: _Handler, parameter: str, prefix: str) -> None:
        wanted = _wanted_identifiers(parameter)
        matches = [
            record.patient
            for record in self.records.values()
            if any(
                identifier.get("value") == value
                and (system is None or identifier.get("system") == system)
                for identifier in record.patient.get("identifier", [])
                for system, value in wanted
            )
        ]
        base = self.origin + prefix
        handler.send_json(
            200,
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "meta": {"lastUpdated": _instant(_now())},
                "total": len(matches),
                "entry": [
                    {
                        "fullUrl": f"{base}/Patient/{patient['id']}",
                        "resource": patient,
                        "search": {"mode": "match"},
                    }
                    for patient in matches
                ],
            },
        )

    def _everything(
        self, handler: _Handler, patient_id: str, query: dict[str, str], prefix: str
    ) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.everything_status is not None:
            handler.send_outcome(self.everything_status, "$everything is not supported here")
            return
        if self.redirect_host is not None:
            target = f"http://{self.redirect_host}:{self.port}{handler.path}"
            handler.redirect(302, target)
            return
        if self.oversize is not None:
            self._oversized(handler, self.oversize)
            return
        record = self.records.get(patient_id)
        if record is None:
            handler.send_outcome(404, f"no Patient/{patient_id}")
            return
        since = dt.datetime.fromisoformat(query["_since"]) if "_since" in query else None
        stored = [
            (key, item)
            for key, item in record.resources.items()
            if since is None or item.last_updated > since
        ]
        count = int(query.get("_count", self.page_size))
        offset = int(query.get("_offset", 0))
        base = self.origin + prefix
        page: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "meta": {"lastUpdated": _instant(_now())},
            "total": len(stored),
            "link": [{"relation": "self", "url": f"{base}{handler.path[len(prefix) :]}"}],
            "entry": [
                {"fullUrl": f"{base}/{key}", "resource": item.resource, "search": {"mode": "match"}}
                for key, item in stored[offset : offset + count]
            ],
        }
        if offset + count < len(stored):
            following = {**query, "_count": str(count), "_offset": str(offset + count)}
            host = self.next_host or "127.0.0.1"
            page["link"].append(
                {
                    "relation": "next",
                    "url": f"http://{host}:{self.port}{prefix}/Patient/{patient_id}/$everything?"
                    + urlencode(following),
                }
            )
        handler.send_json(200, page)

    def _oversized(self, handler: _Handler, size: int) -> None:
        head = b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
        handler.send_response(200)
        handler.send_header("content-type", "application/fhir+json")
        if self.declare_length:
            handler.send_header("content-length", str(size))
        handler.end_headers()
        handler.wfile.write(head)
        written = len(head)
        chunk = b" " * 65_536
        while written < size:
            piece = chunk[: size - written]
            handler.wfile.write(piece)
            written += len(piece)

    def _token(self, handler: _Handler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        with self.lock:
            self.token_requests.append(form)
        try:
            claims = self._verify_assertion(form)
        except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
            handler.send_json(401, {"error": "invalid_client", "error_description": str(exc)})
            return
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.assertions.append(claims)
            self.tokens.add(token)
        handler.send_json(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": form.get("scope", ""),
            },
        )

    def _verify_assertion(self, form: dict[str, str]) -> dict[str, Any]:
        if self.smart_client_id is None or self.jwks is None:
            raise ValueError("this server issues no tokens")
        if form.get("grant_type") != "client_credentials":
            raise ValueError("grant_type must be client_credentials")
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            raise ValueError("wrong client_assertion_type")
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        if header.get("typ") != "JWT":
            raise ValueError("typ must be JWT")
        if header.get("alg") not in self.algorithms:
            raise ValueError(f"this server accepts only {', '.join(self.algorithms)} assertions")
        jwk = next((k for k in self.jwks()["keys"] if k["kid"] == header.get("kid")), None)
        if jwk is None:
            raise ValueError("unknown kid")
        if jwk.get("alg") not in (None, header["alg"]):
            raise ValueError("the key is published for another algorithm")
        claims = jwt.decode(
            assertion,
            jwt.PyJWK.from_dict(jwk, algorithm=header["alg"]).key,
            algorithms=list(self.algorithms),
            audience=self.token_url,
            issuer=self.smart_client_id,
            options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]},
        )
        if claims["sub"] != self.smart_client_id:
            raise ValueError("sub must be the client id")
        if claims["exp"] - claims["iat"] > 300:
            raise ValueError("the assertion lives longer than five minutes")
        with self.lock:
            if claims["jti"] in self._jtis:
                raise ValueError("jti reused")
            self._jtis.add(claims["jti"])
        return claims
