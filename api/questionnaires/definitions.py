"""A FHIR R4 ``Questionnaire`` as a facility publishes it: parsed and checked as a whole.

What is supported: items of type ``group``, ``display``, ``string``, ``text``, ``boolean``,
``choice`` (``answerOption`` with ``valueCoding`` or ``valueString``), ``integer``, ``decimal`` and
``date``; ``required``; ``repeats``; ``enableWhen`` (operators ``exists``, ``=``, ``!=``, ``>``,
``<``, ``>=``, ``<=``) with ``enableBehavior`` ``all`` or ``any``. Every problem found is an
:class:`~api.health_book.fhir.outcome.Issue` with its FHIRPath; :func:`parse_questionnaire` raises
one :class:`FhirError` listing them all (422), or 400 when the body is not a JSON object at all.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from api.health_book.fhir.outcome import FhirError, Issue

QUESTION_TYPES = frozenset({"string", "text", "boolean", "choice", "integer", "decimal", "date"})
ITEM_TYPES = QUESTION_TYPES | {"group", "display"}
OPERATORS = frozenset({"exists", "=", "!=", ">", "<", ">=", "<="})
ORDERED_TYPES = frozenset({"integer", "decimal", "date", "string", "text"})
ANSWER_KEYS = {
    "boolean": "valueBoolean",
    "string": "valueString",
    "text": "valueString",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "date": "valueDate",
}
"""The ``answer[x]``/``value[x]`` element of each question type (``choice``: Coding or string)."""

MAX_ITEMS = 500
MAX_TEXT = 500
"""The longest ``title`` and ``url`` kept (their columns' size)."""
MAX_DEPTH = 8
_LINK_ID = re.compile(r"^[^\s/][^/]{0,254}$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
PUBLISHED_STATUSES = frozenset({"active"})


@dataclass(frozen=True)
class Option:
    """One ``answerOption``: a Coding (system, code) or a string."""

    code: str | None = None
    system: str | None = None
    display: str | None = None
    string: str | None = None

    def label(self) -> str:
        return self.string if self.string is not None else (self.display or self.code or "")


@dataclass(frozen=True)
class Condition:
    """One ``enableWhen``: the question, the operator and the value to compare with."""

    question: str
    operator: str
    answer: Any
    """A bool, str, int, float, date string, or an :class:`Option` for a Coding."""


@dataclass
class Item:
    link_id: str
    type: str
    text: str | None
    required: bool
    repeats: bool
    options: list[Option] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    behavior: str = "all"
    items: list[Item] = field(default_factory=list)

    @property
    def is_question(self) -> bool:
        return self.type in QUESTION_TYPES


@dataclass
class Definition:
    """A checked Questionnaire: its items, and every item by ``linkId``."""

    items: list[Item]
    by_link_id: dict[str, Item]
    title: str | None
    url: str | None
    status: str
    resource: dict[str, Any]


def decode_json(body: bytes, resource_type: str) -> dict[str, Any]:
    """The body as a JSON object of ``resource_type``, or a 400 ``FhirError``."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise FhirError.single("structure", f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise FhirError.single("too-costly", "the JSON nests too deeply") from exc
    if not isinstance(data, dict):
        raise FhirError.single("structure", f"the body must be a JSON object ({resource_type})")
    kind = data.get("resourceType")
    if kind != resource_type:
        raise FhirError.single(
            "invalid",
            f"resourceType must be {resource_type!r}, not {kind!r}",
            "resourceType",
        )
    return data


class _Checker:
    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.by_link_id: dict[str, Item] = {}
        self.count = 0

    def add(self, code: str, diagnostics: str, where: str) -> None:
        self.issues.append(Issue(code=code, diagnostics=diagnostics, expression=where))  # type: ignore[arg-type]

    def text(self, data: dict[str, Any], key: str, where: str, *, required: bool = False) -> Any:
        value = data.get(key)
        if value is None:
            if required:
                self.add("required", f"{key} is required", f"{where}.{key}")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add("value", f"{key} must be a non-empty string", f"{where}.{key}")
            return None
        return value

    def flag(self, data: dict[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.add("value", f"{key} must be true or false", f"{where}.{key}")
            return False
        return value

    def items(self, raw: Any, where: str, depth: int) -> list[Item]:
        if not isinstance(raw, list) or not raw:
            self.add("required", "item must be a non-empty array", f"{where}.item")
            return []
        if depth > MAX_DEPTH:
            self.add("too-costly", f"items nest deeper than {MAX_DEPTH} levels", f"{where}.item")
            return []
        out: list[Item] = []
        for index, entry in enumerate(raw):
            item = self.item(entry, f"{where}.item[{index}]", depth)
            if item is not None:
                out.append(item)
        return out

    def item(self, data: Any, where: str, depth: int) -> Item | None:
        self.count += 1
        if self.count > MAX_ITEMS:
            if self.count == MAX_ITEMS + 1:
                self.add("too-costly", f"more than {MAX_ITEMS} items", where)
            return None
        if not isinstance(data, dict):
            self.add("structure", "an item must be a JSON object", where)
            return None
        link_id = self.text(data, "linkId", where, required=True)
        if link_id is not None and not _LINK_ID.match(link_id):
            self.add(
                "value", "linkId must not contain '/' or start with a space", f"{where}.linkId"
            )
            link_id = None
        kind = data.get("type")
        if kind is None:
            self.add("required", "type is required", f"{where}.type")
        elif kind not in ITEM_TYPES:
            self.add(
                "not-supported",
                f"item type {kind!r} is not supported (supported: {', '.join(sorted(ITEM_TYPES))})",
                f"{where}.type",
            )
            kind = None
        item = Item(
            link_id=link_id or "",
            type=kind or "",
            text=self.text(data, "text", where),
            required=self.flag(data, "required", where),
            repeats=self.flag(data, "repeats", where),
        )
        # enableWhen is checked against the items seen before this one (document order)
        item.conditions, item.behavior = self.conditions(data, where)
        if link_id is not None:
            if link_id in self.by_link_id:
                self.add("duplicate", f"linkId {link_id!r} is used twice", f"{where}.linkId")
            else:
                self.by_link_id[link_id] = item
        if "answerOption" in data:
            if kind != "choice":
                self.add(
                    "structure", "answerOption is only for choice items", f"{where}.answerOption"
                )
            else:
                item.options = self.options(data["answerOption"], where)
        elif kind == "choice":
            self.add("required", "a choice item needs answerOption", f"{where}.answerOption")
        if "answerValueSet" in data:
            self.add(
                "not-supported",
                "answerValueSet is not supported; list answerOption",
                f"{where}.answerValueSet",
            )
        if kind == "group":
            item.items = self.items(data.get("item"), where, depth + 1)
        elif "item" in data:
            self.add(
                "not-supported",
                f"a {kind or 'question'} item cannot hold items (use a group)",
                f"{where}.item",
            )
        if kind == "display" and (item.required or item.repeats):
            self.add("value", "a display item cannot be required or repeat", where)
        return item

    def options(self, raw: Any, where: str) -> list[Option]:
        if not isinstance(raw, list) or not raw:
            self.add("required", "answerOption must be a non-empty array", f"{where}.answerOption")
            return []
        out: list[Option] = []
        seen: set[tuple[str | None, str | None, str | None]] = set()
        for index, entry in enumerate(raw):
            at = f"{where}.answerOption[{index}]"
            if not isinstance(entry, dict):
                self.add("structure", "an answerOption must be a JSON object", at)
                continue
            option = self.coding_or_string(entry, "value", at)
            if option is None:
                continue
            key = (option.system, option.code, option.string)
            if key in seen:
                self.add("duplicate", "the same answerOption is listed twice", at)
            seen.add(key)
            out.append(option)
        return out

    def coding_or_string(self, data: dict[str, Any], prefix: str, at: str) -> Option | None:
        coding = data.get(f"{prefix}Coding")
        string = data.get(f"{prefix}String")
        if (coding is None) == (string is None):
            self.add("required", f"exactly one of {prefix}Coding or {prefix}String is needed", at)
            return None
        if string is not None:
            if not isinstance(string, str) or not string.strip():
                self.add(
                    "value", f"{prefix}String must be a non-empty string", f"{at}.{prefix}String"
                )
                return None
            return Option(string=string)
        where = f"{at}.{prefix}Coding"
        if not isinstance(coding, dict):
            self.add("value", f"{prefix}Coding must be a Coding object", where)
            return None
        code = self.text(coding, "code", where, required=True)
        system = self.text(coding, "system", where)
        display = self.text(coding, "display", where)
        if code is None:
            return None
        return Option(code=code, system=system, display=display)

    def conditions(self, data: dict[str, Any], where: str) -> tuple[list[Condition], str]:
        raw = data.get("enableWhen")
        behavior = data.get("enableBehavior")
        if raw is None:
            if behavior is not None:
                self.add("value", "enableBehavior without enableWhen", f"{where}.enableBehavior")
            return [], "all"
        if not isinstance(raw, list) or not raw:
            self.add("value", "enableWhen must be a non-empty array", f"{where}.enableWhen")
            return [], "all"
        if behavior is None:
            if len(raw) > 1:
                self.add(
                    "required",
                    "enableBehavior (all or any) is required with several enableWhen",
                    f"{where}.enableBehavior",
                )
            behavior = "all"
        elif behavior not in ("all", "any"):
            self.add("value", "enableBehavior must be all or any", f"{where}.enableBehavior")
            behavior = "all"
        out: list[Condition] = []
        for index, entry in enumerate(raw):
            condition = self.condition(entry, f"{where}.enableWhen[{index}]")
            if condition is not None:
                out.append(condition)
        return out, behavior

    def condition(self, data: Any, at: str) -> Condition | None:
        if not isinstance(data, dict):
            self.add("structure", "an enableWhen must be a JSON object", at)
            return None
        question = self.text(data, "question", at, required=True)
        operator = data.get("operator")
        if operator not in OPERATORS:
            self.add(
                "value", f"operator must be one of {', '.join(sorted(OPERATORS))}", f"{at}.operator"
            )
            return None
        answers = [key for key in data if key.startswith("answer")]
        if len(answers) != 1:
            self.add("required", "exactly one answer[x] is needed", at)
            return None
        if question is None:
            return None
        target = self.by_link_id.get(question)
        if target is None:
            self.add(
                "not-found",
                f"enableWhen.question {question!r} is not an earlier question here",
                f"{at}.question",
            )
            return None
        if not target.is_question:
            self.add(
                "value",
                f"enableWhen.question {question!r} is a {target.type}, not a question",
                f"{at}.question",
            )
            return None
        key = answers[0]
        value = data[key]
        if operator == "exists":
            if key != "answerBoolean" or not isinstance(value, bool):
                self.add("value", "operator exists needs answerBoolean", f"{at}.{key}")
                return None
            return Condition(question, operator, value)
        expected = (
            "answerCoding" if target.type == "choice" else "answer" + ANSWER_KEYS[target.type][5:]
        )
        if target.type == "choice" and key == "answerString":
            expected = key
        if key != expected:
            self.add(
                "value",
                f"question {question!r} is {target.type}: compare with {expected}, not {key}",
                f"{at}.{key}",
            )
            return None
        if operator in (">", "<", ">=", "<=") and target.type not in ORDERED_TYPES:
            self.add(
                "value",
                f"operator {operator} does not apply to a {target.type} question",
                f"{at}.operator",
            )
            return None
        parsed = answer_value(target.type, key[6:], value)
        if isinstance(parsed, str) and parsed.startswith("\0"):
            self.add("value", parsed[1:], f"{at}.{key}")
            return None
        return Condition(question, operator, parsed)


def answer_value(kind: str, suffix: str, value: Any) -> Any:
    """A ``value[x]``/``answer[x]`` of a question of type ``kind`` (``suffix`` the part after
    ``value``/``answer``), parsed; a string starting with NUL is why it is refused."""
    if suffix == "Boolean":
        return value if isinstance(value, bool) else "\0must be true or false"
    if suffix == "Integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return "\0must be an integer"
        return value if -(2**31) <= value < 2**31 else "\0is out of the 32-bit integer range"
    if suffix == "Decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "\0must be a number"
        if abs(value) > 1e15:
            return "\0is out of range"
        return float(value)
    if suffix == "String":
        if not isinstance(value, str) or not value.strip():
            return "\0must be a non-empty string"
        return Option(string=value) if kind == "choice" else value
    if suffix == "Date":
        if not isinstance(value, str) or not _DATE.match(value):
            return "\0must be a date (YYYY, YYYY-MM or YYYY-MM-DD)"
        try:
            parts = [int(p) for p in value.split("-")]
            dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        except ValueError:
            return "\0is not a calendar date"
        return value
    if suffix == "Coding":
        if not isinstance(value, dict) or not isinstance(value.get("code"), str):
            return "\0must be a Coding with a code"
        system = value.get("system")
        if system is not None and not isinstance(system, str):
            return "\0system must be a string"
        display = value.get("display")
        return Option(
            code=value["code"], system=system, display=display if isinstance(display, str) else None
        )
    return f"\0{suffix} is not a value type of a {kind} question"


def parse_questionnaire(body: bytes, *, logical_id: str) -> Definition:
    """Check a published Questionnaire (see the module's docstring)."""
    data = decode_json(body, "Questionnaire")
    checker = _Checker()
    if "id" in data and data["id"] != logical_id:
        checker.add(
            "invariant",
            f"id {data['id']!r} differs from the id in the URL ({logical_id!r})",
            "Questionnaire.id",
        )
    if not _ID.match(logical_id):
        checker.add("value", "the id must be 1-64 letters, digits, '-' or '.'", "Questionnaire.id")
    status = data.get("status")
    if status is None:
        checker.add("required", "status is required", "Questionnaire.status")
    elif status not in PUBLISHED_STATUSES:
        checker.add(
            "value", "status must be active to publish; retire with DELETE", "Questionnaire.status"
        )
    title = checker.text(data, "title", "Questionnaire")
    url = checker.text(data, "url", "Questionnaire")
    for key, value in (("title", title), ("url", url)):
        if value is not None and len(value) > MAX_TEXT:
            checker.add(
                "too-long", f"{key} is longer than {MAX_TEXT} characters", f"Questionnaire.{key}"
            )
    if "version" in data and not isinstance(data["version"], str):
        checker.add("value", "version must be a string", "Questionnaire.version")
    items = checker.items(data.get("item"), "Questionnaire", 1)
    if checker.issues:
        raise FhirError(checker.issues, status=422)
    return Definition(
        items=items,
        by_link_id=checker.by_link_id,
        title=title,
        url=url,
        status=str(status),
        resource=data,
    )


def definition_of(resource: dict[str, Any]) -> Definition:
    """A stored (already checked) Questionnaire, parsed again."""
    return parse_questionnaire(
        msgspec.json.encode({**resource, "status": "active"}), logical_id=str(resource["id"])
    )
