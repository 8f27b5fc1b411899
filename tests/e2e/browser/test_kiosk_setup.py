"""Setting a kiosk up with what the commands print: ``healthbook demo`` runs as staff run it, and
the two kiosk lines it prints (client id, private key), pasted into the set-up form as they are,
connect the kiosk; so do the same lines in the other order, with the id pasted into its own box,
or into the id box with everything. The form's reading of a paste is also checked on its own
(``credentials.js``, in the browser) against the outputs of ``healthbook demo`` and ``healthbook
clients create --kind kiosk`` and the other shapes a JWK comes in; and the help text says what a
key looks like, whatever the order of its members."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from api.demo import data
from api.demo.client import Api, Credentials, bearer, idempotency_key
from api.demo.seed import hospital_name
from tests.support.server import HEALTHBOOK, free_port


def _wait_for(process: subprocess.Popen[bytes], log: Path, text: str, deadline_s: float) -> str:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        told = log.read_text(errors="replace")
        if text in told:
            return told
        assert process.poll() is None, told[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed in {deadline_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """``healthbook demo`` on a free port and a fresh data folder: (its URL, what it printed,
    its data folder)."""
    folder = tmp_path_factory.mktemp("kiosk-demo")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "DATA_DIR": str(folder / "data")}
    log = folder / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [HEALTHBOOK, "demo", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        told = _wait_for(process, log, "demo is ready", 120)
        yield f"http://127.0.0.1:{port}", told, folder / "data"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _kiosk_lines(told: str) -> list[str]:
    """The two lines the demo prints for the kiosk's set-up, exactly as printed."""
    lines = told.splitlines()
    start = next(i for i, line in enumerate(lines) if "kiosk page:" in line)
    kiosk = lines[start + 1 : start + 3]
    assert "client id" in kiosk[0], kiosk
    assert "private key" in kiosk[1], kiosk
    return kiosk


def _set_up(page: Page, base: str, client_id: str, key: str, *, lang: str = "vi") -> None:
    page.goto(f"{base}/kiosk?setup&lang={lang}")
    page.locator("#client-id").fill(client_id)
    page.locator("#private-key").fill(key)
    page.locator("#setup-form button[type=submit]").click()


def test_the_demo_s_printed_kiosk_lines_set_the_kiosk_up(
    page: Page, demo: tuple[str, str, Path]
) -> None:
    base, told, data_dir = demo
    kiosk = _kiosk_lines(told)
    client_id = kiosk[0].split(":", 1)[1].strip()
    ready = page.locator("#kiosk-status")

    # the two lines as printed, into the key box
    _set_up(page, base, "", "\n".join(kiosk))
    expect(ready).to_have_attribute("data-state", "ready")
    expect(page.locator("#scan-input")).to_be_visible()
    expect(page.locator("#client-id")).to_have_value(client_id)

    # the other way round, and with the id box still holding another kiosk's id
    _set_up(page, base, "kiosk-of-another-day", "\n".join(reversed(kiosk)))
    expect(ready).to_have_attribute("data-state", "ready")

    # the id in its box, the key line (label included) in the other
    _set_up(page, base, client_id, kiosk[1], lang="en")
    expect(ready).to_have_attribute("data-state", "ready")

    # both lines pasted into the id box (an input keeps them on one line)
    page.goto(f"{base}/kiosk?setup")
    page.locator("#client-id").fill("")
    page.locator("#client-id").focus()
    page.keyboard.insert_text("\n".join(kiosk))
    page.locator("#setup-form button[type=submit]").click()
    expect(ready).to_have_attribute("data-state", "ready")

    # and the kiosk so set up checks a patient in: the demo's citizen books and shows the code
    token = re.search(r"TOKEN=(\S+)", told).group(1)  # type: ignore[union-attr]
    code = _demo_check_in_code(base, data_dir, token)
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect(page.locator("#ticket")).to_be_visible()
    expect(page.locator("#ticket-label")).to_have_text(re.compile(r"^[A-Z0-9._-]+-\d{3}$"))


