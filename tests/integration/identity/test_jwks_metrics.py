"""JWKS fetches are counted per provider (the JWKS URI's host) and result."""

from __future__ import annotations

from tests.support.auth import exchange
from tests.support.promlint import value

NATIONAL_ID = "001090054321"


async def test_jwks_fetches_and_failures_are_counted_per_provider(
    client, app, citizen, idp
) -> None:
    def fetches(result: str) -> float | None:
        text = app.state.runtime.metrics.exposition()[0].decode()
        return value(text, "healthbook_jwks_fetches_total", provider="127.0.0.1", result=result)

    assert fetches("ok") is None
    idp.failing = True
    assert (await exchange(client, idp.id_token(NATIONAL_ID))).status_code == 503
    assert (fetches("ok"), fetches("failed")) == (None, 1)
    idp.failing = False
    settings = app.state.settings
    monotonic = app.state.jwks._now
    app.state.jwks._now = lambda: monotonic() + settings.identity.jwks_refetch_cooldown_seconds + 1
    assert (await exchange(client, idp.id_token(NATIONAL_ID))).status_code == 200
    assert (fetches("ok"), fetches("failed")) == (1, 1)
    assert idp.jwks_fetches == 2
