"""A citizen's ``QuestionnaireResponse``, checked against the Questionnaire it answers.

Checked, with every problem reported (FHIRPath and the item's ``linkId`` path): the resource's
shape; each item's ``linkId`` known at its place in the tree (nested groups followed); one answer
unless the question repeats; each answer's ``value[x]`` of the question's type; a choice's answer
among its ``answerOption``; no answer to an item ``enableWhen`` disables; and, when the response is
``completed``, an answer to every enabled ``required`` item. ``in-progress`` may leave required
items empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.health_book.fhir.outcome import FhirError, Issue
from api.questionnaires.definitions import (
    ANSWER_KEYS,
    MAX_DEPTH,
    Condition,
    Definition,
    Item,
    Option,
    answer_value,
    decode_json,
)

STATUSES = frozenset({"in-progress", "completed", "amended"})


@dataclass
class Answered:
    """One answered item as read back: its ``linkId`` path, text and answers' labels."""

    path: str
    text: str | None
    values: list[str]


@dataclass
class Checked:
    """A response that passed: its status, the resource to store, the answers by linkId."""

    status: str
    resource: dict[str, Any]
    answers: dict[str, list[Any]] = field(default_factory=dict)


def _issue(code: str, diagnostics: str, where: str, path: str | None) -> Issue:
    text = f"{path}: {diagnostics}" if path else diagnostics
    return Issue(code=code, diagnostics=text, expression=where)  # type: ignore[arg-type]


def _collect(definition: Definition, raw_items: Any, depth: int, out: dict[str, list[Any]]) -> None:
    """Every parseable answer by ``linkId`` (for enableWhen), before the full check (which
    refuses what nests deeper than the questionnaire)."""
    if not isinstance(raw_items, list) or depth > MAX_DEPTH:
        return
    for entry in raw_items:
        if not isinstance(entry, dict):
            continue
        item = definition.by_link_id.get(entry.get("linkId"))  # type: ignore[arg-type]
        if item is None:
            continue
        for answer in entry.get("answer") or []:
            if isinstance(answer, dict):
                value = _value(item, answer)
                if not (isinstance(value, str) and value.startswith("\0")):
                    out.setdefault(item.link_id, []).append(value)
        _collect(definition, entry.get("item"), depth + 1, out)


def _value(item: Item, answer: dict[str, Any]) -> Any:
    keys = [key for key in answer if key.startswith("value")]
    if len(keys) != 1:
        return "\0needs exactly one value[x]"
    key = keys[0]
    if item.type == "choice":
        if key not in ("valueCoding", "valueString"):
            return f"\0a choice answer is valueCoding or valueString, not {key}"
    elif key != ANSWER_KEYS[item.type]:
        return f"\0a {item.type} answer is {ANSWER_KEYS[item.type]}, not {key}"
    return answer_value(item.type, key[5:], answer[key])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Option) and isinstance(b, Option):
        if a.string is not None or b.string is not None:
            return a.string == b.string
        return a.code == b.code and (a.system is None or b.system is None or a.system == b.system)
    if isinstance(a, Option) or isinstance(b, Option):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _compare(operator: str, value: Any, target: Any) -> bool:
    if operator == "=":
        return _same(value, target)
    if operator == "!=":
        return not _same(value, target)
    if isinstance(value, Option | bool) or isinstance(target, Option | bool):
        return False
    numbers = isinstance(value, int | float) and isinstance(target, int | float)
    if not numbers and type(value) is not type(target):
        return False
    if operator == ">":
        return value > target
    if operator == "<":
        return value < target
    if operator == ">=":
        return value >= target
    return value <= target


def holds(condition: Condition, answers: dict[str, list[Any]]) -> bool:
    """One enableWhen against the answers given: ``exists`` compares presence; the other
    operators are false for an unanswered question, ``!=`` is true when no answer equals."""
    given = answers.get(condition.question, [])
    if condition.operator == "exists":
        return bool(given) == condition.answer
    if not given:
        return False
    if condition.operator == "!=":
        return not any(_same(value, condition.answer) for value in given)
    return any(_compare(condition.operator, value, condition.answer) for value in given)


def enabled(item: Item, answers: dict[str, list[Any]]) -> bool:
    if not item.conditions:
        return True
    results = [holds(condition, answers) for condition in item.conditions]
    return all(results) if item.behavior == "all" else any(results)


