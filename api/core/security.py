"""Our signing keys (Ed25519, with rotation) and the JWTs we sign and verify with them.

Keys live in a folder, one JSON file per key: ``{"kid", "created_at", "private_key_pem",
"retired_at"}``. The newest key that is not retired signs; every key that has not expired verifies,
so a rotation never breaks a token already issued. A retired key expires ``verify_keep`` after it
was retired. In embedded mode the first key is generated on start; in production the folder must
hold one (``healthbook keys rotate`` makes it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

logger = logging.getLogger("healthbook.keys")

_ALGORITHM = "EdDSA"
_RELOAD_MIN_INTERVAL_S = 5.0


class SigningKeyError(RuntimeError):
    """No usable signing key."""


class SigningKey:
    __slots__ = ("created_at", "kid", "private_key", "public_jwk", "public_key", "retired_at")

    def __init__(
        self,
        kid: str,
        private_key: Ed25519PrivateKey,
        created_at: dt.datetime,
        retired_at: dt.datetime | None,
    ) -> None:
        self.kid = kid
        self.private_key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        self.created_at = created_at
        self.retired_at = retired_at
        jwk = json.loads(OKPAlgorithm.to_jwk(self.public_key))
        jwk.update({"kid": kid, "use": "sig", "alg": _ALGORITHM})
        self.public_jwk: dict[str, Any] = jwk


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _write_private(path: Path, content: str) -> None:
    """Write a secret file readable by its owner only, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(tmp, path)


def generate_key_file(directory: Path, now: dt.datetime | None = None) -> str:
    """Create a new key file in ``directory``; it becomes the signing key. Returns its kid."""
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    record = {"kid": kid, "created_at": now.isoformat(), "private_key_pem": pem, "retired_at": None}
    _write_private(directory / f"{kid}.json", json.dumps(record, indent=2))
    return kid


def rotate(directory: Path, verify_keep: dt.timedelta, now: dt.datetime | None = None) -> str:
    """Make a new signing key, retire the current ones, delete keys past their verify window."""
    now = now or dt.datetime.now(dt.UTC)
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text())
        retired = _parse_time(record.get("retired_at"))
        if retired is None:
            record["retired_at"] = now.isoformat()
            _write_private(path, json.dumps(record, indent=2))
        elif retired + verify_keep < now:
            path.unlink()
            logger.info("deleted expired signing key", extra={"kid": record["kid"]})
    return generate_key_file(directory, now)


class SigningKeys:
    """The keys of one process, reloaded from the folder when it changes (another process may
    have rotated them) or when a token names a key we do not know yet."""

    def __init__(
        self,
        directory: Path,
        *,
        verify_keep: dt.timedelta,
        generate_if_missing: bool,
    ) -> None:
        self.directory = directory
        self.verify_keep = verify_keep
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._signer: SigningKey | None = None
        self._loaded_mtime: float | None = None
        self._last_reload = 0.0
        if generate_if_missing and not any(directory.glob("*.json")):
            kid = generate_key_file(directory)
            logger.warning("generated a signing key for embedded mode", extra={"kid": kid})
        self.reload(force=True)

    def reload(self, *, force: bool = False) -> None:
        with self._lock:
            try:
                mtime = self.directory.stat().st_mtime
            except FileNotFoundError as exc:
                raise SigningKeyError(
                    f"signing key folder {self.directory} does not exist"
                ) from exc
            if not force and mtime == self._loaded_mtime:
                return
            now = dt.datetime.now(dt.UTC)
            keys: dict[str, SigningKey] = {}
            for path in self.directory.glob("*.json"):
                record = json.loads(path.read_text())
                private_key = serialization.load_pem_private_key(
                    record["private_key_pem"].encode(), password=None
                )
                if not isinstance(private_key, Ed25519PrivateKey):
                    raise SigningKeyError(f"{path.name} is not an Ed25519 key")
                retired = _parse_time(record.get("retired_at"))
                if retired is not None and retired + self.verify_keep < now:
                    continue
                key = SigningKey(
                    record["kid"], private_key, _parse_time(record["created_at"]) or now, retired
                )
                keys[key.kid] = key
            active = [key for key in keys.values() if key.retired_at is None]
            if not active:
                raise SigningKeyError(
                    f"no active signing key in {self.directory}: run `healthbook keys rotate`"
                )
            self._keys = keys
            self._signer = max(active, key=lambda key: key.created_at)
            self._loaded_mtime = mtime
            self._last_reload = time.monotonic()

    @property
    def signer(self) -> SigningKey:
        assert self._signer is not None
        return self._signer

    def key_for(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_reload > _RELOAD_MIN_INTERVAL_S:
            self.reload()
            self._last_reload = time.monotonic()
            key = self._keys.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        self.maybe_reload()
        return {"keys": [key.public_jwk for key in self._keys.values()]}

    def maybe_reload(self) -> None:
        if time.monotonic() - self._last_reload > _RELOAD_MIN_INTERVAL_S:
            self.reload()
            self._last_reload = time.monotonic()

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        signer = self.signer
        return jwt.encode(
            claims,
            signer.private_key,
            algorithm=_ALGORITHM,
            headers={"kid": signer.kid, "typ": typ},
        )

    def verify(
        self,
        token: str,
        *,
        typ: str,
        issuer: str,
        audience: str | None,
        leeway: float,
        required: tuple[str, ...] = ("exp", "iat", "iss", "sub", "jti"),
    ) -> dict[str, Any]:
        """Verify one of our own tokens; raises ``jwt.InvalidTokenError`` on any defect."""
        header = jwt.get_unverified_header(token)
        if header.get("alg") != _ALGORITHM:
            raise jwt.InvalidAlgorithmError("not one of our tokens")
        if header.get("typ") != typ:
            raise jwt.InvalidTokenError("wrong token type")
        if "crit" in header:
            raise jwt.InvalidTokenError("unsupported critical header")
        kid = header.get("kid")
        if not isinstance(kid, str) or len(kid) > 64:
            raise jwt.InvalidTokenError("bad key id")
        key = self.key_for(kid)
        if key is None:
            raise jwt.InvalidTokenError("unknown key id")
        return jwt.decode(
            token,
            key.public_key,
            algorithms=[_ALGORITHM],
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": list(required), "verify_aud": audience is not None},
        )


def load_or_create_secret(path: Path, *, create: bool) -> str:
    """A random secret kept in a file (embedded mode's identifier hash key)."""
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise SigningKeyError(f"secret file {path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    _write_private(path, secret)
    logger.warning("generated an identifier hash key for embedded mode", extra={"path": str(path)})
    return secret
