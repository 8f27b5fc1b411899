"""The issuer's keys: EC P-256 (ES256), ``kid`` the RFC 7638 thumbprint.

HEALTH_CARD_SIGNING_KEYS holds the private keys, comma-separated, each a PKCS#8 key as PEM
(newlines may be written ``\\n``) or as the base64 of its DER (``healthbook shc new-key`` prints
one). The first signs; the others only verify and stay in the JWKS (a rotation: put the new key
first, keep the old one until every card it signed may be verified elsewhere or has been
revoked). Unset outside production: one key generated into ``DATA_DIR/health-card-keys``
(made once, shared by the processes on that folder). Unset in production: no key, so no card is
issued and ``healthbook check-config`` warns.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.core.settings import parse_health_card_key
from api.health_cards.cards import is_p256, public_jwk

logger = logging.getLogger("healthbook.health_cards")
KEY_FILE = "health-card-keys"


class HealthCardKeyError(ValueError):
    """A configured key that is not a P-256 private key."""


def new_key_text() -> str:
    """A new P-256 private key as one line: base64 of its PKCS#8 DER."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode("ascii")


def load_key(text: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = parse_health_card_key(text)
    except ValueError as exc:
        raise HealthCardKeyError(str(exc)) from exc
    assert is_p256(key)
    return key


def check_key_texts(values: Sequence[str]) -> None:
    """Raises :class:`HealthCardKeyError` naming the first bad key (its position)."""
    for position, value in enumerate(values, start=1):
        try:
            load_key(value)
        except HealthCardKeyError as exc:
            raise HealthCardKeyError(f"key {position}: {exc}") from exc


def embedded_key_texts(directory: Path) -> list[str]:
    """The generated key of embedded mode, made on first use with exclusive-create semantics (a
    link of a finished file), so processes starting at once agree on one key."""
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{KEY_FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_text() + "\n")
        try:
            os.link(tmp, path)
            logger.warning(
                "HEALTH_CARD_SIGNING_KEYS is not set: generated a health card key into %s", path
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return [line for line in path.read_text().split() if line]


class IssuerKey:
    __slots__ = ("jwk", "kid", "private")

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        self.private = private
        self.jwk = public_jwk(private.public_key())
        self.kid: str = self.jwk["kid"]


class HealthCardKeys:
    """The issuer keys in order: the first signs, every one verifies and is published."""

    def __init__(self, texts: Sequence[str]) -> None:
        keys: list[IssuerKey] = []
        for text in texts:
            key = IssuerKey(load_key(text))
            if all(k.kid != key.kid for k in keys):
                keys.append(key)
        self.keys: tuple[IssuerKey, ...] = tuple(keys)
        self._by_kid = {key.kid: key for key in keys}

    @property
    def signer(self) -> IssuerKey | None:
        return self.keys[0] if self.keys else None

    def get(self, kid: str) -> IssuerKey | None:
        return self._by_kid.get(kid)

    @property
    def kids(self) -> list[str]:
        return [key.kid for key in self.keys]

    @classmethod
    def configured(
        cls, texts: Sequence[str], *, data_dir: Path, production: bool
    ) -> HealthCardKeys:
        """The configured keys; outside production the generated one when none are set."""
        if not texts and not production:
            texts = embedded_key_texts(data_dir)
        return cls(texts)
