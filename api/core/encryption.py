"""Health documents encrypted at rest: envelope encryption with AES-256-GCM.

Every stored value (a published document, each entry's FHIR resource) gets a data key of its own,
random, used once. The value is encrypted with it; the data key is encrypted ("wrapped") with a
key-encryption key from ``DOCUMENT_ENCRYPTION_KEYS`` and stored beside the ciphertext, with that
key's id. Rotating keys re-wraps the small data keys (``healthbook keys rewrap``); the documents
themselves are never re-encrypted.

Layout of a stored value (bytes)::

    b"HBE1" | key id length (1 byte) | key id (ASCII) | wrap nonce (12) | wrapped data key (48)
            | nonce (12) | ciphertext and tag

The data key is wrapped with the key id and the column's purpose as associated data, and the
content is encrypted with the column's purpose as associated data, so a value copied into another
column does not decrypt. A value that does not start with the marker is plaintext written before
encryption existed: it is read as it is until ``healthbook keys rewrap`` encrypts it.

:class:`EncryptedBlob` is the SQLAlchemy column type doing this transparently. It finds the keys on
the engine's dialect, where :func:`attach_document_keys` puts them (``api.core.db.create_engine``
does for every engine), so every process that opens the database through the project's own engine
reads and writes encrypted documents, and none writes plaintext.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, TypeDecorator

from api.core.settings import Settings, parse_document_keys

logger = logging.getLogger("healthbook.encryption")

MAGIC = b"HBE1"
_NONCE = 12
_WRAPPED = 32 + 16
_ATTRIBUTE = "healthbook_document_keys"
KEY_FILE = "document-keys"


class DocumentKeyError(RuntimeError):
    """A stored value cannot be decrypted (unknown key id, altered bytes) or no keys are set."""


class DocumentKeys:
    """The key-encryption keys: the first wraps new data keys, every one unwraps."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise DocumentKeyError("no document encryption key")
        self.primary_id = keys[0][0]
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}
        self._headers = {
            key_id: MAGIC + bytes([len(key_id)]) + key_id.encode() for key_id, _ in keys
        }

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def seal(self, plaintext: bytes, purpose: bytes) -> bytes:
        """Encrypt ``plaintext`` under a fresh data key wrapped by the primary key."""
        data_key = AESGCM.generate_key(bit_length=256)
        header = self._headers[self.primary_id]
        wrap_nonce = os.urandom(_NONCE)
        wrapped = self._ciphers[self.primary_id].encrypt(wrap_nonce, data_key, header + purpose)
        nonce = os.urandom(_NONCE)
        body = AESGCM(data_key).encrypt(nonce, plaintext, MAGIC + purpose)
        return b"".join((header, wrap_nonce, wrapped, nonce, body))

    def open(self, stored: bytes, purpose: bytes) -> bytes:
        """The plaintext of a stored value (plaintext from before encryption is returned as is)."""
        if not stored.startswith(MAGIC):
            return stored
        key_id, data_key, offset = self._unwrap(stored, purpose)
        nonce = stored[offset : offset + _NONCE]
        try:
            return AESGCM(data_key).decrypt(nonce, stored[offset + _NONCE :], MAGIC + purpose)
        except InvalidTag as exc:
            raise DocumentKeyError(f"a value under key {key_id!r} was altered") from exc

    def rewrap(self, stored: bytes, purpose: bytes) -> bytes | None:
        """The value with its data key wrapped by the primary key (plaintext gets encrypted);
        None when it already is. The encrypted content is kept byte for byte."""
        if not stored.startswith(MAGIC):
            return self.seal(stored, purpose)
        key_id = key_id_of(stored)
        if key_id == self.primary_id:
            return None
        _, data_key, offset = self._unwrap(stored, purpose)
        header = self._headers[self.primary_id]
        wrap_nonce = os.urandom(_NONCE)
        wrapped = self._ciphers[self.primary_id].encrypt(wrap_nonce, data_key, header + purpose)
        return b"".join((header, wrap_nonce, wrapped, stored[offset:]))

    def _unwrap(self, stored: bytes, purpose: bytes) -> tuple[str, bytes, int]:
        length = stored[len(MAGIC)] if len(stored) > len(MAGIC) else 0
        start = len(MAGIC) + 1
        key_id = stored[start : start + length].decode("ascii", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DocumentKeyError(
                f"a stored document is encrypted under key {key_id!r}, which "
                "DOCUMENT_ENCRYPTION_KEYS does not hold"
            )
        offset = start + length
        wrap_nonce = stored[offset : offset + _NONCE]
        wrapped = stored[offset + _NONCE : offset + _NONCE + _WRAPPED]
        try:
            data_key = cipher.decrypt(wrap_nonce, wrapped, stored[: start + length] + purpose)
        except InvalidTag as exc:
            raise DocumentKeyError(f"a data key wrapped by {key_id!r} was altered") from exc
        return key_id, data_key, offset + _NONCE + _WRAPPED


def key_id_of(stored: bytes) -> str | None:
    """The id of the key a stored value's data key is wrapped with; None for plaintext."""
    if not stored.startswith(MAGIC) or len(stored) <= len(MAGIC):
        return None
    length = stored[len(MAGIC)]
    start = len(MAGIC) + 1
    return stored[start : start + length].decode("ascii", "replace")


def new_key_line(now_tag: str | None = None) -> str:
    """A new key-encryption key as ``ID:BASE64`` (what DOCUMENT_ENCRYPTION_KEYS holds)."""
    key_id = f"{now_tag or 'k'}-{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def _embedded_key_file(directory: Path) -> list[str]:
    """The generated key of embedded mode in ``DATA_DIR/document-keys``, made on first use.

    Created with ``O_EXCL`` semantics (a link of a finished file), so two processes starting at
    once agree on one key.
    """
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{KEY_FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_line("embedded") + "\n")
        try:
            os.link(tmp, path)
            logger.warning(
                "DOCUMENT_ENCRYPTION_KEYS is not set: generated a document key into %s (keep it "
                "with the database: documents cannot be read without it)",
                path,
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return [line for line in path.read_text().split() if line]


def document_keys(settings: Settings) -> DocumentKeys:
    """The configured keys; outside production, the generated one in DATA_DIR when none are set
    (keys listed in that file after the first also unwrap)."""
    lines = settings.document_encryption_keys
    if not lines:
        if settings.production:
            raise DocumentKeyError("PRODUCTION needs DOCUMENT_ENCRYPTION_KEYS")
        lines = _embedded_key_file(Path(settings.data_dir))
    return DocumentKeys(parse_document_keys(lines))


def attach_document_keys(engine: Any, keys: DocumentKeys) -> None:
    """Make ``keys`` the ones :class:`EncryptedBlob` columns use on ``engine``."""
    setattr(engine.dialect, _ATTRIBUTE, keys)


def keys_of(dialect: Any) -> DocumentKeys:
    keys: DocumentKeys | None = getattr(dialect, _ATTRIBUTE, None)
    if keys is None:
        raise DocumentKeyError(
            "this engine has no document keys: open the database with api.core.db.create_engine"
        )
    return keys


class EncryptedBlob(TypeDecorator[bytes]):
    """Bytes encrypted at rest (see the module docstring); ``purpose`` names the column."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose
        self._aad = purpose.encode()

    def process_bind_param(self, value: bytes | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        return keys_of(dialect).seal(bytes(value), self._aad)

    def process_result_value(self, value: bytes | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        return keys_of(dialect).open(bytes(value), self._aad)
