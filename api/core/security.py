"""Our signing keys (with rotation) and the JWTs we sign and verify with them.

Keys live in a folder, one JSON file per key: ``{"kid", "alg", "created_at", "private_key_pem",
"retired_at"}`` (a file without ``alg`` is an Ed25519 key). There is one key set per algorithm:

- ``EdDSA`` (Ed25519) signs our own tokens (access tokens, check-in tokens...);
- ``ES384`` (P-384) and ``RS384`` (RSA 2048) sign client assertions towards facilities' token
  endpoints (SMART Backend Services asks clients to support both; a facility chooses which,
  ``EdDSA`` being a third option).

For each algorithm the newest key that is not retired signs; every key that has not expired
verifies and is published in our JWKS, so a rotation never breaks a token already issued. A
retired key expires ``verify_keep`` after it was retired. In production the folder must hold them
(``healthbook keys rotate`` makes one of each). In embedded mode the EdDSA and ES384 keys are
generated on start (also into an older folder that lacks them) and the RSA key, slow to make, the
first time something signs with RS384; every process re-reads the folder when it changes, so the
JWKS any of them serves holds a key as soon as another process made it.
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
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

logger = logging.getLogger("healthbook.keys")

_ALGORITHM = "EdDSA"
"""The algorithm of our own tokens."""
ALGORITHMS = ("EdDSA", "ES384", "RS384")
"""Every algorithm we hold a key set for (see the module docstring)."""
_MADE_AT_START = ("EdDSA", "ES384")
_RSA_BITS = 2048
_RELOAD_MIN_INTERVAL_S = 5.0

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _new_private_key(alg: str) -> PrivateKey:
    if alg == "EdDSA":
        return Ed25519PrivateKey.generate()
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "RS384":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise SigningKeyError(f"no key type for algorithm {alg!r}")


def _check_key_type(key: object, alg: str) -> TypeGuard[PrivateKey]:
    if alg == "EdDSA":
        return isinstance(key, Ed25519PrivateKey)
    if alg == "ES384":
        return isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    if alg == "RS384":
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    return False


def _public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    """The public half as a JWK; the key's type names its algorithm (see ``_check_key_type``)."""
    public = private_key.public_key()
    if isinstance(public, Ed25519PublicKey):
        return json.loads(OKPAlgorithm.to_jwk(public))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return json.loads(ECAlgorithm.to_jwk(public))
    return json.loads(RSAAlgorithm.to_jwk(public))


class SigningKeyError(RuntimeError):
    """No usable signing key."""


class SigningKey:
    __slots__ = (
        "alg",
        "created_at",
        "kid",
        "private_key",
        "public_jwk",
        "public_key",
        "retired_at",
    )

    def __init__(
        self,
        kid: str,
        private_key: PrivateKey,
        created_at: dt.datetime,
        retired_at: dt.datetime | None,
        alg: str = _ALGORITHM,
    ) -> None:
        self.kid = kid
        self.alg = alg
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.created_at = created_at
        self.retired_at = retired_at
        jwk = _public_jwk(private_key)
        jwk.update({"kid": kid, "use": "sig", "alg": alg})
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


def generate_key_file(
    directory: Path, now: dt.datetime | None = None, *, alg: str = _ALGORITHM
) -> str:
    """Create a new ``alg`` key file in ``directory``; it becomes that algorithm's signing key.
    Returns its kid."""
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    suffix = "" if alg == _ALGORITHM else f"-{alg.lower()}"
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}{suffix}"
    private_key = _new_private_key(alg)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    record = {
        "kid": kid,
        "alg": alg,
        "created_at": now.isoformat(),
        "private_key_pem": pem,
        "retired_at": None,
    }
    _write_private(directory / f"{kid}.json", json.dumps(record, indent=2))
    return kid


def rotate(directory: Path, verify_keep: dt.timedelta, now: dt.datetime | None = None) -> str:
    """Make a new signing key of every algorithm, retire the current ones, delete keys past
    their verify window. Returns the kid of the new key of our own tokens (EdDSA)."""
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
    kids = {alg: generate_key_file(directory, now, alg=alg) for alg in ALGORITHMS}
    return kids[_ALGORITHM]


