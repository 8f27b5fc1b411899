"""The questionnaire rules without I/O: a Questionnaire's checks and the enableWhen operators."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from api.health_book.fhir.outcome import FhirError
from api.questionnaires.answers import check_response
from api.questionnaires.definitions import Definition, parse_questionnaire


def _questionnaire(*items: dict[str, Any]) -> Definition:
    body = {"resourceType": "Questionnaire", "status": "active", "item": list(items)}
    return parse_questionnaire(msgspec.json.encode(body), logical_id="q")


def _answer(definition: Definition, *items: dict[str, Any], status: str = "completed") -> None:
    body = {"resourceType": "QuestionnaireResponse", "status": status, "item": list(items)}
    check_response(definition, msgspec.json.encode(body))


def _refused(definition: Definition, *items: dict[str, Any]) -> list[str]:
    with pytest.raises(FhirError) as caught:
        _answer(definition, *items)
    assert caught.value.status == 422
    return [issue.diagnostics for issue in caught.value.issues]


AGE = {"linkId": "age", "type": "integer"}


def _gated(operator: str, **answer: Any) -> Definition:
    return _questionnaire(
        AGE,
        {
            "linkId": "more",
            "type": "string",
            "required": True,
            "enableWhen": [{"question": "age", "operator": operator, **answer}],
        },
    )


@pytest.mark.parametrize(
    ("operator", "age", "enabled"),
    [
        (">", 18, False),
        (">", 19, True),
        (">=", 18, True),
        ("<", 18, False),
        ("<=", 18, True),
        ("=", 18, True),
        ("!=", 18, False),
        ("!=", 17, True),
    ],
)
def test_comparison_operators(operator: str, age: int, enabled: bool) -> None:
    definition = _gated(operator, answerInteger=18)
    given = {"linkId": "age", "answer": [{"valueInteger": age}]}
    more = {"linkId": "more", "answer": [{"valueString": "x"}]}
    if enabled:
        _answer(definition, given, more)
        assert _refused(definition, given) == ["more: a required item has no answer"]
    else:
        _answer(definition, given)
        assert "not enabled" in _refused(definition, given, more)[0]


def test_exists_and_unanswered_questions() -> None:
    exists = _gated("exists", answerBoolean=True)
    _answer(exists)  # age unanswered: more disabled, so not required
    assert _refused(exists, {"linkId": "age", "answer": [{"valueInteger": 1}]})
    absent = _gated("exists", answerBoolean=False)
    assert _refused(absent) == ["more: a required item has no answer"]
    unequal = _gated("!=", answerInteger=3)
    _answer(unequal)  # an unanswered question enables nothing but exists


def test_enable_behavior_any_and_all() -> None:
    def gated(behavior: str) -> Definition:
        return _questionnaire(
            {"linkId": "a", "type": "boolean"},
            {"linkId": "b", "type": "boolean"},
            {
                "linkId": "c",
                "type": "string",
                "required": True,
                "enableBehavior": behavior,
                "enableWhen": [
                    {"question": "a", "operator": "=", "answerBoolean": True},
                    {"question": "b", "operator": "=", "answerBoolean": True},
                ],
            },
        )

    one = [{"linkId": "a", "answer": [{"valueBoolean": True}]}]
    assert _refused(gated("any"), *one) == ["c: a required item has no answer"]
    _answer(gated("all"), *one)


def test_in_progress_may_leave_required_items_empty() -> None:
    definition = _questionnaire({"linkId": "a", "type": "string", "required": True})
    _answer(definition, status="in-progress")
    assert _refused(definition) == ["a: a required item has no answer"]


def test_value_types_are_strict() -> None:
    definition = _questionnaire(
        {"linkId": "i", "type": "integer"},
        {"linkId": "d", "type": "decimal"},
        {"linkId": "b", "type": "boolean"},
        {"linkId": "t", "type": "date"},
    )
    issues = _refused(
        definition,
        {"linkId": "i", "answer": [{"valueInteger": 1.5}]},
        {"linkId": "d", "answer": [{"valueDecimal": True}]},
        {"linkId": "b", "answer": [{"valueBoolean": "true"}]},
        {"linkId": "t", "answer": [{"valueDate": "2024-02-30"}]},
    )
    assert [issue.split(":")[0] for issue in issues] == ["i", "d", "b", "t"]


def test_a_repeating_group_and_repeating_answers() -> None:
    definition = _questionnaire(
        {
            "linkId": "drug",
            "type": "group",
            "repeats": True,
            "item": [{"linkId": "name", "type": "string", "repeats": True, "required": True}],
        }
    )
    _answer(
        definition,
        {"linkId": "drug", "item": [{"linkId": "name", "answer": [{"valueString": "a"}]}]},
        {
            "linkId": "drug",
            "item": [{"linkId": "name", "answer": [{"valueString": "b"}, {"valueString": "c"}]}],
        },
    )


def test_enable_when_types_and_targets_are_checked_on_publish() -> None:
    with pytest.raises(FhirError) as caught:
        _questionnaire(
            {"linkId": "g", "type": "group", "item": [{"linkId": "x", "type": "boolean"}]},
            {
                "linkId": "y",
                "type": "string",
                "enableWhen": [{"question": "x", "operator": "=", "answerInteger": 1}],
            },
            {
                "linkId": "z",
                "type": "string",
                "enableWhen": [{"question": "g", "operator": "exists", "answerBoolean": True}],
            },
            {
                "linkId": "w",
                "type": "boolean",
                "enableWhen": [{"question": "x", "operator": ">", "answerBoolean": True}],
            },
        )
    where = [issue.expression for issue in caught.value.issues]
    assert where == [
        "Questionnaire.item[1].enableWhen[0].answerInteger",
        "Questionnaire.item[2].enableWhen[0].question",
        "Questionnaire.item[3].enableWhen[0].operator",
    ]


def test_hostile_bodies_are_client_errors() -> None:
    with pytest.raises(FhirError) as deep:
        parse_questionnaire(b"[" * 100_000 + b"]" * 100_000, logical_id="q")
    assert deep.value.status == 413
    definition = _questionnaire(
        {"linkId": "d", "type": "decimal"}, {"linkId": "i", "type": "integer"}
    )
    issues = _refused(
        definition,
        {"linkId": "d", "answer": [{"valueDecimal": 10**400}]},
        {"linkId": "i", "answer": [{"valueInteger": 2**40}]},
    )
    assert [issue.split(":")[0] for issue in issues] == ["d", "i"]
    nested: dict[str, Any] = {"linkId": "d"}
    for _ in range(200):
        nested = {"linkId": "d", "item": [nested]}
    assert _refused(definition, nested)


def test_a_title_longer_than_its_column_is_refused() -> None:
    body = {"resourceType": "Questionnaire", "status": "active", "title": "x" * 501}
    body["item"] = [{"linkId": "a", "type": "string"}]
    with pytest.raises(FhirError) as caught:
        parse_questionnaire(msgspec.json.encode(body), logical_id="q")
    assert [issue.expression for issue in caught.value.issues] == ["Questionnaire.title"]
