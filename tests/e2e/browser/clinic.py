"""A facility set up on a served ``healthbook serve``, the way operators and hospitals do it:
an operator client made by the CLI, facility ``01001`` with department ``NOI``, a hospital client,
a kiosk client (``healthbook clients create --kind kiosk``), citizens who log in through a test
identity provider, book a slot starting soon and show their check-in code, or walk in."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from api.checkin.tokens import WalkInCodes
from tests.support.idp import TestIdentityProvider
from tests.support.server import HEALTHBOOK

FACILITY = "01001"
FACILITY_NAME = "Bệnh viện Đa khoa Tỉnh"
DEPARTMENT = "NOI"
DEPARTMENT_NAME = "Khoa Nội"
ROOM = "P.101"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"


@dataclass
class ClientKey:
    """A client's id and private key; mints a fresh access token on each call (they are short)."""

    client_id: str
    private: Ed25519PrivateKey
    kid: str

    def token(self, http: httpx.Client, audience: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        assertion = jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})
        answer = http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
            },
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def cli_client(env: dict[str, str], *args: str) -> str:
    """``healthbook clients create ARGS`` against the served database: what it prints."""
    result = subprocess.run(
        [HEALTHBOOK, "clients", "create", *args],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode()


def key_from_cli(output: str) -> ClientKey:
    lines = output.splitlines()
    client_id = next(line.split(": ", 1)[1] for line in lines if line.startswith("client_id: "))
    private_jwk = json.loads(lines[-1])
    private = OKPAlgorithm.from_jwk(json.dumps(private_jwk))
    assert isinstance(private, Ed25519PrivateKey)
    return ClientKey(client_id, private, private_jwk["kid"])


@dataclass
class ServedClinic:
    base_url: str
    env: dict[str, str]
    """The server's environment (the CLI runs with it, on the same database)."""
    identifier_hash_key: str
    idp: TestIdentityProvider
    http: httpx.Client = field(init=False)
    admin: ClientKey = field(init=False)
    hospital: ClientKey = field(init=False)
    _slots: int = 0

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    @property
    def audience(self) -> str:
        return f"{self.env['PUBLIC_BASE_URL'].rstrip('/')}/auth/token"

    def _as(self, client: ClientKey) -> dict[str, str]:
        return {"Authorization": f"Bearer {client.token(self.http, self.audience)}"}

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
        return response.json()

    def set_up(self) -> None:
        self.admin = key_from_cli(cli_client(self.env, "--kind", "admin", "--name", "e2e operator"))
        admin = self._as(self.admin)
        self._ok(
            self.http.put(
                f"/admin/facilities/{FACILITY}",
                json={"name": FACILITY_NAME, "province": "Hà Nội"},
                headers=admin,
            )
        )
        self._ok(
            self.http.put(
                f"/admin/facilities/{FACILITY}/departments/{DEPARTMENT}",
                json={"name": DEPARTMENT_NAME, "room": ROOM},
                headers=admin,
            )
        )
        private = Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": "e2e-his", "alg": "EdDSA", "use": "sig"})
        created = self._ok(
            self.http.post(
                "/admin/clients",
                json={
                    "kind": "hospital",
                    "name": "e2e HIS",
                    "facility_id": FACILITY,
                    "jwks": {"keys": [jwk]},
                },
                headers=admin,
            )
        )
        self.hospital = ClientKey(created["id"], private, "e2e-his")
        self._ok(
            self.http.put(
                "/admin/identity-providers/test-idp", json=self.idp.provider_body(), headers=admin
            )
        )

    def kiosk_cli_output(self, name: str = "Ki-ốt sảnh A") -> str:
        """What staff get from ``healthbook clients create --kind kiosk``."""
        return cli_client(self.env, "--kind", "kiosk", "--name", name, "--facility", FACILITY)

    def kiosk_with_key(self, public_jwk: dict[str, Any], name: str = "Ki-ốt ES256") -> str:
        """A kiosk client registered over the admin API with a key of the operator's own."""
        created = self._ok(
            self.http.post(
                "/admin/clients",
                json={
                    "kind": "kiosk",
                    "name": name,
                    "facility_id": FACILITY,
                    "jwks": {"keys": [public_jwk]},
                },
                headers=self._as(self.admin),
            )
        )
        return created["id"]

    def citizen(self, national_id: str) -> dict[str, str]:
        answer = self._ok(
            self.http.post(
                "/auth/token",
                data={
                    "grant_type": TOKEN_EXCHANGE,
                    "subject_token": self.idp.id_token(national_id),
                    "subject_token_type": ID_TOKEN_TYPE,
                },
            )
        )
        return {"Authorization": f"Bearer {answer['access_token']}"}

    def check_in_code(self, national_id: str, *, minutes_ahead: int = 20) -> str:
        """The citizen books a slot starting soon; answers the code their app shows as a QR."""
        self._slots += 1
        start = time.time() + minutes_ahead * 60
        iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start))
        end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + 900))
        slot = {
            "id": f"E2E-{uuid.uuid4().hex[:8]}",
            "department": DEPARTMENT,
            "start": iso,
            "end": end,
            "capacity": 1,
        }
        published = self._ok(
            self.http.put(
                "/hospital/slots", json={"slots": [slot]}, headers=self._as(self.hospital)
            )
        )
        citizen = self.citizen(national_id)
        booked = self._ok(
            self.http.post(
                "/citizens/me/appointments",
                json={"slot_id": published["slots"][0]["slot_id"]},
                headers={**citizen, "Idempotency-Key": str(uuid.uuid4())},
            )
        )
        code = self._ok(
            self.http.get(f"/citizens/me/appointments/{booked['id']}/check-in", headers=citizen)
        )
        return code["token"]

    def walk_in(self, national_id: str) -> dict[str, Any]:
        code = WalkInCodes(self.identifier_hash_key).code(FACILITY, DEPARTMENT)
        return self._ok(
            self.http.post(
                "/citizens/me/walk-ins", json={"code": code}, headers=self.citizen(national_id)
            )
        )

    def call_next(self) -> dict[str, Any]:
        return self._ok(
            self.http.post(
                f"/hospital/queues/{DEPARTMENT}/call-next", json={}, headers=self._as(self.hospital)
            )
        )

    def close(self) -> None:
        self.http.close()
