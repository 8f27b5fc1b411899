"""SMART Health Links (HL7 SMART Health Cards and Links IG v1.0.0): the ``shlink:/`` payload,
the compact JWE of a shared file, and the passcode's hash. Pure functions, no I/O.

The payload is minified JSON, base64url-encoded without padding, after ``shlink:/``; a viewer URL
carries it after ``#`` only, so it never reaches a server's logs. Files are compact JWE with
``alg`` ``dir`` and ``enc`` ``A256GCM`` (through ``joserfc``): the link's 32-byte key is the
content key, every encryption draws a fresh 96-bit IV.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import uuid
from typing import Annotated

import msgspec
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

PREFIX = "shlink:/"
MAX_URL_CHARS = 128
MAX_LABEL_CHARS = 80
KEY_BYTES = 32
FHIR_JSON = "application/fhir+json"
HEALTH_CARD_FILE = "application/smart-health-card"
PDF_FILE = "application/pdf"
FLAG_ORDER = "LPU"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_SCRYPT_TAG = "scrypt-16384-8-1"


class PayloadError(ValueError):
    """The text is not a SMART Health Link payload this module accepts."""


class Payload(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """The decoded payload; unknown members (``extension``, ``_*``) are ignored as the spec says."""

    url: Annotated[str, msgspec.Meta(max_length=MAX_URL_CHARS)]
    key: Annotated[str, msgspec.Meta(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
    exp: int | float | None = None
    flag: str | None = None
    label: Annotated[str, msgspec.Meta(max_length=MAX_LABEL_CHARS)] | None = None
    v: int | None = None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PayloadError("not base64url") from exc


def new_key() -> str:
    """32 random bytes, base64url: 43 characters."""
    return b64url(secrets.token_bytes(KEY_BYTES))


def new_secret() -> str:
    """256 random bits, base64url (43 characters): a manifest path or a file ticket."""
    return b64url(secrets.token_bytes(32))


def flags(*, long_term: bool, passcode: bool, direct: bool = False) -> str:
    """The ``flag`` letters, in alphabetical order. ``U`` (the url is the single encrypted file,
    fetched by ``GET``) never goes with ``P``: the spec forbids the pair."""
    if direct and passcode:
        raise PayloadError("flag U cannot be combined with P")
    return ("L" if long_term else "") + ("P" if passcode else "") + ("U" if direct else "")


def encode(*, url: str, key: str, exp: int | None, flag: str, label: str | None) -> str:
    """``shlink:/`` and the base64url of the minified JSON payload (members left out when
    empty)."""
    if len(url) > MAX_URL_CHARS:
        raise PayloadError(f"url is longer than {MAX_URL_CHARS} characters")
    if label is not None and len(label) > MAX_LABEL_CHARS:
        raise PayloadError(f"label is longer than {MAX_LABEL_CHARS} characters")
    if "".join(sorted(flag)) != flag or set(flag) - set(FLAG_ORDER) or len(set(flag)) != len(flag):
        raise PayloadError("flag letters must be L, P, U in alphabetical order")
    if "P" in flag and "U" in flag:
        raise PayloadError("flag U cannot be combined with P")
    body: dict[str, object] = {"url": url, "key": key}
    if exp is not None:
        body["exp"] = exp
    if flag:
        body["flag"] = flag
    if label:
        body["label"] = label
    return encode_json(msgspec.json.encode(body))


def encode_json(minified: bytes) -> str:
    return PREFIX + b64url(minified)


def decode(text: str) -> Payload:
    """The payload of ``shlink:/…``, alone or after a viewer URL's ``#``."""
    _, hash_sign, fragment = text.partition("#")
    candidate = fragment if hash_sign else text
    if not candidate.startswith(PREFIX):
        raise PayloadError("no shlink:/ payload")
    try:
        return msgspec.json.decode(b64url_decode(candidate[len(PREFIX) :]), type=Payload)
    except msgspec.DecodeError as exc:
        raise PayloadError(str(exc)) from exc


