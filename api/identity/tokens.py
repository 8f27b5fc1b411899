"""Verifying tokens other parties sign: identity providers' ID tokens and clients' assertions.

Both follow the JWT BCP (RFC 8725): the algorithm comes from our configuration, never from the
token alone; only asymmetric algorithms; no key material or key URL is taken from a token header
(``jku``, ``x5u``, ``jwk``, ``x5c`` make a token unacceptable); unknown ``crit`` is refused; issuer
and audience are compared exactly; ``exp``, ``iat`` (and ``nbf`` when present) are checked with a
small leeway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import jwt
from jwt import PyJWK

from api.identity.errors import TokenRejected
from api.identity.jwks import ASYMMETRIC_ALGORITHMS, JwksCache

_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
_KID_OK = re.compile(r"^[\x21-\x7e]{1,128}$")
_MAX_TOKEN_LENGTH = 16 * 1024


def _header(token: str, allowed: Iterable[str]) -> dict[str, Any]:
    if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenRejected("not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise TokenRejected("unreadable header") from exc
    forbidden = _FORBIDDEN_HEADERS.intersection(header)
    if forbidden:
        raise TokenRejected(f"header parameter not accepted: {sorted(forbidden)}")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
        raise TokenRejected("algorithm not accepted")
    if algorithm not in set(allowed):
        raise TokenRejected("algorithm not accepted for this issuer")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not _KID_OK.match(kid)):
        raise TokenRejected("malformed kid")
    return header


def _key_matches(key: PyJWK, algorithm: str) -> bool:
    """The key's type must be the one the algorithm needs (no RSA key used as HMAC secret...)."""
    expected = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}[algorithm[:2]]
    return key.key_type == expected


def unverified_issuer(token: str) -> str | None:
    """Read ``iss`` to choose the provider; the signature is verified right after."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


async def verify_id_token(
    token: str,
    *,
    issuer: str,
    jwks_uri: str,
    audiences: Sequence[str],
    algorithms: Sequence[str],
    jwks: JwksCache,
    leeway: float,
) -> dict[str, Any]:
    """Verify an identity provider's ID token; raise TokenRejected (or JwksUnavailable)."""
    header = _header(token, algorithms)
    algorithm = header["alg"]
    try:
        key = await jwks.get_key(jwks_uri, header.get("kid"))
    except jwt.InvalidKeyError as exc:
        raise TokenRejected("unknown signing key") from exc
    if not _key_matches(key, algorithm):
        raise TokenRejected("key type does not match the algorithm")
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=list(audiences),
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "strict_aud": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(type(exc).__name__) from exc


def verify_client_assertion(
    assertion: str,
    *,
    client_id: str,
    jwks: dict[str, Any],
    token_endpoint: str,
    leeway: float,
    max_lifetime: float,
) -> dict[str, Any]:
    """Verify an RFC 7523 client assertion against the client's registered keys."""
    keys = [item for item in jwks.get("keys", []) if isinstance(item, dict)]
    named = {str(alg) for item in keys if (alg := item.get("alg"))}
    allowed = named or ASYMMETRIC_ALGORITHMS
    header = _header(assertion, allowed)
    algorithm = header["alg"]
    kid = header.get("kid")
    candidates = [item for item in keys if kid is None or item.get("kid") == kid]
    if not candidates:
        raise TokenRejected("unknown client key")
    last_error: Exception | None = None
    for item in candidates:
        try:
            key = PyJWK.from_dict(item)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            last_error = exc
            continue
        if not _key_matches(key, algorithm):
            continue
        try:
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=[algorithm],
                audience=token_endpoint,
                issuer=client_id,
                leeway=leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.InvalidTokenError as exc:
            last_error = exc
            continue
        if claims.get("sub") != client_id:
            raise TokenRejected("sub must equal the client id")
        if not isinstance(claims.get("jti"), str) or not 8 <= len(claims["jti"]) <= 256:
            raise TokenRejected("jti must be a string of 8 to 256 characters")
        if float(claims["exp"]) - float(claims["iat"]) > max_lifetime:
            raise TokenRejected("assertion lifetime too long")
        return claims
    raise TokenRejected(type(last_error).__name__ if last_error else "no usable client key")
