"""Our access tokens (RFC 9068 JWT profile, EdDSA) and the principal they authenticate."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Literal

import jwt
import msgspec

from api.core.security import SigningKeys

CallerKind = Literal["citizen", "hospital", "kiosk", "admin"]
ACCESS_TOKEN_TYP = "at+jwt"
CITIZEN_APP_CLIENT = "citizen-app"
_CACHE_MAX = 50_000


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: a citizen (subject = citizen id) or a client (subject = client id)."""

    kind: CallerKind
    subject: str
    scopes: frozenset[str]
    token_id: str
    expires_at: int
    facility_id: str | None = None
    session_id: str | None = None

    @property
    def citizen_id(self) -> uuid.UUID:
        if self.kind != "citizen":
            raise ValueError("not a citizen")
        return uuid.UUID(self.subject)


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    expires_in: int


class AccessTokens:
    """Issue and verify our access tokens.

    Verification results are kept per process for the token's lifetime, keyed by the exact token
    string: a repeated request with the same token costs a dictionary lookup, not a signature
    check. Nothing else is cached, so an expired token is refused at its ``exp``.
    """

    def __init__(self, keys: SigningKeys, *, issuer: str, ttl: int, leeway: float = 5) -> None:
        self.keys = keys
        self.issuer = issuer
        self.ttl = ttl
        self.leeway = leeway
        self._verified: dict[str, Principal] = {}

    def issue(
        self,
        *,
        kind: CallerKind,
        subject: str,
        client_id: str,
        scopes: frozenset[str] | set[str],
        facility_id: str | None = None,
        session_id: str | None = None,
        now: float | None = None,
    ) -> IssuedToken:
        issued_at = int(now if now is not None else time.time())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": subject,
            "client_id": client_id,
            "iat": issued_at,
            "exp": issued_at + self.ttl,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(sorted(scopes)),
            "hb_kind": kind,
        }
        if facility_id is not None:
            claims["hb_facility"] = facility_id
        if session_id is not None:
            claims["sid"] = session_id
        return IssuedToken(token=self.keys.sign(claims, typ=ACCESS_TOKEN_TYP), expires_in=self.ttl)

    def verify(self, token: str) -> Principal:
        """Raise ``jwt.InvalidTokenError`` unless ``token`` is a valid access token of ours."""
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None:
            if cached.expires_at + self.leeway > now:
                return cached
            del self._verified[token]
            raise jwt.ExpiredSignatureError("expired")
        claims = self.keys.verify(
            token,
            typ=ACCESS_TOKEN_TYP,
            issuer=self.issuer,
            audience=self.issuer,
            leeway=self.leeway,
        )
        kind = claims.get("hb_kind")
        if kind not in ("citizen", "hospital", "kiosk", "admin"):
            raise jwt.InvalidTokenError("unknown caller kind")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise jwt.InvalidTokenError("bad scope claim")
        principal = Principal(
            kind=kind,
            subject=str(claims["sub"]),
            scopes=frozenset(scope.split()),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            facility_id=claims.get("hb_facility"),
            session_id=claims.get("sid"),
        )
        if len(self._verified) >= _CACHE_MAX:
            self._prune(now)
        self._verified[token] = principal
        return principal

    def _prune(self, now: float) -> None:
        expired = [
            token for token, p in self._verified.items() if p.expires_at + self.leeway <= now
        ]
        for token in expired:
            del self._verified[token]
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
