"""Check-in tokens (what the citizen's QR code carries) and the printed facility codes.

**Check-in token**: a compact JWS signed with our Ed25519 key (``alg`` EdDSA, ``kid``), header
``typ`` ``checkin+jwt``, audience ``<issuer>/kiosk/check-ins``. Claims: ``iss``, ``aud``, ``sub``
(the appointment id), ``fac`` (the facility id), ``ver`` (how often the appointment was moved),
``nbf`` (start − lead), ``exp`` (start + grace), ``jti``. Opaque ids only: no name, no national ID.
The ``typ`` and the audience differ from our access tokens' (``at+jwt``, audience = issuer), so
neither can pass for the other. Kiosks may verify it offline with ``/.well-known/jwks.json``.

The token is deterministic for one version of an appointment (``jti`` is a keyed hash of the
appointment id and version, and Ed25519 signatures are deterministic): the app may fetch it again
and gets the same QR code, and the single-use marker (``jti``) covers every copy of it.

**Facility code** (printed walk-in QR): ``HBW1:<facility id>:<department code>:<mac>``, where
``mac`` is 96 bits of HMAC-SHA-256 under a key derived from ``IDENTIFIER_HASH_KEY``. It is
tamper-evident (a code for another department cannot be made by editing it) and, unlike a JWT
under our rotating signing keys, stays valid as long as the poster hangs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import uuid
from typing import Annotated, Any

import jwt
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.checkin.errors import CheckInCodeInvalid, WalkInCodeInvalid
from api.checkin.schemas import CheckInToken
from api.core.security import SigningKeys

CHECKIN_TYP = "checkin+jwt"
_ALGORITHM = "EdDSA"
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
WALK_IN_PREFIX = "HBW1"
_MAX_CODE = 2048


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    """Strict base64url without padding (the characters were checked by ``_COMPACT``)."""
    if len(segment) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class _Header(msgspec.Struct, frozen=True):
    alg: str
    typ: str
    kid: Annotated[str, msgspec.Meta(max_length=64)]
    crit: Any = None


class _Claims(msgspec.Struct, frozen=True):
    """The claims a check-in token must carry, with their types (others are ignored)."""

    iss: str
    aud: str
    sub: str
    fac: str
    nbf: int
    exp: int
    jti: Annotated[str, msgspec.Meta(max_length=64)]
    ver: int = 0


_header_decoder = msgspec.json.Decoder(_Header)
_claims_decoder = msgspec.json.Decoder(_Claims)


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose, derived from a service secret (never the secret itself)."""
    return hmac.new(secret.encode(), f"healthbook {purpose}".encode(), hashlib.sha256).digest()


class CheckInClaims(msgspec.Struct, frozen=True, kw_only=True):
    appointment_id: uuid.UUID
    facility_id: str
    version: int
    valid_from: dt.datetime
    valid_until: dt.datetime
    jti: str


class CheckInTokens:
    """Issue and verify check-in tokens."""

    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str,
        secret: str,
        lead: dt.timedelta,
        grace: dt.timedelta,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = f"{issuer}/kiosk/check-ins"
        self.lead = lead
        self.grace = grace
        self._jti_key = derive_key(secret, "check-in token id v1")

    def window(self, start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """From when until when the appointment starting at ``start`` may check in (whole
        seconds, as the token carries them)."""
        start = start.replace(microsecond=0)
        return start - self.lead, start + self.grace

    def jti(self, appointment_id: uuid.UUID, version: int) -> str:
        digest = hmac.new(
            self._jti_key, f"{appointment_id}:{version}".encode(), hashlib.sha256
        ).digest()
        return _b64(digest[:16])

    def issue(
        self, appointment_id: uuid.UUID, facility_id: str, start: dt.datetime, version: int
    ) -> CheckInToken:
        valid_from, valid_until = self.window(start)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(appointment_id),
            "fac": facility_id,
            "ver": version,
            "nbf": int(valid_from.timestamp()),
            "exp": int(valid_until.timestamp()),
            "jti": self.jti(appointment_id, version),
        }
        token = self.keys.sign(claims, typ=CHECKIN_TYP)
        kid = str(jwt.get_unverified_header(token)["kid"])
        return CheckInToken(token=token, valid_from=valid_from, valid_until=valid_until, kid=kid)

    def verify(self, code: str) -> CheckInClaims:
        """Signature, type, issuer and audience; the time window is the caller's to check (with
        its own clock). Raises :class:`CheckInCodeInvalid`.

        A compact JWS checked directly (strict base64url, header, Ed25519 over the first two
        segments as sent, then the claims with msgspec): the same checks as PyJWT, in a third
        of its time, which matters on the kiosk's hot path."""
        code = code.strip()
        if len(code) > _MAX_CODE or not _COMPACT.fullmatch(code):
            raise CheckInCodeInvalid(
                "the scanned text is not a valid check-in code of this service"
            )
        head, payload, signature = code.split(".")
        try:
            header = _header_decoder.decode(_unb64(head))
            if header.alg != _ALGORITHM or header.typ != CHECKIN_TYP or header.crit is not None:
                raise ValueError("not a check-in token")
            key = self.keys.key_for(header.kid)
            if key is None or key.alg != _ALGORITHM:  # the facility-assertion keys sign no token
                raise ValueError("unknown key id")
            public_key = key.public_key
            if not isinstance(public_key, Ed25519PublicKey):  # EdDSA keys here are Ed25519
                raise ValueError("not an Ed25519 key")
            public_key.verify(_unb64(signature), f"{head}.{payload}".encode("ascii"))
            claims = _claims_decoder.decode(_unb64(payload))
            if claims.iss != self.issuer or claims.aud != self.audience:
                raise ValueError("another issuer or audience")
            return CheckInClaims(
                appointment_id=uuid.UUID(claims.sub),
                facility_id=claims.fac,
                version=claims.ver,
                valid_from=dt.datetime.fromtimestamp(claims.nbf, dt.UTC),
                valid_until=dt.datetime.fromtimestamp(claims.exp, dt.UTC),
                jti=claims.jti,
            )
        except (InvalidSignature, msgspec.DecodeError, ValueError, OverflowError) as exc:
            raise CheckInCodeInvalid(
                "the scanned text is not a valid check-in code of this service"
            ) from exc


class WalkInCodes:
    """Make and read the printed facility/department codes."""

    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, "walk-in code v1")

    def _mac(self, facility_id: str, department: str) -> str:
        message = f"{facility_id}:{department}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:12])

    def code(self, facility_id: str, department: str) -> str:
        return f"{WALK_IN_PREFIX}:{facility_id}:{department}:{self._mac(facility_id, department)}"

    def read(self, text: str) -> tuple[str, str]:
        """The facility id and department code of a scanned code; raises
        :class:`WalkInCodeInvalid` when it is not ours or was altered."""
        parts = text.strip().split(":")
        if len(parts) != 4 or parts[0] != WALK_IN_PREFIX or not parts[1] or not parts[2]:
            raise WalkInCodeInvalid("the scanned text is not a facility code of this service")
        _, facility_id, department, mac = parts
        if not hmac.compare_digest(mac, self._mac(facility_id, department)):
            raise WalkInCodeInvalid("the facility code does not verify (altered or not ours)")
        return facility_id, department