class _Checker:
    def __init__(self, definition: Definition, answers: dict[str, list[Any]], completed: bool):
        self.definition = definition
        self.answers = answers
        self.completed = completed
        self.issues: list[Issue] = []
        self.read: list[Answered] = []

    def add(self, code: str, diagnostics: str, where: str, path: str | None = None) -> None:
        self.issues.append(_issue(code, diagnostics, where, path))

    def level(
        self,
        items: list[Item],
        raw: Any,
        where: str,
        prefix: str,
        parent_enabled: bool,
    ) -> bool:
        """Check one level of the tree; answer whether anything in it was answered."""
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            self.add("structure", "item must be an array", f"{where}.item", prefix or None)
            return False
        known = {item.link_id: item for item in items}
        given: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, entry in enumerate(raw):
            at = f"{where}.item[{index}]"
            if not isinstance(entry, dict):
                self.add("structure", "an item must be a JSON object", at, prefix or None)
                continue
            link_id = entry.get("linkId")
            if not isinstance(link_id, str):
                self.add(
                    "required", "linkId (a string) is required", f"{at}.linkId", prefix or None
                )
                continue
            if link_id not in known:
                where_else = link_id in self.definition.by_link_id
                self.add(
                    "structure",
                    f"linkId {link_id!r} is not "
                    + (
                        "at this level of the questionnaire"
                        if where_else
                        else "in the questionnaire"
                    ),
                    f"{at}.linkId",
                    f"{prefix}{link_id}",
                )
                continue
            given.setdefault(link_id, []).append((index, entry))
        anything = False
        for item in items:
            path = f"{prefix}{item.link_id}"
            entries = given.get(item.link_id, [])
            on = parent_enabled and enabled(item, self.answers)
            if len(entries) > 1 and not (item.type == "group" and item.repeats):
                self.add(
                    "structure",
                    "the item appears more than once",
                    f"{where}.item[{entries[1][0]}]",
                    path,
                )
                entries = entries[:1]
            answered_here = False
            for index, entry in entries:
                at = f"{where}.item[{index}]"
                if item.type == "group":
                    if "answer" in entry:
                        self.add(
                            "structure", "a group has items, not answers", f"{at}.answer", path
                        )
                    answered_here |= self.level(item.items, entry.get("item"), at, f"{path}/", on)
                elif item.type == "display":
                    if "answer" in entry or "item" in entry:
                        self.add("structure", "a display item takes no answer", at, path)
                else:
                    if "item" in entry:
                        self.add(
                            "structure",
                            "a question's answers do not hold items here",
                            f"{at}.item",
                            path,
                        )
                    answered_here |= self.question(item, entry, at, path)
            if answered_here and not on:
                self.add(
                    "business-rule",
                    "answered although the item is not enabled (enableWhen)",
                    f"{where}.item[{entries[0][0]}]",
                    path,
                )
            if on and self.completed and item.required and not answered_here:
                at = f"{where}.item[{entries[0][0]}]" if entries else where
                self.add("required", "a required item has no answer", at, path)
            anything |= answered_here
        return anything

    def question(self, item: Item, entry: dict[str, Any], at: str, path: str) -> bool:
        raw = entry.get("answer")
        if raw is None:
            return False
        if not isinstance(raw, list):
            self.add("structure", "answer must be an array", f"{at}.answer", path)
            return False
        if len(raw) > 1 and not item.repeats:
            self.add(
                "structure",
                "only one answer is allowed (the question does not repeat)",
                f"{at}.answer",
                path,
            )
        labels: list[str] = []
        for index, answer in enumerate(raw):
            where = f"{at}.answer[{index}]"
            if not isinstance(answer, dict):
                self.add("structure", "an answer must be a JSON object", where, path)
                continue
            value = _value(item, answer)
            if isinstance(value, str) and value.startswith("\0"):
                self.add("value", value[1:], where, path)
                continue
            if item.type == "choice":
                match = next((o for o in item.options if _same(o, value)), None)
                if match is None:
                    self.add(
                        "value", "the answer is not one of the item's answerOption", where, path
                    )
                    continue
                labels.append(match.label())
            else:
                labels.append(str(value).lower() if isinstance(value, bool) else str(value))
        if labels:
            self.read.append(Answered(path=path, text=item.text, values=labels))
        return bool(raw)


def check_response(definition: Definition, body: bytes) -> tuple[Checked, list[Answered]]:
    """Check ``body`` against ``definition``; raise one ``FhirError`` (422) with every issue."""
    data = decode_json(body, "QuestionnaireResponse")
    issues: list[Issue] = []
    status = data.get("status")
    if status not in STATUSES:
        issues.append(
            _issue(
                "value",
                "status must be in-progress or completed",
                "QuestionnaireResponse.status",
                None,
            )
        )
    answers: dict[str, list[Any]] = {}
    _collect(definition, data.get("item"), 1, answers)
    checker = _Checker(definition, answers, completed=status in ("completed", "amended"))
    checker.level(definition.items, data.get("item"), "QuestionnaireResponse", "", True)
    issues.extend(checker.issues)
    if issues:
        raise FhirError(issues, status=422)
    return Checked(status=str(status), resource=data, answers=answers), checker.read
