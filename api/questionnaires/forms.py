"""What the questionnaires publish to the appointments and the check-in, read in the caller's
transaction: the forms of an appointment (with their answers for the hospital) and the required
ones still missing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import cast

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.questionnaires.models import (
    ACTIVE,
    COMPLETED,
    QuestionnaireAnswer,
    QuestionnaireVersion,
)
from api.questionnaires.schemas import AnswerLine, FormAnswers, FormState, MissingForm

AnswersRead = Callable[[uuid.UUID, str], None]
"""Told of each response shown with its answers: (the citizen's id, ``QuestionnaireResponse/…``)."""


async def forms_of(
    session: AsyncSession,
    *,
    appointment_id: uuid.UUID,
    facility_id: str,
    department_code: str,
    with_answers: bool = False,
    on_read: AnswersRead | None = None,
) -> list[FormAnswers]:
    """The department's current questionnaires, and any other one this appointment answered,
    each with its status; with the answers' lines when ``with_answers`` (``on_read`` is told of
    each response whose answers are shown, for the access log)."""
    answered = (
        await session.execute(
            select(QuestionnaireAnswer, QuestionnaireVersion)
            .join(
                QuestionnaireVersion,
                QuestionnaireVersion.id == QuestionnaireAnswer.questionnaire_id,
            )
            .where(QuestionnaireAnswer.appointment_id == appointment_id)
        )
    ).all()
    by_logical = {answer.logical_id: (answer, version) for answer, version in answered}
    current = (
        await session.scalars(
            select(QuestionnaireVersion)
            .where(
                QuestionnaireVersion.facility_id == facility_id,
                QuestionnaireVersion.department_code == department_code,
                QuestionnaireVersion.current.is_(True),
                QuestionnaireVersion.status == ACTIVE,
            )
            .order_by(QuestionnaireVersion.logical_id)
        )
    ).all()
    if with_answers and on_read is not None:
        for answer, _ in answered:
            on_read(answer.citizen_id, f"QuestionnaireResponse/{answer.id}")
    out: list[FormAnswers] = []
    seen: set[str] = set()
    for version in current:
        seen.add(version.logical_id)
        found = by_logical.get(version.logical_id)
        if found is None:
            out.append(_form(version, None, with_answers))
        else:  # the version answered, with the flag of the current one
            out.append(_form(found[1], found[0], with_answers, required=version.required))
    for logical_id, (answer, version) in sorted(by_logical.items()):
        if logical_id not in seen:
            out.append(_form(version, answer, with_answers))
    return out


def _form(
    version: QuestionnaireVersion,
    answer: QuestionnaireAnswer | None,
    with_answers: bool,
    *,
    required: bool | None = None,
) -> FormAnswers:
    if answer is None:
        state: FormState = "not_answered"
    else:
        state = "answered" if answer.status == COMPLETED else "in_progress"
    lines: list[AnswerLine] = []
    if with_answers and answer is not None:
        lines = msgspec.json.decode(answer.lines, type=list[AnswerLine])
    return FormAnswers(
        questionnaire_id=version.logical_id,
        version=version.version,
        title=version.title,
        required=version.required if required is None else required,
        status=cast(FormState, state),
        response_id=str(answer.id) if answer is not None else None,
        answered_at=answer.updated_at if answer is not None else None,
        answers=lines,
    )


async def missing_required(
    session: AsyncSession, *, appointment_id: uuid.UUID, facility_id: str, department_code: str
) -> list[MissingForm]:
    """The department's current required questionnaires this appointment has not completed."""
    rows = (
        await session.execute(
            select(QuestionnaireVersion.logical_id, QuestionnaireVersion.title)
            .outerjoin(
                QuestionnaireAnswer,
                and_(
                    QuestionnaireAnswer.appointment_id == appointment_id,
                    QuestionnaireAnswer.logical_id == QuestionnaireVersion.logical_id,
                ),
            )
            .where(
                QuestionnaireVersion.facility_id == facility_id,
                QuestionnaireVersion.department_code == department_code,
                QuestionnaireVersion.current.is_(True),
                QuestionnaireVersion.status == ACTIVE,
                QuestionnaireVersion.required.is_(True),
                or_(QuestionnaireAnswer.id.is_(None), QuestionnaireAnswer.status != COMPLETED),
            )
            .order_by(QuestionnaireVersion.logical_id)
        )
    ).all()
    return [MissingForm(questionnaire_id=row[0], title=row[1]) for row in rows]
