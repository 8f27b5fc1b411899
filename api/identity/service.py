"""The token endpoint's use cases: token exchange, refresh rotation, client credentials, logout.

Each runs in one unit of work; what must follow its commit (dropping cached profiles, the pull
of a first-time citizen's records) is registered with ``uow.after_commit``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.access_tokens import CITIZEN_APP_CLIENT, AccessTokens, CallerKind, Principal
from api.core.clock import Clock
from api.core.errors import ServiceUnavailable
from api.core.redis import RedisClient
from api.core.settings import Settings
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.identity import national_id
from api.identity.citizens import CitizenDirectory, find_or_create
from api.identity.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    TokenRejected,
    UnsupportedGrantType,
)
from api.identity.guardianships import sync_provider_dependents
from api.identity.jwks import JwksCache, JwksUnavailable
from api.identity.models import Citizen, Client, IdentityProvider, RefreshToken
from api.identity.schemas import TokenRequest, TokenResponse
from api.identity.tokens import unverified_issuer, verify_client_assertion, verify_id_token

logger = logging.getLogger("healthbook.identity")

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_REFRESH = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ASSERTION_TYPE_JWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

CITIZEN_SCOPES = frozenset({"citizen"})
_SEX = {
    "male": "male",
    "m": "male",
    "nam": "male",
    "female": "female",
    "f": "female",
    "nữ": "female",
}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse_birth_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


class IdentityService:
    """Citizens' and clients' tokens: what ``POST /auth/token`` and ``/auth/logout`` do, and
    what this authorization server publishes about itself (its keys, RFC 8414 metadata)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        settings: Settings,
        identifier_key: str,
        tokens: AccessTokens,
        jwks: JwksCache,
        directory: CitizenDirectory,
        redis: RedisClient,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self.settings = settings
        self.identifier_key = identifier_key
        self.tokens = tokens
        self.jwks = jwks
        self.directory = directory
        self.redis = redis
        self.clock = clock
        self.on_first_login: Callable[[str], None] | None = None
        """Called (after commit) with the national ID number as the identity provider gave it,
        in memory only, when a citizen logs in for the first time: the app pulls their records
        from hospitals' FHIR APIs."""
        self.published_key_sources: list[Callable[[], Awaitable[list[dict[str, Any]]]]] = []
        """Other public keys ``/.well-known/jwks.json`` lists beside ours (the composition root
        adds the health card issuer's): each source answers its JWKs."""

    # -- what the authorization server publishes --------------------------------------------------

    def public_keys(self) -> dict[str, Any]:
        """Our public signing keys as a JWK Set (access tokens, check-in codes, assertions)."""
        return self.tokens.keys.jwks()

    async def published_keys(self) -> dict[str, Any]:
        """The JWK Set ``/.well-known/jwks.json`` serves: ours and the other sources' keys."""
        document = self.public_keys()
        keys = list(document.get("keys", []))
        for source in self.published_key_sources:
            keys.extend(await source())
        return {**document, "keys": keys}

    def metadata(self) -> dict[str, Any]:
        """OAuth 2.0 authorization server metadata (RFC 8414)."""
        issuer = self.settings.issuer
        return {
            "issuer": issuer,
            "token_endpoint": self.settings.token_endpoint,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "grant_types_supported": [
                GRANT_TOKEN_EXCHANGE,
                GRANT_REFRESH,
                GRANT_CLIENT_CREDENTIALS,
            ],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": [
                "RS256",
                "PS256",
                "ES256",
                "EdDSA",
            ],
        }

    # -- the token endpoint -------------------------------------------------------------------

    async def token(self, request: TokenRequest) -> TokenResponse:
        grant = request.grant_type
        if not grant:
            raise InvalidRequest("grant_type is required")
        if grant == GRANT_TOKEN_EXCHANGE:
            return await self.exchange(request)
        if grant == GRANT_REFRESH:
            return await self.refresh(request)
        if grant == GRANT_CLIENT_CREDENTIALS:
            return await self.client_credentials(request)
        raise UnsupportedGrantType(f"grant_type {grant[:80]!r} is not supported")

    # -- citizens: token exchange -------------------------------------------------------------

    async def exchange(self, request: TokenRequest) -> TokenResponse:
        subject_token = request.subject_token
        if not subject_token:
            raise InvalidRequest("subject_token is required")
        if request.subject_token_type != TOKEN_TYPE_ID_TOKEN:
            raise InvalidRequest(f"subject_token_type must be {TOKEN_TYPE_ID_TOKEN}")
        if request.requested_token_type not in (None, TOKEN_TYPE_ACCESS_TOKEN):
            raise InvalidRequest("only access tokens can be requested")
        issuer = unverified_issuer(subject_token)
        async with self._uow() as uow:
            session = uow.session
            provider = None
            if issuer is not None:
                provider = await session.scalar(
                    select(IdentityProvider).where(
                        IdentityProvider.issuer == issuer, IdentityProvider.enabled.is_(True)
                    )
                )
            if provider is None:
                raise InvalidGrant("the ID token's issuer is not trusted")
            claims = await self._verified_claims(provider, subject_token)
            self._check_assurance(provider, claims)
            as_given = claims.get(provider.national_id_claim)
            try:
                number = national_id.normalise(as_given, provider.national_id_pattern)
            except national_id.InvalidNationalId as exc:
                raise InvalidGrant("the ID token does not carry a valid national ID") from exc

            now = self.clock.now()
            citizen, _created = await find_or_create(
                session,
                national_id.keyed_hash(self.identifier_key, number),
                national_id.mask(number),
                now,
            )
            first_login = citizen.first_login_at is None
            self._update_demographics(citizen, provider, claims, now)
            changed = [citizen.id]
            if provider.dependents_claim and provider.dependents_claim in claims:
                changed += await sync_provider_dependents(
                    session,
                    guardian=citizen,
                    claim=claims[provider.dependents_claim],
                    pattern=provider.national_id_pattern,
                    identifier_key=self.identifier_key,
                    now=now,
                )
            refresh, family_id = self._new_refresh(session, citizen.id, uuid.uuid4(), now, None)
            citizen_id = citizen.id
            uow.after_commit(partial(self.directory.invalidate, changed))
            if first_login:
                # as the provider wrote it: hospitals hold the number as issued (999-37-3544)
                uow.after_commit(partial(self._first_login, str(as_given)))
        return self._citizen_tokens(citizen_id, family_id, refresh, now)

    async def _verified_claims(self, provider: IdentityProvider, token: str) -> dict[str, Any]:
        try:
            return await verify_id_token(
                token,
                issuer=provider.issuer,
                jwks_uri=provider.jwks_uri,
                audiences=provider.audiences,
                algorithms=provider.algorithms,
                jwks=self.jwks,
                leeway=self.settings.identity.token_leeway_seconds,
            )
        except TokenRejected as exc:
            logger.info("ID token rejected", extra={"provider": provider.id, "reason": str(exc)})
            raise InvalidGrant("the ID token was rejected") from exc
        except JwksUnavailable as exc:
            raise ServiceUnavailable(
                "the identity provider's keys cannot be fetched", headers={"Retry-After": "5"}
            ) from exc

    async def _first_login(self, number: str) -> None:
        if self.on_first_login is not None:
            self.on_first_login(number)

    def _citizen_tokens(
        self, citizen_id: uuid.UUID, family_id: uuid.UUID, refresh: str, now: dt.datetime
    ) -> TokenResponse:
        access = self.tokens.issue(
            kind="citizen",
            subject=str(citizen_id),
            client_id=CITIZEN_APP_CLIENT,
            scopes=CITIZEN_SCOPES,
            session_id=str(family_id),
            now=now.timestamp(),
        )
        return TokenResponse(
            access_token=access.token,
            token_type="Bearer",
            expires_in=access.expires_in,
            issued_token_type=TOKEN_TYPE_ACCESS_TOKEN,
            refresh_token=refresh,
            scope=" ".join(sorted(CITIZEN_SCOPES)),
        )

    @staticmethod
    def _check_assurance(provider: IdentityProvider, claims: dict[str, Any]) -> None:
        if provider.assurance_claim is None or provider.min_assurance is None:
            return
        value = claims.get(provider.assurance_claim)
        try:
            level = int(str(value).strip())
        except ValueError as exc:
            raise InvalidGrant("the ID token does not state an assurance level") from exc
        if level < provider.min_assurance:
            raise InvalidGrant(
                f"identity assurance level {level} is below the required {provider.min_assurance}"
            )

    @staticmethod
    def _update_demographics(
        citizen: Citizen, provider: IdentityProvider, claims: dict[str, Any], now: dt.datetime
    ) -> None:
        def claim(name: str | None, limit: int) -> str | None:
            value = claims.get(name) if name else None
            return value.strip()[:limit] if isinstance(value, str) and value.strip() else None

        citizen.full_name = claim(provider.name_claim, 200) or citizen.full_name
        birth = _parse_birth_date(claims.get(provider.birth_date_claim or ""))
        citizen.birth_date = birth or citizen.birth_date
        sex = claim(provider.sex_claim, 16)
        if sex is not None:
            citizen.sex = _SEX.get(sex.lower(), "other")
        citizen.phone = claim(provider.phone_claim, 32) or citizen.phone
        citizen.updated_at = now
        citizen.last_login_at = now
        if citizen.first_login_at is None:
            citizen.first_login_at = now

    # -- citizens: refresh rotation ------------------------------------------------------------

    def _new_refresh(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        family_id: uuid.UUID,
        now: dt.datetime,
        expires_at: dt.datetime | None,
    ) -> tuple[str, uuid.UUID]:
        token = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                id=uuid.uuid4(),
                family_id=family_id,
                citizen_id=citizen_id,
                token_hash=_digest(token),
                created_at=now,
                expires_at=expires_at
                or now + dt.timedelta(days=self.settings.identity.refresh_token_ttl_days),
            )
        )
        return token, family_id

    async def refresh(self, request: TokenRequest) -> TokenResponse:
        if not request.refresh_token:
            raise InvalidRequest("refresh_token is required")
        now = self.clock.now()
        async with self._uow() as uow:
            rotated = await self._rotate(uow, request.refresh_token, now)
        if rotated is None:
            # the family's revocation is committed: the reuse is refused after it
            raise InvalidGrant("the refresh token was already used; the session is revoked")
        citizen_id, family_id, token = rotated
        return self._citizen_tokens(citizen_id, family_id, token, now)

    async def _rotate(
        self, uow: UnitOfWork, refresh_token: str, now: dt.datetime
    ) -> tuple[uuid.UUID, uuid.UUID, str] | None:
        """Spend ``refresh_token`` for a new one of the same family: (citizen, family, new
        token); None when it had been spent already (its whole family is then revoked)."""
        session = uow.session
        row = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token))
        )
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise InvalidGrant("the refresh token is invalid, expired or revoked")
        claimed = await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == row.id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=now)
        )
        if _rowcount(claimed) != 1:
            await self._revoke_family(session, row.family_id, now)
            logger.warning(
                "refresh token reuse: session revoked", extra={"family": str(row.family_id)}
            )
            return None
        token, family_id = self._new_refresh(
            session, row.citizen_id, row.family_id, now, row.expires_at
        )
        return row.citizen_id, family_id, token

    @staticmethod
    async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: dt.datetime) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def logout(self, principal: Principal, refresh_token: str | None) -> None:
        """Revoke the caller's session (the refresh family of its access token), and the family
        of ``refresh_token`` when it belongs to the same citizen."""
        now = self.clock.now()
        families: set[uuid.UUID] = set()
        if principal.session_id:
            families.add(uuid.UUID(principal.session_id))
        async with self._uow() as uow:
            session = uow.session
            if refresh_token:
                row = await session.scalar(
                    select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token))
                )
                if row is not None and str(row.citizen_id) == principal.subject:
                    families.add(row.family_id)
            for family_id in families:
                await self._revoke_family(session, family_id, now)

    # -- clients: RFC 7523 assertions ------------------------------------------------------------

    async def client_credentials(self, request: TokenRequest) -> TokenResponse:
        if request.client_assertion_type != ASSERTION_TYPE_JWT:
            raise InvalidRequest(f"client_assertion_type must be {ASSERTION_TYPE_JWT}")
        assertion = request.client_assertion
        if not assertion:
            raise InvalidRequest("client_assertion is required")
        client_id = unverified_issuer(assertion)
        if client_id is None or (request.client_id and request.client_id != client_id):
            raise InvalidClient("the assertion does not name a client")
        async with self._uow() as uow:
            client = await uow.session.get(Client, client_id[:64])
        if client is None or not client.enabled or client.id != client_id:
            raise InvalidClient("unknown or disabled client")
        try:
            claims = verify_client_assertion(
                assertion,
                client_id=client.id,
                jwks=client.jwks,
                token_endpoint=self.settings.token_endpoint,
                leeway=self.settings.identity.token_leeway_seconds,
                max_lifetime=self.settings.identity.client_assertion_max_lifetime_seconds,
            )
        except TokenRejected as exc:
            logger.info(
                "client assertion rejected", extra={"client": client.id, "reason": str(exc)}
            )
            raise InvalidClient("the client assertion was rejected") from exc
        await self._consume_jti(client.id, claims)
        granted = frozenset(client.scopes)
        requested = frozenset(request.scope.split()) if request.scope else granted
        if not requested <= granted:
            raise InvalidScope(f"not granted: {' '.join(sorted(requested - granted))}")
        access = self.tokens.issue(
            # the column holds a client kind: the registry checks it on write
            kind=cast("CallerKind", client.kind),
            subject=client.id,
            client_id=client.id,
            scopes=requested,
            facility_id=client.facility_id,
            now=self.clock.now().timestamp(),
        )
        return TokenResponse(
            access_token=access.token,
            token_type="Bearer",
            expires_in=access.expires_in,
            scope=" ".join(sorted(requested)),
        )

    async def _consume_jti(self, client_id: str, claims: dict[str, Any]) -> None:
        """Single use of an assertion's ``jti`` until it expires (Redis ``SET NX``)."""
        ttl = (
            int(float(claims["exp"]) - self.clock.now().timestamp())
            + self.settings.identity.token_leeway_seconds
        )
        key = f"client:{{{client_id}}}:jti:{_digest(str(claims['jti']))[:32]}"
        try:
            first = await self.redis.set(key, b"1", nx=True, ex=max(ttl, 1))
        except RedisError as exc:
            raise ServiceUnavailable(
                "cannot check assertion replay right now", headers={"Retry-After": "5"}
            ) from exc
        if not first:
            raise InvalidClient("the client assertion was already used")


def _rowcount(result: object) -> int:
    """Rows an UPDATE matched (``CursorResult.rowcount``; the plain ``Result`` type lacks it)."""
    count = getattr(result, "rowcount", None)
    return count if isinstance(count, int) else -1
