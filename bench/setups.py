"""Setup steps shared by scenarios: callers with real credentials, made through the real API.

``citizen_token`` registers an operator client with ``healthbook clients create`` (same database
as the service), serves a throw-away identity provider's JWKS on 127.0.0.1, registers it over the
admin API, and exchanges an ID token for a citizen access token, exactly as a phone would.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from bench.scenarios import SEQ, Prepared, SetupContext

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _healthbook(ctx: SetupContext) -> str:
    local = PROJECT_ROOT / ".venv" / "bin" / "healthbook"
    return str(local) if local.exists() else "healthbook"


def admin_token(ctx: SetupContext) -> str:
    """An operator client made by the CLI, and its access token from the token endpoint."""
    result = subprocess.run(
        [_healthbook(ctx), "clients", "create", "--kind", "admin", "--name", "bench operator"],
        env=dict(ctx.env),
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = result.stdout.decode().splitlines()
    client_id = next(line.split(": ", 1)[1] for line in lines if line.startswith("client_id: "))
    private_jwk = json.loads(lines[-1])
    key = OKPAlgorithm.from_jwk(json.dumps(private_jwk))
    return _client_token(ctx, client_id, key, private_jwk["kid"])  # type: ignore[arg-type]


class _JwksServer:
    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def citizen_token(ctx: SetupContext, national_id: str = "001090000555") -> str:
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "bench-1", "alg": "EdDSA", "use": "sig"})
    jwks = _JwksServer({"keys": [jwk]})
    issuer = f"{jwks.url}/bench-idp"
    token = admin_token(ctx)
    ctx.request_json(
        "PUT",
        "/admin/identity-providers/bench-idp",
        json={
            "id": "bench-idp",
            "issuer": issuer,
            "jwks_uri": f"{jwks.url}/jwks.json",
            "audiences": ["bench-app"],
            "algorithms": ["EdDSA"],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    now = int(time.time())
    id_token = jwt.encode(
        {
            "iss": issuer,
            "aud": "bench-app",
            "sub": f"bench-{national_id}",
            "iat": now,
            "exp": now + 300,
            "national_id": national_id,
            "name": "Bench Citizen",
            "birthdate": "1990-01-01",
        },
        private,
        algorithm="EdDSA",
        headers={"kid": "bench-1"},
    )
    form = urlencode(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": id_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        }
    ).encode()
    answer = ctx.request_json(
        "POST",
        "/auth/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return answer["access_token"]


def citizen_headers(ctx: SetupContext) -> Prepared:
    return Prepared(headers={"Authorization": f"Bearer {citizen_token(ctx)}"})


def _client_token(
    ctx: SetupContext, client_id: str, private_key: Ed25519PrivateKey, kid: str
) -> str:
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": f"{ctx.env.get('PUBLIC_BASE_URL', ctx.base_url).rstrip('/')}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        },
        private_key,
        algorithm="EdDSA",
        headers={"kid": kid},
    )
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": _JWT_BEARER,
            "client_assertion": assertion,
        }
    ).encode()
    answer = ctx.request_json(
        "POST",
        "/auth/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return answer["access_token"]


def hospital_token(ctx: SetupContext, facility_id: str = "01001") -> str:
    """A facility and a hospital client bound to it, registered over the admin API."""
    admin = {"Authorization": f"Bearer {admin_token(ctx)}"}
    ctx.request_json(
        "PUT",
        f"/admin/facilities/{facility_id}",
        json={"name": "Bench Hospital", "province": "Hà Nội"},
        headers=admin,
    )
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "bench-hospital", "alg": "EdDSA", "use": "sig"})
    created = ctx.request_json(
        "POST",
        "/admin/clients",
        json={
            "kind": "hospital",
            "name": "bench HIS",
            "facility_id": facility_id,
            "jwks": {"keys": [jwk]},
        },
        headers=admin,
    )
    return _client_token(ctx, created["id"], private, "bench-hospital")


def _sample(name: str) -> dict[str, Any]:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "samples" / "fhir" / name
        if candidate.exists():
            return json.loads(candidate.read_bytes())
    raise FileNotFoundError(f"shared/samples/fhir/{name} not found above the repository")


def publish_body(name: str) -> bytes:
    """A sample bundle whose document and patient identifiers carry the placeholder SEQ, which
    the scenario's Lua replaces per request so that every publish stores a new document."""
    bundle = _sample(name)
    bundle["identifier"] = {"system": "urn:healthbook:bench", "value": f"{name[:20]}-{SEQ}"}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            for identifier in resource.get("identifier", []):
                identifier["value"] = f"{identifier['value']}{SEQ}".replace("-", "")
    return json.dumps(bundle).encode()


def hospital_publish(name: str) -> Any:
    def setup(ctx: SetupContext) -> Prepared:
        return Prepared(
            headers={
                "Authorization": f"Bearer {hospital_token(ctx)}",
                "Content-Type": "application/fhir+json",
            },
            body=publish_body(name),
        )

    return setup


BOOK_OWNER = "001090007777"


def book_owner_headers(ctx: SetupContext) -> Prepared:
    """A citizen whose book holds a whole 1 MB Synthea history, published by a hospital."""
    bundle = _sample("synthea-Leonor_Trujillo_5542148c-67d6-4d91-be71-29973234a33b.json")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["identifier"].append(
                {"system": "https://fhir.moh.gov.vn/sid/cccd", "value": BOOK_OWNER}
            )
    hospital = hospital_token(ctx, facility_id="01002")
    ctx.request_json(
        "POST",
        "/hospital/summaries",
        body=json.dumps(bundle).encode(),
        headers={"Authorization": f"Bearer {hospital}", "Content-Type": "application/fhir+json"},
    )
    return Prepared(
        headers={"Authorization": f"Bearer {citizen_token(ctx, national_id=BOOK_OWNER)}"}
    )
