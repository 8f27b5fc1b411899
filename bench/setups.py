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

from bench.scenarios import Prepared, SetupContext

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
        key,  # type: ignore[arg-type]
        algorithm="EdDSA",
        headers={"kid": private_jwk["kid"]},
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
