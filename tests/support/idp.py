"""A test identity provider serving its JWKS over real HTTP on 127.0.0.1, and token minting."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk = json.loads(ECAlgorithm.to_jwk(public))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(public))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


_RSA_POOL: list[rsa.RSAPrivateKey] = []
_RSA_POOL_SIZE = 4


def _rsa_key() -> rsa.RSAPrivateKey:
    """RSA keys take ~50 ms to make: tests draw from a small pool (each key gets its own kid)."""
    if len(_RSA_POOL) < _RSA_POOL_SIZE:
        _RSA_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _RSA_POOL[-1]
    key = _RSA_POOL.pop(0)
    _RSA_POOL.append(key)
    return key


class SigningKey:
    def __init__(self, alg: str = "RS256", kid: str | None = None) -> None:
        self.alg = alg
        self.kid = kid or f"k-{secrets.token_hex(4)}"
        if alg.startswith(("RS", "PS")):
            self.private = _rsa_key()
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
        self.jwk = public_jwk(self.private, self.kid, alg)

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        merged = {"kid": self.kid, **headers}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=merged)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.requests.append(self.path)
        if self.path == "/jwks.json":
            if owner.delay:
                time.sleep(owner.delay)
            if owner.failing:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps({"keys": [key.jwk for key in owner.published]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    owner: TestIdentityProvider

    def handle_error(self, *_args: Any) -> None:
        return  # a caller that gave up on a slow answer closed the connection


class TestIdentityProvider:
    """Serves ``/jwks.json`` with the keys in ``published``; records every request path."""

    __test__ = False

    def __init__(self, alg: str = "RS256") -> None:
        self.key = SigningKey(alg)
        self.published: list[SigningKey] = [self.key]
        self.requests: list[str] = []
        self.failing = False
        self.delay = 0.0
        """Seconds the JWKS answer waits (a slow provider; the cold-start tests)."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/idp"
        self.jwks_uri = f"http://127.0.0.1:{self.port}/jwks.json"
        self.audience = "healthbook-app"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> TestIdentityProvider:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for path in self.requests if path == "/jwks.json")

    def claims(self, national_id: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"sub-{national_id}",
            "iat": now,
            "exp": now + 300,
            "national_id": national_id,
            "name": "Nguyễn Văn A",
            "birthdate": "1990-01-02",
            "gender": "male",
            "acr": "2",
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def id_token(self, national_id: str, *, key: SigningKey | None = None, **overrides: Any) -> str:
        return (key or self.key).sign(self.claims(national_id, **overrides))

    def provider_body(self, provider_id: str = "test-idp", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": provider_id,
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "audiences": [self.audience],
            "algorithms": ["RS256", "ES256", "EdDSA"],
            "national_id_claim": "national_id",
            "assurance_claim": "acr",
            "min_assurance": 2,
            "dependents_claim": "dependents",
        }
        body.update(overrides)
        return body
