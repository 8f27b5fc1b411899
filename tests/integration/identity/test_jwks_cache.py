"""Identity provider key rotation, unknown-kid floods and JWKS outages."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.auth import exchange
from tests.support.idp import SigningKey
from tests.support.problems import problem_uri

NATIONAL_ID = "001090054321"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(app) -> FakeMonotonic:
    fake = FakeMonotonic()
    return fake


@pytest.fixture
async def warm(client, app, citizen, idp, monotonic):
    app.state.jwks._now = monotonic
    assert (await exchange(client, idp.id_token(NATIONAL_ID))).status_code == 200
    assert idp.jwks_fetches == 1
    return idp


async def test_new_kid_is_accepted_after_one_refetch(client, app, warm, monotonic) -> None:
    settings = app.state.settings
    new_key = SigningKey("ES256")
    warm.published = [warm.key, new_key]
    monotonic.now += settings.identity.jwks_refetch_cooldown_seconds + 1
    response = await exchange(client, new_key.sign(warm.claims(NATIONAL_ID)))
    assert response.status_code == 200, response.text
    assert warm.jwks_fetches == 2
    # the cache now has both keys: no more fetches
    assert (await exchange(client, warm.id_token(NATIONAL_ID))).status_code == 200
    assert warm.jwks_fetches == 2


async def test_unknown_kid_within_the_cooldown_does_not_refetch(client, app, warm) -> None:
    stranger = SigningKey("RS256")
    response = await exchange(client, stranger.sign(warm.claims(NATIONAL_ID)))
    assert response.status_code == 401
    assert warm.jwks_fetches == 1  # fetched moments ago: the cooldown holds


async def test_removed_kid_is_rejected_after_the_ttl(client, app, warm, monotonic) -> None:
    settings = app.state.settings
    replacement = SigningKey("EdDSA")
    warm.published = [replacement]
    # still cached before the TTL runs out
    monotonic.now += settings.identity.jwks_cache_ttl_seconds - 1
    assert (await exchange(client, warm.id_token(NATIONAL_ID))).status_code == 200
    assert warm.jwks_fetches == 1
    monotonic.now += 2
    refused = await exchange(client, warm.id_token(NATIONAL_ID))
    assert refused.status_code == 401
    assert warm.jwks_fetches == 2
    assert (await exchange(client, replacement.sign(warm.claims(NATIONAL_ID)))).status_code == 200


async def test_a_thousand_random_kids_cost_at_most_one_fetch_per_cooldown(
    client, app, warm, monotonic
) -> None:
    settings = app.state.settings
    monotonic.now += (
        settings.identity.jwks_refetch_cooldown_seconds + 1
    )  # the next unknown kid may fetch
    attacker = SigningKey("RS256")
    claims = warm.claims(NATIONAL_ID)
    tokens = [attacker.sign(claims, kid=f"random-{i}") for i in range(1000)]
    statuses: list[int] = []
    for start in range(0, len(tokens), 100):
        batch = await asyncio.gather(*(exchange(client, t) for t in tokens[start : start + 100]))
        statuses += [r.status_code for r in batch]
    assert statuses == [401] * 1000
    assert warm.jwks_fetches == 2  # the warm-up fetch and one for the whole flood


async def test_jwks_outage_after_warm_up_keeps_valid_tokens_working(
    client, app, warm, monotonic
) -> None:
    settings = app.state.settings
    warm.failing = True
    monotonic.now += (
        settings.identity.jwks_cache_ttl_seconds + 10
    )  # keys are stale: a refetch is tried
    response = await exchange(client, warm.id_token(NATIONAL_ID))
    assert response.status_code == 200, response.text
    assert warm.jwks_fetches == 2
    # past the maximum staleness, keys that cannot be refreshed are no longer trusted
    monotonic.now += settings.identity.jwks_max_staleness_seconds
    unavailable = await exchange(client, warm.id_token(NATIONAL_ID))
    assert unavailable.status_code == 503
    assert unavailable.json()["type"] == problem_uri("service-unavailable")
    # the provider comes back: the next attempt after the cooldown succeeds
    warm.failing = False
    monotonic.now += settings.identity.jwks_refetch_cooldown_seconds + 1
    assert (await exchange(client, warm.id_token(NATIONAL_ID))).status_code == 200


async def test_provider_unreachable_from_the_start_is_503_not_401(client, citizen, idp) -> None:
    idp.failing = True
    response = await exchange(client, idp.id_token(NATIONAL_ID))
    assert response.status_code == 503


@pytest.fixture
def settings(settings):
    """One JWKS fetch may take a second here (the slow-provider tests)."""
    return settings.replace(jwks_fetch_timeout_seconds=1.0)


async def test_a_burst_on_a_cold_process_waits_for_one_fetch(client, app, citizen, idp) -> None:
    """Logins arriving while the first fetch of the provider's keys is in flight wait for it."""
    idp.delay = 0.4
    numbers = [f"0010900{n:05d}" for n in range(25)]
    responses = await asyncio.gather(*(exchange(client, idp.id_token(n)) for n in numbers))
    assert [r.status_code for r in responses] == [200] * len(numbers), [
        r.text for r in responses if r.status_code != 200
    ]
    assert idp.jwks_fetches == 1


async def test_a_fetch_that_times_out_answers_the_whole_burst_503_once(
    client, app, citizen, idp
) -> None:
    idp.delay = 5.0
    started = time.monotonic()
    responses = await asyncio.gather(
        *(exchange(client, idp.id_token(f"0010900{n:05d}")) for n in range(10))
    )
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [503] * 10
    assert all(r.json()["type"] == problem_uri("service-unavailable") for r in responses)
    assert 0.9 <= elapsed < 3.0  # about one timeout (1 s), not one per login
    assert idp.jwks_fetches == 1
