"""Properties of the ``shlink:/`` payload and the shared files' JWE, over generated inputs:
whatever goes in comes back out, the encoding stays within what the spec allows, and a file
opens only with its own key, untouched."""

from __future__ import annotations

import json
import string
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe
from joserfc.jwk import OctKey

from api.sharing import links

B64URL = string.ascii_letters + string.digits + "-_"
keys = st.binary(min_size=32, max_size=32).map(links.b64url)
flags = st.sampled_from(["", "L", "P", "U", "LP", "LU"])
labels = st.none() | st.text(min_size=1, max_size=80)
expiries = st.none() | st.integers(min_value=0, max_value=2**40)
urls = st.builds(
    lambda host, segment: f"https://{host}.example/shl/{segment}",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=40),
    st.text(alphabet=B64URL, min_size=43, max_size=43),
)


@given(url=urls, key=keys, exp=expiries, flag=flags, label=labels)
def test_a_payload_decodes_to_what_was_encoded(
    url: str, key: str, exp: int | None, flag: str, label: str | None
) -> None:
    text = links.encode(url=url, key=key, exp=exp, flag=flag, label=label)
    assert text.startswith(links.PREFIX)
    encoded = text.removeprefix(links.PREFIX)
    assert set(encoded) <= set(B64URL)  # base64url, no padding
    decoded = links.decode(text)
    assert (decoded.url, decoded.key, decoded.exp) == (url, key, exp)
    assert decoded.flag == (flag or None)
    assert decoded.label == (label or None)
    assert links.decode(f"https://viewer.example/#{text}") == decoded
    raw = json.loads(links.b64url_decode(encoded))
    assert json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode() == (
        links.b64url_decode(encoded)
    )  # minified


@given(
    flag=st.text(alphabet="LPUX", min_size=1, max_size=4).filter(
        lambda f: f not in {"L", "P", "U", "LP", "LU"}
    )
)
def test_flags_out_of_order_unknown_repeated_or_p_with_u_are_refused(flag: str) -> None:
    with pytest.raises(links.PayloadError):
        links.encode(url="https://h.example/shl/x", key="k" * 43, exp=None, flag=flag, label=None)


@given(long_term=st.booleans(), passcode=st.booleans(), direct=st.booleans())
def test_flag_letters_are_alphabetical_and_never_p_with_u(
    long_term: bool, passcode: bool, direct: bool
) -> None:
    if passcode and direct:
        with pytest.raises(links.PayloadError):
            links.flags(long_term=long_term, passcode=passcode, direct=direct)
        return
    flag = links.flags(long_term=long_term, passcode=passcode, direct=direct)
    assert flag == "".join(sorted(flag))
    assert set(flag) == {
        letter for letter, on in (("L", long_term), ("P", passcode), ("U", direct)) if on
    }


@settings(max_examples=60)
@given(
    key=keys,
    plaintext=st.binary(max_size=4096),
    content_type=st.sampled_from(
        [links.FHIR_JSON, "application/smart-health-card", "application/smart-api-access"]
    ),
)
def test_a_file_decrypts_to_its_plaintext_with_its_key_only(
    key: str, plaintext: bytes, content_type: str
) -> None:
    token = links.encrypt(key, plaintext, content_type)
    protected, encrypted_key, iv, ciphertext, tag = token.split(".")
    assert encrypted_key == ""  # alg dir: no encrypted key
    assert len(links.b64url_decode(iv)) == 12  # a 96-bit IV
    assert len(links.b64url_decode(tag)) == 16
    header = json.loads(links.b64url_decode(protected))
    assert header == {"alg": "dir", "enc": "A256GCM", "cty": content_type, "zip": "DEF"}
    assert links.decrypt(key, token) == plaintext
    # any receiver: AES-GCM with the protected header as AAD, then raw DEFLATE (RFC 1951)
    opened = AESGCM(links.b64url_decode(key)).decrypt(
        links.b64url_decode(iv),
        links.b64url_decode(ciphertext) + links.b64url_decode(tag),
        protected.encode("ascii"),
    )
    assert zlib.decompress(opened, -15) == plaintext
    assert links.encrypt(key, plaintext, content_type).split(".")[2] != iv  # a fresh IV
    other = links.new_key()
    with pytest.raises(links.PayloadError):
        links.decrypt(other, token)
    if ciphertext:  # a flipped bit in the ciphertext fails authentication
        raw = bytearray(links.b64url_decode(ciphertext))
        raw[0] ^= 1
        tampered = ".".join((protected, "", iv, links.b64url(bytes(raw)), tag))
        with pytest.raises(links.PayloadError):
            links.decrypt(key, tampered)


@settings(max_examples=30)
@given(key=keys, plaintext=st.binary(max_size=2048))
def test_files_other_senders_make_open_too(key: str, plaintext: bytes) -> None:
    """A receiver's side: a JWE with an extra ``kid`` and no ``cty`` (as the spec's own example
    file), or with ``zip: DEF`` (raw DEFLATE), decrypts to the plaintext."""
    secret = OctKey.import_key(links.b64url_decode(key))
    plain = jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM", "kid": "x"}, plaintext, secret)
    assert links.decrypt(key, plain) == plaintext
    zipped = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM", "zip": "DEF", "cty": links.FHIR_JSON}, plaintext, secret
    )
    assert links.decrypt(key, zipped) == plaintext