def _demo_check_in_code(base: str, data_dir: Path, token: str) -> str:
    """The walkthrough's way: the demo hospital publishes a slot starting soon (inside the
    check-in window), the demo's citizen books it and fetches the code their app shows."""
    credentials = Credentials(str(data_dir))
    facility = data.FACILITIES[0]
    api = Api(base)
    try:
        hospital = bearer(api.client_token(credentials.clients[hospital_name(facility.id)]))
        slot = data.soon_slot(facility.departments[0], dt.datetime.now(dt.UTC))
        published = api.call("PUT", "/hospital/slots", json={"slots": [slot]}, headers=hospital)
        citizen = bearer(token)
        booked = api.call(
            "POST",
            "/citizens/me/appointments",
            json={"slot_id": published.json()["slots"][0]["slot_id"]},
            headers={**citizen, "Idempotency-Key": idempotency_key()},
            expect=(201,),
        ).json()
        path = f"/citizens/me/appointments/{booked['id']}/check-in"
        return str(api.call("GET", path, headers=citizen).json()["token"])
    finally:
        api.close()


def _parse(page: Page, client_id: str, key: str) -> dict[str, Any]:
    """What the set-up form makes of its two boxes: {clientId, kid} or {error}."""
    return page.evaluate(
        """async ([clientId, key]) => {
          const { parseCredentials } = await import("/static/checkin/credentials.js");
          try {
            const found = parseCredentials(clientId, key);
            return { clientId: found.clientId, kid: found.jwk.kid ?? null, d: !!found.jwk.d };
          } catch (error) {
            return { error: error.key ?? String(error) };
          }
        }""",
        [client_id, key],
    )


def test_the_set_up_form_reads_every_shape_of_paste(
    page: Page, demo: tuple[str, str, Path]
) -> None:
    base, told, _ = demo
    page.goto(f"{base}/kiosk?setup")
    kiosk = _kiosk_lines(told)
    client_id = kiosk[0].split(":", 1)[1].strip()
    printed_jwk = kiosk[1].split(":", 1)[1].strip()
    jwk = json.loads(printed_jwk)
    kid = jwk["kid"]
    assert not printed_jwk.startswith('{"kty"')  # the key order the help text must not assume
    reordered = json.dumps(dict(sorted(jwk.items(), reverse=True)), indent=2)
    public = {k: v for k, v in jwk.items() if k != "d"}
    cli_output = (
        f"client_id: {client_id}\nkind: kiosk; scopes: checkin:write\n"
        "token endpoint (assertion aud): http://127.0.0.1/auth/token\n"
        f"private key (JWK) — shown once, store it as a secret:\n{printed_jwk}\n"
    )
    ok = {"clientId": client_id, "kid": kid, "d": True}
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("", "\n".join(kiosk), ok),  # the demo's lines as printed
        ("", "\n".join(reversed(kiosk)), ok),
        ("", "\n\n  ".join(kiosk) + "\n\n", ok),
        ("", cli_output, ok),  # what `healthbook clients create --kind kiosk` prints
        (client_id, printed_jwk, ok),  # the id and the JWK alone
        (client_id, reordered, ok),  # another member order, on several lines
        (f"client_id: {client_id}", printed_jwk, ok),  # the label typed into the id box
        (" ".join(kiosk), "", ok),  # everything pasted into the id box
        ("", f"client-id = {client_id}\n{printed_jwk}", ok),
        ("", json.dumps({"client_id": client_id, "private_jwk": jwk}), ok),  # a stored entry
        ("", f'"client_id": "{client_id}",\n{printed_jwk}', ok),
        ("kiosk-old-one", "\n".join(kiosk), ok),  # the id pasted with the key wins
        ("", printed_jwk, {"error": "setup.error.no_client"}),
        (client_id, "", {"error": "setup.error.no_key"}),
        (client_id, "not a key", {"error": "setup.error.bad_key"}),
        (client_id, printed_jwk[:-5], {"error": "setup.error.bad_key"}),
        (client_id, json.dumps(public), {"error": "setup.error.public_key"}),
        (client_id, json.dumps({**jwk, "crv": "Ed448"}), {"error": "setup.error.unsupported_key"}),
    ]
    for box, key, expected in cases:
        assert _parse(page, box, key) == expected, (box, key)


def test_the_help_text_describes_the_key_as_printed(
    page: Page, demo: tuple[str, str, Path]
) -> None:
    base, _, _ = demo
    for lang, words in (("vi", ("JWK", "thứ tự bất kỳ")), ("en", ("JWK", "any order"))):
        page.goto(f"{base}/kiosk?setup&lang={lang}")
        help_text = page.locator("#private-key-help").inner_text()
        assert '{"kty"' not in help_text
        for word in words:
            assert word in help_text, (lang, help_text)
