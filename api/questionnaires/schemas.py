"""The questionnaires' read models published to other domains (the appointment's forms, the
hospital's view of the answers, the kiosk's missing forms)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

FormState = Literal["not_answered", "in_progress", "answered"]


class FormToFill(msgspec.Struct, kw_only=True):
    """A questionnaire of the appointment's department, and whether it is answered."""

    questionnaire_id: str
    """The facility's id of the questionnaire (``…/questionnaires/{questionnaire_id}``)."""
    version: int
    """The version to answer (or, once answered, the version answered)."""
    title: str | None
    required: bool
    status: FormState
    """``answered``: a completed response; ``in_progress``: saved, not completed."""
    response_id: str | None = None
    answered_at: dt.datetime | None = None


class AnswerLine(msgspec.Struct, kw_only=True):
    """One answered item: its linkId path (groups joined by ``/``), its text, its answers."""

    link_id: str
    text: str | None
    answers: list[str]


class FormAnswers(FormToFill, kw_only=True):
    """A form as the hospital sees it in its day list: with the answers given."""

    answers: list[AnswerLine] = msgspec.field(default_factory=list)


class MissingForm(msgspec.Struct, kw_only=True):
    """A required form not answered (completed) yet, as the kiosk's ticket names it."""

    questionnaire_id: str
    title: str | None
