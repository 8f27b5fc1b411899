"""The ``shlink:/`` payload, the JWE of a shared file and the passcode hash (pure functions),
against the SMART Health Cards and Links IG v1.0.0's own example."""

from __future__ import annotations

import json

import pytest

from api.core.settings import SHL_MAX_BASE_URL, Settings, SettingsError
from api.sharing import links

# links-specification.md of HL7/smart-health-cards-and-links (STU1): the example payload
SPEC_JSON = (
    b'{"url":"https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m",'
    b'"flag":"LP","key":"rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q",'
    b'"label":"Back-to-school immunizations for Oliver Brown"}'
)
SPEC_SHLINK = (
    "shlink:/eyJ1cmwiOiJodHRwczovL2Voci5leGFtcGxlLm9yZy9xci9ZOXh3a1VkdG1OOXd3b0pvTjNmZkpJaFgyVU"
    "d2Q0wxSm5sUFZOTDNrRFdNL20iLCJmbGFnIjoiTFAiLCJrZXkiOiJyeFRnWWxPYUtKUEZ0Y0VkMHFjY2VOOHdFVT"
    "RwOTRTcUF3SVdRZTZ1WDdRIiwibGFiZWwiOiJCYWNrLXRvLXNjaG9vbCBpbW11bml6YXRpb25zIGZvciBPbGl2ZXI"
    "gQnJvd24ifQ"
)
SPEC_KEY = "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q"


def test_the_spec_example_encodes_and_decodes() -> None:
    assert links.encode_json(SPEC_JSON) == SPEC_SHLINK
    payload = links.decode(SPEC_SHLINK)
    assert payload.url == "https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m"
    assert payload.flag == "LP"
    assert payload.key == SPEC_KEY
    assert payload.label == "Back-to-school immunizations for Oliver Brown"
    assert payload.exp is None
    # after a viewer URL's '#', too
    assert links.decode("https://viewer.example/#" + SPEC_SHLINK) == payload


def test_encoding_round_trips_and_leaves_out_empty_members() -> None:
    key = links.new_key()
    url = "https://h.example/shl/" + links.new_secret()
    text = links.encode(url=url, key=key, exp=1_800_000_000, flag="LP", label="Bác sĩ")
    raw = json.loads(links.b64url_decode(text.removeprefix(links.PREFIX)))
    assert raw == {"url": url, "key": key, "exp": 1_800_000_000, "flag": "LP", "label": "Bác sĩ"}
    assert "=" not in text
    decoded = links.decode(text)
    assert (decoded.url, decoded.key, decoded.exp, decoded.flag) == (url, key, 1_800_000_000, "LP")
    bare = json.loads(
        links.b64url_decode(
            links.encode(url=url, key=key, exp=None, flag="", label=None).removeprefix(links.PREFIX)
        )
    )
    assert bare == {"url": url, "key": key}


def test_unknown_members_are_ignored_and_bad_payloads_refused() -> None:
    extended = json.loads(SPEC_JSON) | {"v": 1, "extension": {"x": 1}, "_note": "ignored"}
    assert links.decode(links.encode_json(json.dumps(extended).encode())).key == SPEC_KEY
    for text in (
        "shc:/123",
        "shlink:/!!!",
        links.encode_json(b'{"url":"https://a.example"}'),  # no key
        links.encode_json(json.dumps({"url": "x" * 129, "key": SPEC_KEY}).encode()),
        links.encode_json(json.dumps({"url": "https://a", "key": "short"}).encode()),
    ):
        with pytest.raises(links.PayloadError):
            links.decode(text)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"flag": "PL"}, "alphabetical"),
        ({"flag": "X"}, "alphabetical"),
        ({"label": "x" * 81}, "label"),
        ({"url": "https://h.example/" + "x" * 111}, "url"),
    ],
)
def test_encode_refuses_what_the_spec_forbids(fields: dict, why: str) -> None:
    values = {"url": "https://h.example/shl/x", "key": SPEC_KEY, "exp": None, "flag": ""}
    values |= {"label": None} | fields
    with pytest.raises(links.PayloadError, match=why):
        links.encode(**values)


def test_flags_are_in_alphabetical_order() -> None:
    assert links.flags(long_term=True, passcode=True) == "LP"
    assert links.flags(long_term=False, passcode=True) == "P"
    assert links.flags(long_term=True, passcode=False) == "L"
    assert links.flags(long_term=False, passcode=False) == ""


def test_secrets_carry_256_bits() -> None:
    keys = {links.new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(k) == 43 and len(links.b64url_decode(k)) == 32 for k in keys)
    assert all(len(links.b64url_decode(links.new_secret())) == 32 for _ in range(10))


def test_jwe_round_trip_with_a_fresh_iv_each_time() -> None:
    key = links.new_key()
    first = links.encrypt(key, b'{"resourceType":"Bundle"}')
    second = links.encrypt(key, b'{"resourceType":"Bundle"}')
    assert first.split(".")[2] != second.split(".")[2]
    header = json.loads(links.b64url_decode(first.split(".")[0]))
    assert header == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json", "zip": "DEF"}
    assert links.decrypt(key, first) == b'{"resourceType":"Bundle"}'
    with pytest.raises(links.PayloadError):
        links.decrypt(links.new_key(), first)
    with pytest.raises(links.PayloadError):
        links.decrypt(key, first[:-3] + "AAA")


def test_a_jwe_without_cty_and_with_a_kid_is_read() -> None:
    """The spec's own IPS example carries ``kid`` and no ``cty``: receivers must accept it."""
    from joserfc import jwe
    from joserfc.jwk import OctKey

    token = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM", "kid": "k1"},
        b"{}",
        OctKey.import_key(links.b64url_decode(SPEC_KEY)),
    )
    assert links.decrypt(SPEC_KEY, token) == b"{}"


def test_only_a_hash_of_the_passcode_is_kept() -> None:
    stored = links.hash_passcode("2468")
    assert "2468" not in stored
    assert stored.startswith("scrypt-")
    assert links.check_passcode(stored, "2468")
    assert not links.check_passcode(stored, "2469")
    assert not links.check_passcode("bcrypt$x$y", "2468")
    assert links.hash_passcode("2468") != stored  # salted


def test_settings_bound_the_sharing_limits_and_the_base_url() -> None:
    assert Settings.from_env({}).sharing.max_days == 90
    for env in (
        {"SHARING_MAX_DAYS": "0"},
        {"SHARING_MAX_DAYS": "366"},
        {"SHARING_PASSCODE_ATTEMPTS": "0"},
        {"SHARING_FILE_URL_SECONDS": "3601"},
        {"PUBLIC_BASE_URL": "https://" + "h" * SHL_MAX_BASE_URL},
    ):
        with pytest.raises(SettingsError, match=next(iter(env))):
            Settings.from_env(env)
    base = "https://" + "h" * (SHL_MAX_BASE_URL - len("https://"))
    assert Settings.from_env({"PUBLIC_BASE_URL": base}).issuer == base
    assert len(base + "/shl/" + links.new_secret()) == 128
