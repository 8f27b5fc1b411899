"""IdentityService with in-memory fakes: token exchange, refresh rotation, logout, clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
import uuid
from typing import Any

import pytest

from api.core.access_tokens import Principal
from api.core.clock import FrozenClock
from api.core.settings import Settings
from api.identity import national_id
from api.identity.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnsupportedGrantType,
)
from api.identity.models import Citizen, Client, IdentityProvider, RefreshToken
from api.identity.schemas import TokenRequest
from api.identity.service import (
    ASSERTION_TYPE_JWT,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
    TOKEN_TYPE_ID_TOKEN,
    IdentityService,
)
from tests.support.idp import SigningKey
from tests.unit.identity.fakes import (
    FakeAccessTokens,
    FakeDirectory,
    FakeJwks,
    FakeRedis,
    FakeSession,
    Result,
    uow_factory,
)

ISSUER = "https://id.example.gov.vn"
KEY = "identifier-hash-key"


class World:
    """An IdentityService on fakes, and the fakes to look at."""

    def __init__(self, idp_key: SigningKey | None = None) -> None:
        self.log: list[str] = []
        self.session = FakeSession(self.log)
        self.directory = FakeDirectory(self.log)
        self.redis = FakeRedis()
        self.tokens = FakeAccessTokens()
        self.clock = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
        self.settings = Settings()
        self.first_logins: list[str] = []
        self.service = IdentityService(
            uow=uow_factory(self.session),
            settings=self.settings,
            identifier_key=KEY,
            tokens=self.tokens,  # type: ignore[arg-type]  # a fake
            jwks=FakeJwks(*([idp_key.jwk] if idp_key else [])),  # type: ignore[arg-type]
            directory=self.directory,  # type: ignore[arg-type]  # a fake
            redis=self.redis,  # type: ignore[arg-type]  # a fake
            clock=self.clock,
        )

        def first_login(number: str) -> None:
            self.first_logins.append(number)
            self.log.append("first login")

        self.service.on_first_login = first_login

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- the grant -------------------------------------------------------------------------------


async def test_a_request_without_a_grant_type_is_invalid() -> None:
    with pytest.raises(InvalidRequest, match="grant_type is required"):
        await World().service.token(TokenRequest())


async def test_an_unknown_grant_type_is_unsupported() -> None:
    with pytest.raises(UnsupportedGrantType, match="password"):
        await World().service.token(TokenRequest(grant_type="password"))


# -- token exchange ------------------------------------------------------------------------------


def provider(**overrides: Any) -> IdentityProvider:
    values: dict[str, Any] = {
        "id": "vneid",
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/jwks.json",
        "audiences": ["app"],
        "algorithms": ["EdDSA"],
        "national_id_claim": "national_id",
        "national_id_pattern": r"^\d{12}$",
        "name_claim": "name",
        "birth_date_claim": "birthdate",
        "sex_claim": "gender",
        "phone_claim": None,
        "assurance_claim": "acr",
        "min_assurance": 2,
        "dependents_claim": None,
        "enabled": True,
    }
    values.update(overrides)
    return IdentityProvider(**values)


def id_token(key: SigningKey, **claims: Any) -> str:
    now = int(time.time())
    return key.sign(
        {
            "iss": ISSUER,
            "aud": "app",
            "sub": "someone",
            "iat": now,
            "exp": now + 300,
            "national_id": "001-090-000-001",
            "name": "Nguyễn Thị Lan",
            "birthdate": "1990-04-12",
            "gender": "nữ",
            "acr": "2",
            **claims,
        }
    )


def exchange(token: str) -> TokenRequest:
    return TokenRequest(
        grant_type=GRANT_TOKEN_EXCHANGE,
        subject_token=token,
        subject_token_type=TOKEN_TYPE_ID_TOKEN,
    )


def known_citizen(world: World, *, logged_in_before: bool) -> Citizen:
    return Citizen(
        id=uuid.uuid4(),
        national_id_hash=national_id.keyed_hash(KEY, "001090000001"),
        national_id_masked=None,
        locale="vi",
        created_at=world.now,
        updated_at=world.now,
        first_login_at=world.now - dt.timedelta(days=3) if logged_in_before else None,
    )


async def test_a_first_login_issues_tokens_and_its_effects_follow_the_commit() -> None:
    key = SigningKey("EdDSA")
    world = World(key)
    citizen = known_citizen(world, logged_in_before=False)
    world.session.scalar_answers = [provider(), citizen]

    answer = await world.service.token(exchange(id_token(key)))

    # the profile from the provider's claims, the first login remembered
    assert citizen.full_name == "Nguyễn Thị Lan"
    assert citizen.birth_date == dt.date(1990, 4, 12)
    assert citizen.sex == "female"
    assert citizen.first_login_at == world.now
    assert citizen.last_login_at == world.now
    assert citizen.national_id_masked == national_id.mask("001090000001")
    # a refresh token of a new family, stored by hash only
    (refresh,) = [row for row in world.session.added if isinstance(row, RefreshToken)]
    assert answer.refresh_token is not None
    assert refresh.token_hash == digest(answer.refresh_token)
    assert refresh.citizen_id == citizen.id
    ttl = dt.timedelta(days=world.settings.identity.refresh_token_ttl_days)
    assert refresh.expires_at == world.now + ttl
    # an access token for this session
    assert answer.access_token == "access-1"
    (issued,) = world.tokens.issued
    assert issued["subject"] == str(citizen.id)
    assert issued["session_id"] == str(refresh.family_id)
    assert answer.scope == "citizen"
    # cached profile dropped and the pull asked for, both after the commit; the number as given
    assert world.log == ["add RefreshToken", "commit", "invalidate", "first login"]
    assert world.directory.invalidated == [[citizen.id]]
    assert world.first_logins == ["001-090-000-001"]


async def test_a_later_login_does_not_ask_for_a_pull() -> None:
    key = SigningKey("EdDSA")
    world = World(key)
    world.session.scalar_answers = [provider(), known_citizen(world, logged_in_before=True)]

    await world.service.token(exchange(id_token(key)))

    assert world.first_logins == []
    assert world.log == ["add RefreshToken", "commit", "invalidate"]


async def test_when_the_login_cannot_commit_no_effect_runs() -> None:
    key = SigningKey("EdDSA")
    world = World(key)
    world.session.scalar_answers = [provider(), known_citizen(world, logged_in_before=False)]
    world.session.fail_commit = True

    with pytest.raises(RuntimeError, match="refused"):
        await world.service.token(exchange(id_token(key)))

    assert world.directory.invalidated == []
    assert world.first_logins == []
    assert world.tokens.issued == []


async def test_an_id_token_from_an_untrusted_issuer_is_refused_before_any_write() -> None:
    key = SigningKey("EdDSA")
    world = World(key)
    world.session.scalar_answers = [None]  # no enabled provider has this issuer

    with pytest.raises(InvalidGrant, match="not trusted"):
        await world.service.token(exchange(id_token(key)))

    assert "commit" not in world.log
    assert world.session.added == []


async def test_an_assurance_below_the_providers_minimum_is_refused() -> None:
    key = SigningKey("EdDSA")
    world = World(key)
    world.session.scalar_answers = [provider(min_assurance=3)]

    with pytest.raises(InvalidGrant, match="assurance level 2 is below the required 3"):
        await world.service.token(exchange(id_token(key)))

    assert world.tokens.issued == []


async def test_an_id_token_signed_by_another_key_is_rejected() -> None:
    world = World(SigningKey("EdDSA", kid="k1"))
    world.session.scalar_answers = [provider()]

    with pytest.raises(InvalidGrant, match="rejected"):
        await world.service.token(exchange(id_token(SigningKey("EdDSA", kid="k1"))))


# -- refresh rotation -----------------------------------------------------------------------------


def stored_refresh(world: World, token: str, **overrides: Any) -> RefreshToken:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "family_id": uuid.uuid4(),
        "citizen_id": uuid.uuid4(),
        "token_hash": digest(token),
        "created_at": world.now - dt.timedelta(hours=1),
        "expires_at": world.now + dt.timedelta(days=10),
        "used_at": None,
        "revoked_at": None,
    }
    values.update(overrides)
    return RefreshToken(**values)


async def test_a_refresh_rotates_within_the_family_and_keeps_its_expiry() -> None:
    world = World()
    old = stored_refresh(world, "old-token")
    world.session.scalar_answers = [old]
    world.session.execute_answers = [Result(rowcount=1)]  # the old token claimed

    answer = await world.service.token(
        TokenRequest(grant_type=GRANT_REFRESH, refresh_token="old-token")
    )

    (new,) = world.session.added
    assert answer.refresh_token not in (None, "old-token")
    assert new.token_hash == digest(answer.refresh_token or "")
    assert (new.family_id, new.citizen_id, new.expires_at) == (
        old.family_id,
        old.citizen_id,
        old.expires_at,
    )
    assert world.tokens.issued[0]["session_id"] == str(old.family_id)
    assert world.log == ["execute Update", "add RefreshToken", "commit"]


async def test_a_reused_refresh_token_revokes_its_family_and_the_revocation_is_committed() -> None:
    world = World()
    world.session.scalar_answers = [stored_refresh(world, "spent", used_at=world.now)]
    world.session.execute_answers = [Result(rowcount=0)]  # someone spent it already

    with pytest.raises(InvalidGrant, match="already used"):
        await world.service.token(TokenRequest(grant_type=GRANT_REFRESH, refresh_token="spent"))

    # the claim, then the family's revocation; committed although the request is refused
    assert world.log == ["execute Update", "execute Update", "commit"]
    revoke = world.session.statements[-1]
    assert "SET revoked_at=" in str(revoke)
    assert "family_id" in str(revoke.whereclause)
    assert world.session.added == []
    assert world.tokens.issued == []


@pytest.mark.parametrize("state", ["unknown", "revoked", "expired"])
async def test_an_unusable_refresh_token_is_refused_without_a_write(state: str) -> None:
    world = World()
    world.session.scalar_answers = [
        None
        if state == "unknown"
        else stored_refresh(
            world,
            "t",
            revoked_at=world.now if state == "revoked" else None,
            expires_at=world.now if state == "expired" else world.now + dt.timedelta(days=1),
        )
    ]

    with pytest.raises(InvalidGrant, match="invalid, expired or revoked"):
        await world.service.token(TokenRequest(grant_type=GRANT_REFRESH, refresh_token="t"))

    assert world.log == ["rollback"]


# -- logout ---------------------------------------------------------------------------------------


def citizen_principal(citizen_id: uuid.UUID, session_id: uuid.UUID | None) -> Principal:
    return Principal(
        kind="citizen",
        subject=str(citizen_id),
        scopes=frozenset({"citizen"}),
        token_id="t",
        expires_at=0,
        session_id=str(session_id) if session_id else None,
    )


async def test_logout_revokes_the_callers_session_and_their_refresh_tokens_family() -> None:
    world = World()
    citizen_id, session_id = uuid.uuid4(), uuid.uuid4()
    other_family = stored_refresh(world, "mine", citizen_id=citizen_id)
    world.session.scalar_answers = [other_family]

    await world.service.logout(citizen_principal(citizen_id, session_id), "mine")

    assert world.log == ["execute Update", "execute Update", "commit"]
    revoked = {
        statement.whereclause.clauses[0].right.value  # the family_id compared against
        for statement in world.session.statements[1:]
    }
    assert revoked == {session_id, other_family.family_id}


async def test_logout_leaves_another_citizens_refresh_token_alone() -> None:
    world = World()
    citizen_id, session_id = uuid.uuid4(), uuid.uuid4()
    world.session.scalar_answers = [stored_refresh(world, "theirs")]  # someone else's

    await world.service.logout(citizen_principal(citizen_id, session_id), "theirs")

    assert world.log == ["execute Update", "commit"]


# -- client credentials ---------------------------------------------------------------------


def registered_client(world: World, key: SigningKey, **overrides: Any) -> Client:
    values: dict[str, Any] = {
        "id": "his-1",
        "kind": "hospital",
        "name": "HIS",
        "facility_id": "01001",
        "scopes": ["summaries:write", "slots:write"],
        "jwks": {"keys": [key.jwk]},
        "enabled": True,
        "created_at": world.now,
        "updated_at": world.now,
    }
    values.update(overrides)
    return world.session.put(Client(**values))


def assertion(world: World, key: SigningKey, client_id: str = "his-1", **claims: Any) -> str:
    now = int(time.time())
    return key.sign(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": world.settings.token_endpoint,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(8),
            **claims,
        }
    )


def client_request(signed: str, scope: str | None = None) -> TokenRequest:
    return TokenRequest(
        grant_type=GRANT_CLIENT_CREDENTIALS,
        client_assertion_type=ASSERTION_TYPE_JWT,
        client_assertion=signed,
        scope=scope,
    )


async def test_a_client_gets_a_token_with_its_granted_scopes() -> None:
    world, key = World(), SigningKey("EdDSA")
    registered_client(world, key)

    answer = await world.service.token(client_request(assertion(world, key)))

    assert answer.scope == "slots:write summaries:write"
    assert answer.refresh_token is None
    (issued,) = world.tokens.issued
    assert issued["kind"] == "hospital"
    assert issued["subject"] == issued["client_id"] == "his-1"
    assert issued["facility_id"] == "01001"
    assert issued["scopes"] == frozenset({"summaries:write", "slots:write"})


async def test_a_client_may_ask_for_fewer_scopes_but_not_more() -> None:
    world, key = World(), SigningKey("EdDSA")
    registered_client(world, key)

    narrow = await world.service.token(client_request(assertion(world, key), "slots:write"))
    assert narrow.scope == "slots:write"
    with pytest.raises(InvalidScope, match="admin"):
        await world.service.token(client_request(assertion(world, key), "slots:write admin"))


async def test_an_assertion_is_accepted_once() -> None:
    world, key = World(), SigningKey("EdDSA")
    registered_client(world, key)
    signed = assertion(world, key)

    await world.service.token(client_request(signed))
    with pytest.raises(InvalidClient, match="already used"):
        await world.service.token(client_request(signed))

    (ttl,) = world.redis.ttls.values()
    assert 1 <= ttl <= 60 + world.settings.identity.token_leeway_seconds


async def test_a_disabled_or_unknown_client_is_refused() -> None:
    world, key = World(), SigningKey("EdDSA")
    registered_client(world, key, enabled=False)

    with pytest.raises(InvalidClient, match="unknown or disabled"):
        await world.service.token(client_request(assertion(world, key)))
    with pytest.raises(InvalidClient, match="unknown or disabled"):
        await world.service.token(client_request(assertion(world, key, client_id="nobody")))
    assert world.tokens.issued == []


async def test_an_assertion_signed_with_another_key_is_refused() -> None:
    world = World()
    registered_client(world, SigningKey("EdDSA", kid="k"))

    with pytest.raises(InvalidClient, match="rejected"):
        await world.service.token(client_request(assertion(world, SigningKey("EdDSA", kid="k"))))
    assert world.redis.values == {}  # its jti was never spent


# -- what the server publishes ---------------------------------------------------------------


def test_the_metadata_names_this_servers_endpoints_and_grants() -> None:
    world = World()
    metadata = world.service.metadata()
    assert metadata["issuer"] == world.settings.issuer
    assert metadata["token_endpoint"] == world.settings.token_endpoint
    assert metadata["jwks_uri"] == f"{world.settings.issuer}/.well-known/jwks.json"
    assert GRANT_REFRESH in metadata["grant_types_supported"]
    assert world.service.public_keys() == {"keys": [{"kty": "OKP", "kid": "ours"}]}