def _active_algorithms(directory: Path) -> set[str]:
    found: set[str] = set()
    for path in directory.glob("*.json"):
        record = json.loads(path.read_text())
        if record.get("retired_at") is None:
            found.add(record.get("alg", _ALGORITHM))
    return found


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
        self._signers: dict[str, SigningKey] = {}
        self._loaded_mtime: float | None = None
        self._last_reload = 0.0
        self._generate = generate_if_missing
        if generate_if_missing:
            self._generate_missing(_MADE_AT_START)
        self.reload(force=True)

    def _generate_missing(self, algorithms: tuple[str, ...]) -> None:
        have = _active_algorithms(self.directory) if self.directory.is_dir() else set()
        for alg in algorithms:
            if alg not in have:
                kid = generate_key_file(self.directory, alg=alg)
                logger.warning(
                    "generated a signing key for embedded mode", extra={"kid": kid, "alg": alg}
                )

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
                alg = record.get("alg", _ALGORITHM)
                private_key = serialization.load_pem_private_key(
                    record["private_key_pem"].encode(), password=None
                )
                if alg not in ALGORITHMS or not _check_key_type(private_key, alg):
                    raise SigningKeyError(f"{path.name} is not a usable {alg} key")
                retired = _parse_time(record.get("retired_at"))
                if retired is not None and retired + self.verify_keep < now:
                    continue
                key = SigningKey(
                    record["kid"],
                    private_key,
                    _parse_time(record["created_at"]) or now,
                    retired,
                    alg,
                )
                keys[key.kid] = key
            signers: dict[str, SigningKey] = {}
            for key in keys.values():
                if key.retired_at is None and (
                    key.alg not in signers or key.created_at > signers[key.alg].created_at
                ):
                    signers[key.alg] = key
            if _ALGORITHM not in signers:
                raise SigningKeyError(
                    f"no active signing key in {self.directory}: run `healthbook keys rotate`"
                )
            self._keys = keys
            self._signers = signers
            self._loaded_mtime = mtime
            self._last_reload = time.monotonic()

    @property
    def signer(self) -> SigningKey:
        """The key that signs our own tokens (EdDSA)."""
        return self._signers[_ALGORITHM]

    def signer_for(self, alg: str) -> SigningKey:
        """The key that signs with ``alg`` (made now in embedded mode when there is none yet);
        SigningKeyError when the folder holds none."""
        self.maybe_reload()
        key = self._signers.get(alg)
        if key is None and alg in ALGORITHMS:
            self.reload()
            key = self._signers.get(alg)
            if key is None and self._generate:
                with self._lock:
                    self._generate_missing((alg,))
                self.reload(force=True)
                key = self._signers.get(alg)
        if key is None:
            raise SigningKeyError(
                f"no active {alg} signing key in {self.directory}: run `healthbook keys rotate`"
            )
        return key

    def is_signer(self, kid: str) -> bool:
        return any(key.kid == kid for key in self._signers.values())

    def key_for(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_reload > _RELOAD_MIN_INTERVAL_S:
            self.reload()
            self._last_reload = time.monotonic()
            key = self._keys.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        """Every key that verifies, public halves; the folder is re-read when it changed (one
        ``stat``), so a key another process just made is published at once."""
        self.reload()
        return {"keys": [key.public_jwk for key in self._keys.values()]}

    def maybe_reload(self) -> None:
        if time.monotonic() - self._last_reload > _RELOAD_MIN_INTERVAL_S:
            self.reload()
            self._last_reload = time.monotonic()

    def sign(self, claims: dict[str, Any], *, typ: str, alg: str = _ALGORITHM) -> str:
        """A JWT signed with ``alg``'s current key (EdDSA: our own tokens)."""
        signer = self.signer if alg == _ALGORITHM else self.signer_for(alg)
        return jwt.encode(
            claims,
            signer.private_key,
            algorithm=alg,
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
        if key is None or key.alg != _ALGORITHM:
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
