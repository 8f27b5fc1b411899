"""Builds the identity components on ``app.state`` in the lifespan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from litestar.datastructures import State
from redis.asyncio import Redis

from api.core.access_tokens import AccessTokens
from api.core.security import SigningKeys, load_or_create_secret
from api.core.settings import Settings
from api.identity.citizens import CitizenDirectory
from api.identity.demo_idp import DemoIdentityProvider
from api.identity.jwks import JwksCache
from api.identity.service import IdentityService


def build_identity(state: State, settings: Settings, redis: Redis, http: httpx.AsyncClient) -> None:
    embedded = not settings.production
    state.identifier_key = settings.identifier_hash_key or load_or_create_secret(
        Path(settings.data_dir) / "identifier_hash_key", create=embedded
    )
    keys = SigningKeys(
        settings.effective_signing_keys_dir,
        verify_keep=dt.timedelta(days=settings.signing_key_verify_keep_days),
        generate_if_missing=embedded,
    )
    state.signing_keys = keys
    state.access_tokens = AccessTokens(
        keys, issuer=settings.issuer, ttl=settings.access_token_ttl_seconds
    )
    state.jwks = JwksCache(
        http,
        ttl=settings.jwks_cache_ttl_seconds,
        cooldown=settings.jwks_refetch_cooldown_seconds,
        max_staleness=settings.jwks_max_staleness_seconds,
        fetch_timeout=settings.jwks_fetch_timeout_seconds,
    )
    state.directory = CitizenDirectory(
        redis,
        state.sessionmaker,
        state.invalidations,
        child_max_age=settings.guardian_child_max_age,
    )
    if settings.demo:
        state.demo_idp = DemoIdentityProvider(settings)
    state.identity = IdentityService(
        settings=settings,
        identifier_key=state.identifier_key,
        tokens=state.access_tokens,
        jwks=state.jwks,
        directory=state.directory,
        redis=redis,
        clock=state.clock,
    )
