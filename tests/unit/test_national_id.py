import pytest

from api.identity import national_id


def test_normalise_strips_separators_and_checks_the_pattern() -> None:
    assert national_id.normalise(" 001-090.012 345 ") == "001090012345"
    assert national_id.normalise("abc123") == "ABC123"
    with pytest.raises(national_id.InvalidNationalId):
        national_id.normalise("12345", r"^\d{12}$")
    for bad in ("", "a/b", None, True, "x" * 65):
        with pytest.raises(national_id.InvalidNationalId):
            national_id.normalise(bad)


def test_keyed_hash_depends_on_the_key_and_the_number_only() -> None:
    a = national_id.keyed_hash("k1", "001090012345")
    assert a == national_id.keyed_hash("k1", "001090012345")
    assert a != national_id.keyed_hash("k2", "001090012345")
    assert a != national_id.keyed_hash("k1", "001090012346")
    assert "001090012345" not in a
    assert len(a) == 64


def test_mask_shows_the_last_three_and_fits_its_column() -> None:
    assert national_id.mask("001090012345") == "•••••••••345"
    long = national_id.mask("5542148C67D64D91BE7129973234A33B000123")
    assert long.endswith("123")
    assert len(long) <= 32
    assert national_id.mask("12345") == "••••5"
