"""The questionnaires' use cases: a facility publishes, reads and retires its questionnaires; a
citizen (or their guardian) reads the forms of an appointment and answers them before the visit;
the hospital reads the answers as FHIR (each read written to the citizen's access log).

Each method runs in a unit of work of its own; a refused body stores nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.appointments import service as appointments
from api.core.clock import Clock
from api.core.dialect import begin_write
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.uow import UnitOfWorkFactory
from api.facilities import service as facilities
from api.health_book.fhir.outcome import FhirError
from api.questionnaires.answers import check_response
from api.questionnaires.definitions import definition_of, parse_questionnaire
from api.questionnaires.models import (
    ACTIVE,
    RETIRED,
    QuestionnaireAnswer,
    QuestionnaireVersion,
)
from api.questionnaires.schemas import AnswerLine

AccessRecorder = Callable[..., None]
"""Adds a row to a citizen's access log in the caller's session (``access_log.record``)."""

MAX_BODY_BYTES = 256 * 1024
MAX_SEARCH = 100
APPOINTMENT_EXTENSION = "https://sosuckhoe.vn/fhir/StructureDefinition/appointment"


def _hash(resource: dict[str, Any]) -> str:
    return hashlib.sha256(msgspec.json.encode(resource, order="sorted")).hexdigest()


def _bundle(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "entry": [
            {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}
            for url, resource in entries
        ],
    }


class QuestionnaireService:
    """See the module's docstring."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        limits: appointments.Limits,
        record_access: AccessRecorder,
        base_url: str,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._limits = limits
        self._record = record_access
        self._base = base_url.rstrip("/")
        self.max_body_bytes = MAX_BODY_BYTES

    # --- the facility's questionnaires ----------------------------------------------------------

    def canonical(self, version: QuestionnaireVersion) -> str:
        return (
            version.url
            or f"{self._base}/fhir/Questionnaire/{version.facility_id}.{version.logical_id}"
        )

    def _resource(self, version: QuestionnaireVersion) -> dict[str, Any]:
        resource = dict(version.resource)
        resource["id"] = version.logical_id
        resource["meta"] = {
            "versionId": str(version.version),
            "lastUpdated": (version.retired_at or version.created_at).isoformat(),
        }
        resource["url"] = self.canonical(version)
        resource["version"] = str(version.version)
        resource["status"] = version.status
        resource["useContext"] = [
            {
                "code": {
                    "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                    "code": "venue",
                },
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": f"{self._base}/facilities/{version.facility_id}/departments",
                            "code": version.department_code,
                        }
                    ]
                },
            }
        ]
        return resource

    async def publish(
        self,
        *,
        facility_id: str | None,
        logical_id: str,
        body: bytes,
        department: str | None,
        required: bool,
        publisher: str,
    ) -> tuple[dict[str, Any], bool]:
        """Publish (or republish) a questionnaire for a department. Changed content (or
        department, or required flag) is a new version that supersedes the current one; the
        same again changes nothing. Answers (resource, created)."""
        definition = parse_questionnaire(body, logical_id=logical_id)
        if department is None:
            raise FhirError.single("required", "the department query parameter is required")
        resource = {k: v for k, v in definition.resource.items() if k not in ("meta", "version")}
        resource["id"] = logical_id
        content_hash = _hash({"r": resource, "d": department, "q": required})
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            facility = await facilities.require_active(session, facility_id)
            await facilities.places_of(session).departments.by_code(
                session, facility.id, department, active_only=False
            )
            await begin_write(session)
            latest = await self._latest(session, facility.id, logical_id)
            if latest is not None and latest.current and latest.content_hash == content_hash:
                return self._resource(latest), False
            if latest is not None:
                await session.execute(
                    update(QuestionnaireVersion)
                    .where(
                        QuestionnaireVersion.facility_id == facility.id,
                        QuestionnaireVersion.logical_id == logical_id,
                    )
                    .values(current=False)
                )
            version = QuestionnaireVersion(
                id=uuid.uuid4(),
                facility_id=facility.id,
                logical_id=logical_id,
                version=(latest.version + 1) if latest is not None else 1,
                department_code=department,
                required=required,
                current=True,
                status=ACTIVE,
                title=definition.title,
                url=definition.url,
                resource=resource,
                content_hash=content_hash,
                published_by=publisher[:64],
                created_at=now,
                retired_at=None,
            )
            session.add(version)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise Conflict("another publish of this questionnaire ran at once; retry") from exc
            return self._resource(version), True

    async def _latest(
        self, session: AsyncSession, facility_id: str, logical_id: str
    ) -> QuestionnaireVersion | None:
        return await session.scalar(
            select(QuestionnaireVersion)
            .where(
                QuestionnaireVersion.facility_id == facility_id,
                QuestionnaireVersion.logical_id == logical_id,
            )
            .order_by(QuestionnaireVersion.version.desc())
            .limit(1)
        )

    async def read(
        self, *, facility_id: str | None, logical_id: str, version: int | None = None
    ) -> dict[str, Any]:
        """The latest version (retired or not), or the version asked for."""
        async with self._uow() as uow:
            session = uow.session
            facility = await facilities.require_active(session, facility_id)
            if version is None:
                found = await self._latest(session, facility.id, logical_id)
            else:
                found = await session.scalar(
                    select(QuestionnaireVersion).where(
                        QuestionnaireVersion.facility_id == facility.id,
                        QuestionnaireVersion.logical_id == logical_id,
                        QuestionnaireVersion.version == version,
                    )
                )
            if found is None:
                raise NotFound("no such questionnaire")
            return self._resource(found)

    async def search(
        self, *, facility_id: str | None, department: str | None, status: str | None
    ) -> dict[str, Any]:
        """The facility's questionnaires, each at its latest version."""
        async with self._uow() as uow:
            session = uow.session
            facility = await facilities.require_active(session, facility_id)
            latest = (
                select(
                    QuestionnaireVersion.logical_id,
                    func.max(QuestionnaireVersion.version).label("version"),
                )
                .where(QuestionnaireVersion.facility_id == facility.id)
                .group_by(QuestionnaireVersion.logical_id)
                .subquery()
            )
            query = (
                select(QuestionnaireVersion)
                .join(
                    latest,
                    (latest.c.logical_id == QuestionnaireVersion.logical_id)
                    & (latest.c.version == QuestionnaireVersion.version),
                )
                .where(QuestionnaireVersion.facility_id == facility.id)
                .order_by(QuestionnaireVersion.logical_id)
            )
            if department is not None:
                query = query.where(QuestionnaireVersion.department_code == department)
            if status is not None:
                query = query.where(QuestionnaireVersion.status == status)
            found = (await session.scalars(query)).all()
            return _bundle(
                [
                    (f"{self._base}/hospital/fhir/Questionnaire/{v.logical_id}", self._resource(v))
                    for v in found
                ]
            )

    async def retire(self, *, facility_id: str | None, logical_id: str) -> dict[str, Any]:
        """Retire the questionnaire: no longer asked of new or booked appointments; the
        answers given keep their version. Retiring a retired one changes nothing."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            facility = await facilities.require_active(session, facility_id)
            await begin_write(session)
            latest = await self._latest(session, facility.id, logical_id)
            if latest is None:
                raise NotFound("no such questionnaire")
            if latest.status != RETIRED:
                latest.status = RETIRED
                latest.current = False
                latest.retired_at = now
                await session.flush()
            return self._resource(latest)

    # --- the citizen's answers ------------------------------------------------------------------

    async def _appointment(
        self, session: AsyncSession, citizen_id: uuid.UUID, appointment_id: uuid.UUID
    ) -> Any:
        return await appointments.get_for_citizen(session, citizen_id, appointment_id, self._limits)

    async def _form_version(
        self, session: AsyncSession, appointment: Any, logical_id: str
    ) -> QuestionnaireVersion:
        found = await session.scalar(
            select(QuestionnaireVersion).where(
                QuestionnaireVersion.facility_id == appointment.facility_id,
                QuestionnaireVersion.logical_id == logical_id,
                QuestionnaireVersion.department_code == appointment.department.code,
                QuestionnaireVersion.current.is_(True),
                QuestionnaireVersion.status == ACTIVE,
            )
        )
        if found is None:
            raise NotFound("this appointment has no such questionnaire to fill in")
        return found

    def _guardian_log(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        guardian: str | None,
        action: str,
        resource: str,
    ) -> None:
        if guardian is not None:
            self._record(
                session,
                citizen_id=citizen_id,
                actor_kind="guardian",
                actor_id=guardian,
                action=action,
                now=self._clock.now(),
                resource=resource,
                purpose="guardian access",
            )

    async def questionnaire_for_appointment(
        self, *, citizen_id: uuid.UUID, appointment_id: uuid.UUID, logical_id: str
    ) -> dict[str, Any]:
        """The questionnaire to fill in for the appointment (the version answered, once it is)."""
        async with self._uow() as uow:
            session = uow.session
            appointment = await self._appointment(session, citizen_id, appointment_id)
            answer = await self._answer_row(session, appointment_id, logical_id)
            if answer is not None:
                version = await session.get_one(QuestionnaireVersion, answer.questionnaire_id)
                if version.current:
                    return self._resource(version)
            return self._resource(await self._form_version(session, appointment, logical_id))

    async def _answer_row(
        self, session: AsyncSession, appointment_id: uuid.UUID, logical_id: str
    ) -> QuestionnaireAnswer | None:
        return await session.scalar(
            select(QuestionnaireAnswer).where(
                QuestionnaireAnswer.appointment_id == appointment_id,
                QuestionnaireAnswer.logical_id == logical_id,
            )
        )

    def _response_resource(
        self, answer: QuestionnaireAnswer, version: QuestionnaireVersion
    ) -> dict[str, Any]:
        resource: dict[str, Any] = msgspec.json.decode(answer.resource)
        resource["id"] = str(answer.id)
        resource["meta"] = {
            "versionId": str(answer.revision),
            "lastUpdated": answer.updated_at.isoformat(),
        }
        resource["questionnaire"] = f"{self.canonical(version)}|{version.version}"
        resource["subject"] = {"reference": f"Patient/{answer.citizen_id}"}
        resource["author"] = {"reference": f"Patient/{answer.authored_by}"}
        resource["authored"] = answer.updated_at.isoformat()
        resource["extension"] = [
            {
                "url": APPOINTMENT_EXTENSION,
                "valueReference": {"reference": f"Appointment/{answer.appointment_id}"},
            }
        ]
        return resource

    async def answer(
        self,
        *,
        citizen_id: uuid.UUID,
        actor_id: uuid.UUID,
        appointment_id: uuid.UUID,
        logical_id: str,
        body: bytes,
        guardian: str | None,
    ) -> tuple[dict[str, Any], bool]:
        """Store (or amend) the answers to a form of a booked appointment, before the visit.
        Answers (the QuestionnaireResponse, created)."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = uow.session
            appointment = await self._appointment(session, citizen_id, appointment_id)
            if appointment.status != "booked" or now >= appointment.end:
                raise Conflict(
                    f"the answers can be given or changed until the visit (the appointment is "
                    f"{appointment.status})",
                    extra={"current_status": appointment.status},
                )
            version = await self._form_version(session, appointment, logical_id)
            definition = definition_of(version.resource)
            checked, lines = check_response(definition, body)
            self._check_canonical(checked.resource, version)
            stored = {
                k: v
                for k, v in checked.resource.items()
                if k not in ("id", "meta", "subject", "author", "authored", "extension")
            }
            stored["status"] = "completed" if checked.status == "amended" else checked.status
            encoded_lines = msgspec.json.encode(
                [
                    AnswerLine(link_id=line.path, text=line.text, answers=line.values)
                    for line in lines
                ]
            )
            await begin_write(session)
            answer = await self._answer_row(session, appointment_id, logical_id)
            created = answer is None
            if answer is None:
                answer = QuestionnaireAnswer(
                    id=uuid.uuid4(),
                    appointment_id=appointment_id,
                    citizen_id=citizen_id,
                    facility_id=appointment.facility_id,
                    logical_id=logical_id,
                    revision=1,
                    created_at=now,
                )
                session.add(answer)
            else:
                answer.revision += 1
            answer.questionnaire_id = version.id
            answer.status = stored["status"]
            answer.resource = msgspec.json.encode(stored)
            answer.lines = encoded_lines
            answer.authored_by = actor_id
            answer.updated_at = now
            self._guardian_log(
                session, citizen_id, guardian, "write", f"QuestionnaireResponse/{answer.id}"
            )
            try:
                await session.flush()
            except IntegrityError as exc:
                raise Conflict("these answers were sent twice at once; retry") from exc
            return self._response_resource(answer, version), created

    def _check_canonical(self, resource: dict[str, Any], version: QuestionnaireVersion) -> None:
        given = resource.get("questionnaire")
        if given is None:
            return
        canonical = self.canonical(version)
        if not isinstance(given, str) or given.split("|")[0] not in (
            canonical,
            f"Questionnaire/{version.logical_id}",
        ):
            raise FhirError.single(
                "value",
                f"questionnaire must be {canonical} (or be left out)",
                "QuestionnaireResponse.questionnaire",
            )

    async def response_for_citizen(
        self,
        *,
        citizen_id: uuid.UUID,
        appointment_id: uuid.UUID,
        logical_id: str,
        guardian: str | None,
    ) -> dict[str, Any]:
        async with self._uow() as uow:
            session = uow.session
            await self._appointment(session, citizen_id, appointment_id)
            answer = await self._answer_row(session, appointment_id, logical_id)
            if answer is None:
                raise NotFound("this form has not been answered")
            version = await session.get_one(QuestionnaireVersion, answer.questionnaire_id)
            self._guardian_log(
                session, citizen_id, guardian, "read", f"QuestionnaireResponse/{answer.id}"
            )
            return self._response_resource(answer, version)

    # --- the hospital's reads -------------------------------------------------------------------

    def _hospital_log(
        self, session: AsyncSession, answer: QuestionnaireAnswer, client_id: str
    ) -> None:
        self._record(
            session,
            citizen_id=answer.citizen_id,
            actor_kind="facility",
            actor_id=client_id,
            action="read",
            now=self._clock.now(),
            resource=f"QuestionnaireResponse/{answer.id}",
            purpose="intake questionnaire",
            detail={"facility_id": answer.facility_id},
        )

    async def hospital_response(
        self, *, facility_id: str | None, client_id: str, response_id: str
    ) -> dict[str, Any]:
        try:
            key = uuid.UUID(response_id)
        except ValueError as exc:
            raise NotFound("no such QuestionnaireResponse") from exc
        async with self._uow() as uow:
            session = uow.session
            answer = await session.get(QuestionnaireAnswer, key)
            if answer is None or answer.facility_id != facility_id:
                raise NotFound("no such QuestionnaireResponse")
            version = await session.get_one(QuestionnaireVersion, answer.questionnaire_id)
            self._hospital_log(session, answer, client_id)
            return self._response_resource(answer, version)

    async def hospital_search(
        self,
        *,
        facility_id: str | None,
        client_id: str,
        appointment: str | None,
        patient: str | None,
        questionnaire: str | None,
    ) -> dict[str, Any]:
        """The facility's responses for an appointment and/or a patient (one is needed)."""
        if appointment is None and patient is None:
            raise InvalidInput(
                "search by appointment or patient", field="appointment", source="query"
            )
        query = select(QuestionnaireAnswer, QuestionnaireVersion).join(
            QuestionnaireVersion, QuestionnaireVersion.id == QuestionnaireAnswer.questionnaire_id
        )
        query = query.where(QuestionnaireAnswer.facility_id == (facility_id or ""))
        for name, raw, column in (
            ("appointment", appointment, QuestionnaireAnswer.appointment_id),
            ("patient", patient, QuestionnaireAnswer.citizen_id),
        ):
            if raw is None:
                continue
            value = raw.split("/")[-1]
            try:
                query = query.where(column == uuid.UUID(value))
            except ValueError as exc:
                raise InvalidInput(f"{name} must be an id", field=name, source="query") from exc
        if questionnaire is not None:
            query = query.where(QuestionnaireAnswer.logical_id == questionnaire)
        query = query.order_by(QuestionnaireAnswer.updated_at.desc()).limit(MAX_SEARCH)
        async with self._uow() as uow:
            session = uow.session
            rows = (await session.execute(query)).all()
            entries: list[tuple[str, dict[str, Any]]] = []
            for answer, version in rows:
                self._hospital_log(session, answer, client_id)
                entries.append(
                    (
                        f"{self._base}/hospital/fhir/QuestionnaireResponse/{answer.id}",
                        self._response_resource(answer, version),
                    )
                )
            return _bundle(entries)
