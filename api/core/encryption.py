"""Health documents encrypted at rest: envelope encryption with AES-256-GCM.

Every stored value (a published document, each entry's FHIR resource) gets a data key of its own,
random, used once. The value is encrypted with it; the data key is encrypted ("wrapped") with a
key-encryption key from ``DOCUMENT_ENCRYPTION_KEYS`` and stored beside the ciphertext, with that
key's id. Rotating keys re-wraps the small data keys (``healthbook keys rewrap``); the documents
themselves are never re-encrypted.

Layout of a stored value (bytes)::

    b"HBE1" | key id length (1 byte) | key id (ASCII) | wrap nonce (12) | wrapped data key (48)
            | nonce (12) | ciphertext and tag

``b"HBE2"`` is the same layout with the content deflated (zlib) before it was encrypted. With
``DOCUMENT_DEFLATE=true``, a column made with ``EncryptedBlob(purpose, deflate=True)`` (the
published documents) stores so each value of at least :data:`COMPRESS_MIN` bytes that deflates
smaller (FHIR JSON shrinks 4-16 times: the
1 MB Synthea bundle to 62 KB); the entries' resources are small and many, and deflating each one
would cost more CPU at publish than it saves. Compression comes before encryption, as it must (a
ciphertext does not compress), and the marker is authenticated with the rest, so it cannot be
switched. Both markers are read; rewrapping keeps a value's marker and content as they are.

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
import zlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, TypeDecorator

from api.core.settings import Settings, parse_document_keys

logger = logging.getLogger("healthbook.encryption")

MAGIC = b"HBE1"
MAGIC_DEFLATED = b"HBE2"
MARKERS = (MAGIC, MAGIC_DEFLATED)
COMPRESS_MIN = 512
"""Shorter values are stored as they are: deflating them saves little and costs a call."""
_LEVEL = 6
_NONCE = 12
_WRAPPED = 32 + 16
_ATTRIBUTE = "healthbook_document_keys"
KEY_FILE = "document-keys"


class DocumentKeyError(RuntimeError):
    """A stored value cannot be decrypted (unknown key id, altered bytes) or no keys are set."""


class DocumentKeys:
    """The key-encryption keys: the first wraps new data keys, every one unwraps."""

    def __init__(self, keys: list[tuple[str, bytes]], *, deflate: bool = False) -> None:
        """``deflate``: whether columns that may deflate (``EncryptedBlob(deflate=True)``) do,
        from ``DOCUMENT_DEFLATE``; values of both kinds are always read."""
        if not keys:
            raise DocumentKeyError("no document encryption key")
        self.deflate = deflate
        self.primary_id = keys[0][0]
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}
        self._headers = {
            (marker, key_id): marker + bytes([len(key_id)]) + key_id.encode()
            for key_id, _ in keys
            for marker in MARKERS
        }

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def seal(self, plaintext: bytes, purpose: bytes, *, deflate: bool = False) -> bytes:
        """Encrypt ``plaintext`` under a fresh data key wrapped by the primary key; with
        ``deflate``, deflated first when that makes it smaller."""
        marker, content = MAGIC, plaintext
        if deflate and len(plaintext) >= COMPRESS_MIN:
            deflated = zlib.compress(plaintext, _LEVEL)
            if len(deflated) < len(plaintext):
                marker, content = MAGIC_DEFLATED, deflated
        data_key = AESGCM.generate_key(bit_length=256)
        header = self._headers[(marker, self.primary_id)]
        wrap_nonce = os.urandom(_NONCE)
        wrapped = self._ciphers[self.primary_id].encrypt(wrap_nonce, data_key, header + purpose)
        nonce = os.urandom(_NONCE)
        body = AESGCM(data_key).encrypt(nonce, content, marker + purpose)
        return b"".join((header, wrap_nonce, wrapped, nonce, body))

    def open(self, stored: bytes, purpose: bytes) -> bytes:
        """The plaintext of a stored value (plaintext from before encryption is returned as is)."""
        marker = stored[: len(MAGIC)]
        if marker not in MARKERS:
            return stored
        key_id, data_key, offset = self._unwrap(stored, purpose)
        nonce = stored[offset : offset + _NONCE]
        try:
            content = AESGCM(data_key).decrypt(nonce, stored[offset + _NONCE :], marker + purpose)
        except InvalidTag as exc:
            raise DocumentKeyError(f"a value under key {key_id!r} was altered") from exc
        return zlib.decompress(content) if marker == MAGIC_DEFLATED else content

    def rewrap(self, stored: bytes, purpose: bytes, *, deflate: bool = False) -> bytes | None:
        """The value with its data key wrapped by the primary key (plaintext gets encrypted, and
        with ``deflate`` deflated as :meth:`seal` does); None when it already is. Encrypted
        content is kept byte for byte."""
        marker = stored[: len(MAGIC)]
        if marker not in MARKERS:
            return self.seal(stored, purpose, deflate=deflate)
        key_id = key_id_of(stored)
        if key_id == self.primary_id:
            return None
        _, data_key, offset = self._unwrap(stored, purpose)
        header = self._headers[(marker, self.primary_id)]
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
    if stored[: len(MAGIC)] not in MARKERS or len(stored) <= len(MAGIC):
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
    lines = settings.security.document_encryption_keys
    if not lines:
        if settings.production:
            raise DocumentKeyError("PRODUCTION needs DOCUMENT_ENCRYPTION_KEYS")
        lines = _embedded_key_file(Path(settings.data_dir))
    return DocumentKeys(parse_document_keys(lines), deflate=settings.security.document_deflate)


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

    def __init__(self, purpose: str, *, deflate: bool = False) -> None:
        super().__init__()
        self.purpose = purpose
        self.deflate = deflate
        self._aad = purpose.encode()

    def process_bind_param(self, value: bytes | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        keys = keys_of(dialect)
        return keys.seal(bytes(value), self._aad, deflate=self.deflate and keys.deflate)

    def process_result_value(self, value: bytes | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        return keys_of(dialect).open(bytes(value), self._aad)
