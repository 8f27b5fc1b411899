"""The byte scan that bounds JSON nesting agrees with a plain character-by-character count."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.health_book.fhir import parse
from api.health_book.fhir.parse import nesting_depth
from tests.support.fhir_samples import sample_bytes, sample_names

TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}"\\/aé\n\u2028')), max_size=8)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4)
    ),
    max_leaves=60,
)


def reference_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def encodings(value: Any) -> list[bytes]:
    return [
        json.dumps(value).encode(),
        json.dumps(value, ensure_ascii=False, indent=1).encode(),
    ]


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, limit=st.integers(min_value=0, max_value=12))
def test_matches_a_plain_count(value: Any, limit: int) -> None:
    for body in encodings(value):
        assert nesting_depth(body, limit) == min(reference_depth(body.decode()), limit + 1)


@settings(max_examples=100, deadline=None)
@given(value=JSON_VALUES, limit=st.integers(min_value=0, max_value=12))
def test_counting_by_runs_matches_too(value: Any, limit: int) -> None:
    with mock.patch.object(parse, "_PEEL_PASSES", 1):
        for body in encodings(value):
            assert nesting_depth(body, limit) == min(reference_depth(body.decode()), limit + 1)


@pytest.mark.parametrize("many", [10, 5000])
def test_escapes_few_and_many(many: int) -> None:
    text = json.dumps({"a": ['"[\\n' * many, {"b": '\\"]' * many}, "\\"]})
    assert nesting_depth(text.encode(), 64) == reference_depth(text) == 3


@pytest.mark.parametrize("name", sample_names())
def test_samples(name: str) -> None:
    body = sample_bytes(name)
    assert nesting_depth(body, 64) == reference_depth(body.decode())


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_very_deep_is_cut_short(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    assert nesting_depth(body, 64) == 65
    assert nesting_depth(body, 10 * depth) == depth