def encrypt(key: str, plaintext: bytes, content_type: str = FHIR_JSON) -> str:
    """Compact JWE: ``{"alg":"dir","enc":"A256GCM","cty":content_type,"zip":"DEF"}``, a fresh
    IV. The plaintext is compressed with raw DEFLATE before encryption (the spec's optional
    ``zip``, which every SHL receiver must read): FHIR JSON shrinks several times, so more files
    fit ``embeddedLengthMax`` and fewer bytes travel."""
    header = {"alg": "dir", "enc": "A256GCM", "cty": content_type, "zip": "DEF"}
    return jwe.encrypt_compact(header, plaintext, OctKey.import_key(b64url_decode(key)))


def decrypt(key: str, token: str) -> bytes:
    """The plaintext of a compact JWE made with ``key`` (a missing ``cty`` or an extra ``kid``
    is accepted, as receivers must)."""
    try:
        return jwe.decrypt_compact(token, OctKey.import_key(b64url_decode(key))).plaintext or b""
    except (JoseError, ValueError) as exc:
        raise PayloadError(f"cannot decrypt: {exc}") from exc


def hash_passcode(passcode: str) -> str:
    """``scrypt-16384-8-1$salt$hash`` (base64url); only this is stored."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(passcode.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"{_SCRYPT_TAG}${b64url(salt)}${b64url(digest)}"


def check_passcode(stored: str, passcode: str) -> bool:
    tag, _, rest = stored.partition("$")
    salt, _, expected = rest.partition("$")
    if tag != _SCRYPT_TAG:
        return False
    digest = hashlib.scrypt(passcode.encode(), salt=b64url_decode(salt), dklen=32, **_SCRYPT)
    return hmac.compare_digest(b64url(digest), expected)


_LOCATION_VERSION = 1
_LOCATION_FILES = (FHIR_JSON, HEALTH_CARD_FILE, PDF_FILE)
_LOCATION_BODY = struct.Struct(">B16s16sQB")
"""A location token's body: version, the link's id, the access-log row's id, the expiry (Unix
seconds), which file (an index in :data:`_LOCATION_FILES`)."""
_LOCATION_MAC_BYTES = 16


class FileLocations:
    """Stateless file ``location`` tokens: what a ticket row held (the link, which file, until
    when), carried in the URL and authenticated with HMAC-SHA-256 (128 bits kept) under a key of
    their own, derived from a service secret for this purpose alone. The answer's access-log
    row's id is in it too, so each answer's location is its own. Opening one checks the MAC and
    the expiry only: whether the link is still active is the database's to say."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(
            secret.encode(), b"healthbook shl file location v1", hashlib.sha256
        ).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.digest(self._key, body, "sha256")[:_LOCATION_MAC_BYTES]

    def issue(
        self, link_id: uuid.UUID, entry_id: uuid.UUID, content_type: str, expires: int
    ) -> str:
        """The token of ``link_id``'s file ``content_type`` until ``expires`` (Unix seconds)."""
        body = _LOCATION_BODY.pack(
            _LOCATION_VERSION,
            link_id.bytes,
            entry_id.bytes,
            expires,
            _LOCATION_FILES.index(content_type),
        )
        return b64url(body + self._mac(body))

    def open(self, token: str, now: float) -> tuple[uuid.UUID, str] | None:
        """The link's id and the file of a token this service issued that has not expired at
        ``now``; None for anything else (forged, altered, expired, not a location token)."""
        if len(token) != _LOCATION_TOKEN_CHARS:
            return None
        try:
            raw = b64url_decode(token)
        except PayloadError:
            return None
        body, mac = raw[: _LOCATION_BODY.size], raw[_LOCATION_BODY.size :]
        if len(mac) != _LOCATION_MAC_BYTES or not hmac.compare_digest(mac, self._mac(body)):
            return None
        version, link_id, _entry, expires, kind = _LOCATION_BODY.unpack(body)
        if version != _LOCATION_VERSION or expires <= now or kind >= len(_LOCATION_FILES):
            return None
        return uuid.UUID(bytes=link_id), _LOCATION_FILES[kind]


_LOCATION_TOKEN_CHARS = len(b64url(bytes(_LOCATION_BODY.size + _LOCATION_MAC_BYTES)))
