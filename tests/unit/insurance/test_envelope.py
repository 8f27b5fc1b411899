"""The GIAMDINHHS envelope: its episodes and their files, problems per episode, the caps."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from api.insurance import envelope, signature, vocabulary, xmlsafe
from api.insurance.service import follow_ups
from tests.support.qd130_envelope import (
    build_envelope,
    envelope_tree,
    signing_identity,
    tamper,
)

XML1 = b"<TONG_HOP><MA_LK> LK-1 </MA_LK></TONG_HOP>"
NOW = dt.datetime.now(dt.UTC)


def read(body: bytes, **caps: int) -> envelope.Envelope:
    root = xmlsafe.parse(body, max_bytes=10**8)
    return envelope.read(
        root,
        max_file_bytes=caps.get("max_file_bytes", 10**6),
        max_episodes=caps.get("max_episodes", 100),
    )


def test_episodes_keep_their_files_in_order_and_their_ma_lk() -> None:
    twins = [("XML1", XML1), ("XML7", b"<A/>"), ("XML7", b"<B/>")]
    read_back = read(build_envelope("79001", [twins, {"XML1": XML1}], signed=False))
    assert read_back.facility_code == "79001"
    assert read_back.declared_count == 2
    first, second = read_back.episodes
    assert first.files == twins
    assert first.ma_lk == "LK-1"
    assert (first.problems, second.index) == ([], 1)


def test_each_bad_file_is_a_problem_of_its_own_episode() -> None:
    body = build_envelope(
        "79001",
        [
            [("XML1", XML1), ("XML16", b"<X/>"), ("XML2", "%%%not base64")],
            [("XML2", b"<CHITIEU_CHITIET_THUOC/>")],
        ],
        signed=False,
    )
    first, second = read(body).episodes
    assert [(p.table, p.field, p.value) for p in first.problems] == [
        ("FILEHOSO", "LOAIHOSO", "XML16"),
        ("XML2", "NOIDUNGFILE", None),
    ]
    assert all(p.ma_lk == "LK-1" for p in first.problems)
    assert first.files == [("XML1", XML1)]
    assert [p.rule for p in second.problems] == ["every episode needs its XML1 (the summary table)"]


def test_caps_per_file_and_per_envelope() -> None:
    big = [("XML1", XML1), ("XML2", b"x" * 5000)]
    (episode,) = read(build_envelope("79001", [big], signed=False), max_file_bytes=4096).episodes
    assert "larger than 4,096 bytes" in episode.problems[0].rule
    with pytest.raises(envelope.EnvelopeError, match="more than 1 episodes"):
        read(build_envelope("79001", [{"XML1": XML1}] * 2, signed=False), max_episodes=1)


def test_base64_with_line_breaks_is_read() -> None:
    wrapped = "\n".join(base64.b64encode(XML1 * 10).decode()[i : i + 76] for i in range(0, 600, 76))
    (episode,) = read(build_envelope("79001", [[("XML1", wrapped)]], signed=False)).episodes
    assert episode.files == [("XML1", XML1 * 10)]


def test_an_envelope_without_facility_code_is_refused() -> None:
    root = envelope_tree("", [{"XML1": XML1}])
    with pytest.raises(envelope.EnvelopeError, match="MACSKCB"):
        envelope.read(root, max_file_bytes=10**6, max_episodes=10)


def test_the_signature_verifies_against_the_registered_certificate_only() -> None:
    body = build_envelope("79001", [{"XML1": XML1}])
    identity = signing_identity()
    verified = signature.verify(body, [identity.cert_pem], now=NOW)
    assert verified.certificate_sha256 == identity.sha256
    assert verified.root.tag == "GIAMDINHHS"
    assert verified.signature_value
    other = signing_identity("Another hospital")
    with pytest.raises(signature.SignatureError):
        signature.verify(body, [other.cert_pem], now=NOW)
    with pytest.raises(signature.SignatureError, match="no registered"):
        signature.verify(body, [], now=NOW)
    # either of two registered certificates (a renewal) will do
    assert signature.verify(body, [other.cert_pem, identity.cert_pem], now=NOW)


def test_any_change_to_the_signed_content_breaks_the_signature() -> None:
    body = build_envelope("79001", [{"XML1": XML1}])
    identity = signing_identity()
    for old, new in ((b"79001", b"79002"), (b"<NGAYLAP>20261120", b"<NGAYLAP>20261121")):
        with pytest.raises(signature.SignatureError, match="does not verify"):
            signature.verify(tamper(body, old, new), [identity.cert_pem], now=NOW)


def test_follow_ups_are_the_proposed_appointments_days() -> None:
    bundle = {
        "entry": [
            {
                "resource": {
                    "resourceType": "Appointment",
                    "status": "proposed",
                    "requestedPeriod": [{"start": "2027-01-05", "end": "2027-01-05"}],
                    "serviceType": [
                        {"coding": [{"system": vocabulary.DEPARTMENT_CODE, "code": "K01"}]}
                    ],
                }
            },
            {
                "resource": {
                    "resourceType": "Appointment",
                    "status": "proposed",
                    "requestedPeriod": [{"start": "2027-01-02T08:00:00+07:00"}],
                }
            },
            {"resource": {"resourceType": "Appointment", "status": "booked", "start": "2027"}},
            {"resource": {"resourceType": "Encounter"}},
        ]
    }
    days = follow_ups(bundle)
    assert [day.isoformat() for day, _ in days] == ["2027-01-02", "2027-01-05"]
    assert days == [(days[0][0], None), (days[1][0], "K01")]
