"""Hospitals' insurance XML into the health book: the use cases.

An envelope is read safely (:mod:`.xmlsafe`), its ``CHUKYDONVI`` verified against the facility's
registered certificates (:mod:`.signature`), then each episode (``HOSO``) is read, mapped to a
FHIR document and published through the book's own pipeline **in a savepoint of its own**
(consecutive episodes of one patient share a transaction, :meth:`UnitOfWork.savepoint`): one bad
episode never blocks the others and nothing of a rejected episode is stored. The signed
envelope is kept (encrypted) as the provenance of every episode it carried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, cast
from urllib.parse import quote, urlencode

import msgspec
from lxml import etree
from sqlalchemy import Integer, Table, case, delete, func, literal, select

from api.appointments import service as appointments
from api.core.clock import Clock
from api.core.dialect import begin_write
from api.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.facilities import service as facilities
from api.identity import citizens
from api.insurance import envelope as envelopes
from api.insurance import schemas, signature, vocabulary, xmlsafe
from api.insurance.errors import (
    EPISODE_REJECTED,
    EnvelopeInvalid,
    EnvelopeTooLarge,
    SignatureInvalid,
)
from api.insurance.models import (
    InsuranceCertificate,
    InsuranceEnvelope,
    InsuranceEpisode,
    InsuranceFollowUp,
)
from notifications import outbox
from notifications.messages import FollowUpDue

logger = logging.getLogger("healthbook.insurance")

RESTRICTED_TABLES = ("XML6", "XML15")
"""HIV care (XML6) and TB treatment (XML15): kept in the signed file, in the book only if the
citizen chooses to show restricted data."""

NATIONAL_ID_SYSTEM = "http://fhir.ehealth.gov.vn/core/sid/national_id"
"""VN Core's naming system of the 12-digit personal identification number (research §1.6)."""

_PERSONAL_ID = re.compile(r"^\d{12}$")
_FOLLOW_UPS = uuid.UUID("0b7f2f7e-63c4-4f57-9a59-2f3d0b9e1c14")
_LOCAL = dt.timezone(dt.timedelta(hours=7))
"""Vietnam's time, without daylight saving: reminders go at 08:00 the day before."""
_REMINDER_HOUR = 8
_BOOK_NEAR_DAYS = 3
_OUTCOMES: dict[str, Literal["created", "new_version", "unchanged"]] = {
    "created": "created",
    "new_version": "new_version",
    "unchanged": "unchanged",
}


class PublishedResult(Protocol):
    """What the book's pipeline answers for one document (``ingest.PublishResult``)."""

    @property
    def document_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def version_id(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def entry_counts(self) -> dict[str, int]: ...


class Publication(Protocol):
    """A stored (or unchanged) document and the citizen whose book it is in."""

    @property
    def result(self) -> PublishedResult: ...
    @property
    def citizen_id(self) -> uuid.UUID: ...


class BookPublisher(Protocol):
    """The health book's publish pipeline (``SummaryService.publish_in``): matching, versioning,
    access log, "new record" push. Raises ``ValueError`` (the document is not acceptable) or a
    ``DomainError`` (another patient's document identity...)."""

    async def publish_in(
        self,
        uow: UnitOfWork,
        body: bytes,
        *,
        facility_id: str,
        facility_name: str,
        publisher: str,
        national_id_systems: tuple[str, ...],
        validate: bool = True,
        restricted: bool = False,
    ) -> Publication: ...

    async def publish_restricted_in(
        self,
        uow: UnitOfWork,
        body: bytes,
        *,
        facility_id: str,
        facility_name: str,
        publisher: str,
        national_id_systems: tuple[str, ...],
    ) -> tuple[uuid.UUID, Publication | None]:
        """A restricted document: into the book of a citizen who shows restricted data, else
        kept out (with the document's earlier versions). Answers the citizen and what was
        stored, if anything."""
        ...

    async def shows_restricted_in(self, uow: UnitOfWork, citizen_id: uuid.UUID) -> bool: ...

    async def restricted_choice_in(
        self, uow: UnitOfWork, citizen_id: uuid.UUID
    ) -> tuple[bool, dt.datetime | None]: ...

    async def choose_restricted_in(
        self, uow: UnitOfWork, citizen_id: uuid.UUID, *, show: bool
    ) -> bool: ...


class GuardianReads(Protocol):
    """Where a guardian's read of a dependent's files is logged (the book's ``ReadLog``),
    committed when the call returns."""

    async def guardian_read(self, citizen_id: uuid.UUID, guardian: str, resource: str) -> None: ...


class MappedEpisode(msgspec.Struct, frozen=True, kw_only=True):
    """An episode read and mapped: its FHIR document Bundle (``None`` when rejected), ``MA_LK``
    and every problem found."""

    ma_lk: str | None
    bundle: dict[str, Any] | None
    problems: list[schemas.EpisodeProblem]
    restricted: bool = False
    """Labelled restricted (HIV/TB care or diagnosis): never published into the book."""


class EpisodeMapper(Protocol):
    """Reads one episode's tables and maps them to FHIR (``api.insurance.tables`` and
    ``api.insurance.mapping``)."""

    def map(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        facility_code: str,
        facility_name: str,
        max_file_bytes: int,
    ) -> MappedEpisode: ...


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    max_envelope_bytes: int
    max_file_bytes: int
    max_episodes: int
    accept_unsigned: frozenset[str]
    """Facility codes whose unsigned (or wrongly signed) envelopes are accepted."""


def _problem(
    table: str, ma_lk: str | None, field: str, value: str | None, rule: str
) -> schemas.EpisodeProblem:
    return schemas.EpisodeProblem(
        table=table,
        ma_lk=ma_lk,
        field=field,
        value=value[:200] if value is not None else None,
        rule=rule,
    )


def _rejected(
    index: int, ma_lk: str | None, problems: Sequence[schemas.EpisodeProblem]
) -> schemas.EpisodeResult:
    return schemas.EpisodeResult(
        index=index,
        ma_lk=ma_lk,
        status="rejected",
        type=EPISODE_REJECTED.uri,
        title=EPISODE_REJECTED.title,
        problems=list(problems),
    )


def _patient_national_ids(bundle: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Patient":
            continue
        for identifier in resource.get("identifier") or ():
            if identifier.get("system") == NATIONAL_ID_SYSTEM and identifier.get("value"):
                found.append(str(identifier["value"]))
    return found


def follow_ups(bundle: Mapping[str, Any]) -> list[tuple[dt.date, str | None]]:
    """The proposed Appointments of an episode's document: (day, department code)."""
    found: dict[dt.date, str | None] = {}
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Appointment" or resource.get("status") != "proposed":
            continue
        periods = resource.get("requestedPeriod") or [{}]
        start = str(periods[0].get("start") or resource.get("start") or "")
        try:
            day = dt.date.fromisoformat(start[:10])
        except ValueError:
            continue
        department = None
        for concept in resource.get("serviceType") or ():
            for coding in concept.get("coding") or ():
                if coding.get("system") == vocabulary.DEPARTMENT_CODE and coding.get("code"):
                    department = str(coding["code"])[:50]
        found.setdefault(day, department)
    return sorted(found.items(), key=lambda item: item[0])


def _certificate_view(row: InsuranceCertificate) -> schemas.Certificate:
    return schemas.Certificate(
        id=str(row.id),
        facility_id=row.facility_id,
        sha256=row.sha256,
        subject=row.subject,
        not_after=row.not_after,
        added_at=row.added_at,
        added_by=row.added_by,
    )


class _Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """An episode read and mapped, to store: its document (the bundle and its bytes) and the
    patient's 12-digit personal ID (``None``: none, for a restricted episode kept unmatched)."""

    index: int
    ma_lk: str
    bundle: dict[str, Any]
    body: bytes
    content_sha256: str
    citizen: str | None
    restricted: bool
    restricted_tables: list[str]


class _Verified(msgspec.Struct, kw_only=True):
    root: etree._Element
    signed: bool
    certificate_sha256: str | None
    signature_value: str | None


def _unsigned(root: etree._Element) -> _Verified:
    return _Verified(root=root, signed=False, certificate_sha256=None, signature_value=None)


_ENVELOPES = cast(Table, InsuranceEnvelope.__table__)
_EPISODES = cast(Table, InsuranceEpisode.__table__)


async def _insert_episode(uow: UnitOfWork, values: dict[str, Any], *, at_least: int) -> int:
    """Store an episode version (``values``: every column but ``version``) numbered after the
    episode's last version (restricted ones the book never held included), ``at_least`` the
    book's own version number: ``INSERT … SELECT`` the number ``RETURNING`` it, one round trip
    instead of a ``SELECT`` and an ``INSERT``."""
    columns = _EPISODES.c
    following = func.coalesce(func.max(columns.version), 0) + 1
    names = list(values)
    chosen = select(
        *(literal(values[name], type_=columns[name].type) for name in names),
        case((following > at_least, following), else_=literal(at_least, type_=Integer())),
    ).where(columns.facility_id == values["facility_id"], columns.ma_lk == values["ma_lk"])
    statement = (
        _EPISODES.insert().from_select([*names, "version"], chosen).returning(columns.version)
    )
    return int((await uow.session.execute(statement)).scalar_one())


class InsuranceService:
    """``POST /hospital/insurance-xml``, ``healthbook import-xml``, the certificate registry and
    the citizen's signed files."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        publisher: BookPublisher,
        mapper: EpisodeMapper,
        limits: Limits,
        clock: Clock,
        reads: GuardianReads,
        child_max_age: int = 18,
    ) -> None:
        self._uow = uow
        self._publisher = publisher
        self._mapper = mapper
        self.limits = limits
        self._clock = clock
        self._reads = reads
        self._child_max_age = child_max_age

    # --- envelopes -------------------------------------------------------------------------

    async def submit(
        self, body: bytes, *, facility_id: str | None, publisher: str
    ) -> schemas.SubmissionResult:
        """Read, verify and publish an envelope from the client's facility, episode by episode."""
        limits = self.limits
        if len(body) > limits.max_envelope_bytes:
            raise EnvelopeTooLarge(
                f"the envelope is {len(body):,} bytes; at most {limits.max_envelope_bytes:,} "
                "are accepted"
            )
        try:
            root = xmlsafe.parse(body, max_bytes=limits.max_envelope_bytes, what="envelope")
        except xmlsafe.UnsafeXml as exc:
            raise EnvelopeInvalid(str(exc)) from None
        claimed = self._facility_code(root)
        if facility_id is None:
            raise Forbidden("the client is not bound to a facility")
        if claimed != facility_id:
            raise Forbidden(
                f"THONGTINDONVI/MACSKCB is {claimed!r}; this client publishes for {facility_id!r}"
            )
        signed = root.find(f".//{{{signature.DSIG}}}Signature") is not None
        async with self._uow() as uow:
            facility = await facilities.require_active(uow.session, facility_id)
            # an unsigned envelope needs no certificate (refused, or from a facility configured
            # to accept unsigned files): the round trip is saved
            certificates = (
                (
                    await uow.session.scalars(
                        select(InsuranceCertificate.pem).where(
                            InsuranceCertificate.facility_id == facility.id
                        )
                    )
                ).all()
                if signed
                else ()
            )
        verified = self._verify(body, root, facility.id, list(certificates))
        try:
            read = envelopes.read(
                verified.root,
                max_file_bytes=limits.max_file_bytes,
                max_episodes=limits.max_episodes,
            )
        except envelopes.EnvelopeError as exc:
            raise EnvelopeInvalid(str(exc)) from None
        if read.facility_code != facility.id:
            raise Forbidden("the signed facility code is not this client's facility")
        stored_envelope: uuid.UUID | None = None
        envelope_id = uuid.uuid4()
        results: list[schemas.EpisodeResult] = []
        # Consecutive episodes of one patient share a transaction, each in a savepoint of its
        # own: one bad episode still never blocks the others and nothing of it is stored, while
        # the citizen's lock, the commit and what follows it (the book's invalidation) are paid
        # once per run instead of once per episode. Each transaction locks one citizen only.
        uow: UnitOfWork | None = None
        run: str | None = None
        try:
            for episode in read.episodes:
                prepared = self._prepare(
                    episode, facility_id=facility.id, facility_name=facility.name
                )
                if isinstance(prepared, schemas.EpisodeResult):
                    results.append(prepared)
                    continue
                if uow is not None and (prepared.citizen is None or prepared.citizen != run):
                    ending, uow = uow, None
                    await ending.__aexit__(None, None, None)
                if uow is None:
                    uow = self._uow()
                    await uow.__aenter__()
                    await begin_write(uow.session)
                    run = prepared.citizen
                result, kept = await self._store(
                    uow,
                    prepared,
                    facility_id=facility.id,
                    facility_name=facility.name,
                    publisher=publisher,
                    envelope=None
                    if stored_envelope
                    else {
                        "id": envelope_id,
                        "facility_id": facility.id,
                        "sha256": hashlib.sha256(body).hexdigest(),
                        "signed": verified.signed,
                        "certificate_sha256": verified.certificate_sha256,
                        "signature_value": verified.signature_value,
                        "received_at": self._clock.now(),
                        "received_by": publisher[:64],
                        "body": body,
                    },
                    envelope_id=envelope_id,
                )
                if kept:
                    stored_envelope = envelope_id
                results.append(result)
            if uow is not None:
                ending, uow = uow, None
                await ending.__aexit__(None, None, None)
        except BaseException as exc:
            if uow is not None:
                await uow.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        accepted = sum(1 for r in results if r.status == "accepted")
        return schemas.SubmissionResult(
            facility_code=facility.id,
            signed=verified.signed,
            accepted=accepted,
            rejected=len(results) - accepted,
            episodes=results,
        )

    @staticmethod
    def _facility_code(root: etree._Element) -> str | None:
        for unit in root:
            if isinstance(unit.tag, str) and etree.QName(unit).localname == "THONGTINDONVI":
                for code in unit:
                    if isinstance(code.tag, str) and etree.QName(code).localname == "MACSKCB":
                        return (code.text or "").strip() or None
        return None

    def _verify(
        self, body: bytes, root: etree._Element, facility_id: str, certificates: list[str]
    ) -> _Verified:
        unsigned_ok = facility_id in self.limits.accept_unsigned
        has_signature = root.find(f".//{{{signature.DSIG}}}Signature") is not None
        if not has_signature:
            if unsigned_ok:
                return _Verified(
                    root=root, signed=False, certificate_sha256=None, signature_value=None
                )
            raise SignatureInvalid("the envelope carries no CHUKYDONVI signature")
        try:
            checked = signature.verify(
                body.removeprefix(xmlsafe.UTF8_BOM), certificates, now=self._clock.now()
            )
        except signature.SignatureError as exc:
            if unsigned_ok:
                return _Verified(
                    root=root, signed=False, certificate_sha256=None, signature_value=None
                )
            raise SignatureInvalid(str(exc)) from None
        return _Verified(
            root=checked.root,
            signed=True,
            certificate_sha256=checked.certificate_sha256,
            signature_value=checked.signature_value,
        )

    def _prepare(
        self, episode: envelopes.EpisodeFiles, *, facility_id: str, facility_name: str
    ) -> schemas.EpisodeResult | _Prepared:
        """One episode read and mapped (no database): rejected, or ready to store."""
        ma_lk = episode.ma_lk
        if episode.problems:
            problems = [
                _problem(p.table, p.ma_lk, p.field, p.value, p.rule) for p in episode.problems
            ]
            return _rejected(episode.index, ma_lk, problems)
        restricted = sorted({kind for kind, _ in episode.files if kind in RESTRICTED_TABLES})
        try:
            mapped = self._mapper.map(
                episode.files,
                facility_code=facility_id,
                facility_name=facility_name,
                max_file_bytes=self.limits.max_file_bytes,
            )
        except (ValueError, xmlsafe.UnsafeXml) as exc:
            return _rejected(
                episode.index, ma_lk, [_problem("HOSO", ma_lk, "FILEHOSO", None, str(exc))]
            )
        ma_lk = mapped.ma_lk or ma_lk
        if mapped.bundle is None or not ma_lk:
            problems = mapped.problems or [
                _problem("XML1", ma_lk, "MA_LK", None, "MA_LK is required")
            ]
            return _rejected(episode.index, ma_lk, problems)
        body = msgspec.json.encode(mapped.bundle)
        personal = next(
            (n for n in _patient_national_ids(mapped.bundle) if _PERSONAL_ID.match(n)), None
        )
        if personal is None and not mapped.restricted:
            return _rejected(
                episode.index,
                ma_lk,
                [
                    _problem(
                        "XML1",
                        ma_lk,
                        "SO_CCCD",
                        None,
                        "SO_CCCD must be the patient's 12-digit personal identification number: "
                        "other numbers (old 9-digit IDs, passports, account codes) never match "
                        "a citizen's book",
                    )
                ],
            )
        return _Prepared(
            index=episode.index,
            ma_lk=ma_lk,
            bundle=mapped.bundle,
            body=body,
            content_sha256=hashlib.sha256(body).hexdigest(),
            citizen=personal,
            restricted=mapped.restricted,
            restricted_tables=restricted,
        )

    async def _store(
        self,
        uow: UnitOfWork,
        prepared: _Prepared,
        *,
        facility_id: str,
        facility_name: str,
        publisher: str,
        envelope: dict[str, Any] | None,
        envelope_id: uuid.UUID,
    ) -> tuple[schemas.EpisodeResult, bool]:
        """One episode in a savepoint of ``uow``'s transaction (nothing of it stays when it is
        rejected); ``True`` when the envelope row was stored with it."""
        ma_lk = prepared.ma_lk
        if prepared.restricted:
            return await self._withhold(
                uow,
                prepared.index,
                ma_lk,
                prepared.content_sha256,
                prepared.body if prepared.citizen is not None else None,
                facility_id=facility_id,
                facility_name=facility_name,
                publisher=publisher,
                restricted=prepared.restricted_tables,
                envelope=envelope,
                envelope_id=envelope_id,
            )
        try:
            async with uow.savepoint():
                publication = await self._publisher.publish_in(
                    uow,
                    prepared.body,
                    facility_id=facility_id,
                    facility_name=facility_name,
                    publisher=publisher,
                    national_id_systems=(NATIONAL_ID_SYSTEM,),
                    # the mapping's documents are valid R4 whatever the tables held (the odd-value
                    # tests of tests/unit/insurance/test_robustness.py check every field):
                    # validating them again cost about as much as reading and mapping the XML
                    validate=False,
                )
                published = publication.result
                version = published.version
                kept = False
                if published.outcome != "unchanged":
                    if envelope is not None:
                        await uow.session.execute(_ENVELOPES.insert(), envelope)
                        kept = True
                    # after restricted versions the book never held, the episode's own count:
                    # worked out by the INSERT itself (one round trip)
                    version = await _insert_episode(
                        uow,
                        {
                            "id": uuid.uuid4(),
                            "facility_id": facility_id,
                            "ma_lk": ma_lk[:100],
                            "citizen_id": publication.citizen_id,
                            "envelope_id": envelope_id,
                            "hoso_index": prepared.index,
                            "document_id": published.document_id,
                            "version_id": published.version_id,
                            "restricted_tables": ",".join(prepared.restricted_tables) or None,
                            "content_sha256": prepared.content_sha256,
                            "received_at": self._clock.now(),
                        },
                        at_least=version,
                    )
                    await self._schedule_follow_ups(
                        uow,
                        prepared.bundle,
                        citizen_id=publication.citizen_id,
                        facility_id=facility_id,
                        facility_name=facility_name,
                        ma_lk=ma_lk,
                        replaces=published.outcome != "created",
                    )
        except ValueError as exc:
            return _rejected(
                prepared.index, ma_lk, [_problem("HOSO", ma_lk, "FHIR", None, str(exc))]
            ), False
        except DomainError as exc:
            detail = exc.detail or exc.problem.title
            return _rejected(
                prepared.index, ma_lk, [_problem("XML1", ma_lk, "MA_LK", ma_lk, detail)]
            ), False
        return schemas.EpisodeResult(
            index=prepared.index,
            ma_lk=ma_lk,
            status="accepted",
            outcome=_OUTCOMES[published.outcome],
            document_id=published.document_id,
            version=version,
            entry_counts=published.entry_counts,
        ), kept

    async def _schedule_follow_ups(
        self,
        uow: UnitOfWork,
        bundle: Mapping[str, Any],
        *,
        citizen_id: uuid.UUID,
        facility_id: str,
        facility_name: str,
        ma_lk: str,
        replaces: bool = True,
    ) -> None:
        """The episode's follow-ups replace those of its earlier versions; each still ahead gets
        a reminder at 08:00 the day before (once per day, however often the episode is sent).
        ``replaces=False``: the book has just created the episode's document (its first version:
        the document is keyed by facility and ``MA_LK``, as follow-ups are), so there are none
        to delete and the round trip is saved."""
        session = uow.session
        now = self._clock.now()
        if replaces:
            await session.execute(
                delete(InsuranceFollowUp).where(
                    InsuranceFollowUp.facility_id == facility_id,
                    InsuranceFollowUp.ma_lk == ma_lk[:100],
                )
            )
        pending: list[outbox.Pending] = []
        for day, department in follow_ups(bundle):
            follow_up_id = uuid.uuid5(_FOLLOW_UPS, f"{facility_id}|{ma_lk}|{day.isoformat()}")
            session.add(
                InsuranceFollowUp(
                    id=follow_up_id,
                    citizen_id=citizen_id,
                    facility_id=facility_id,
                    ma_lk=ma_lk[:100],
                    due_date=day,
                    department=department,
                    created_at=now,
                )
            )
            remind_at = dt.datetime.combine(
                day - dt.timedelta(days=1), dt.time(_REMINDER_HOUR), tzinfo=_LOCAL
            )
            if remind_at <= now:
                continue
            pending.append(
                outbox.Pending(
                    citizen_id=citizen_id,
                    message=FollowUpDue(
                        follow_up_id=str(follow_up_id),
                        facility_id=facility_id,
                        facility_name=facility_name[:200],
                        department=department,
                        due_date=day,
                    ),
                    due_at=remind_at,
                    dedupe_key=f"follow-up:{follow_up_id}",
                )
            )
        if pending:
            await outbox.enqueue_many(session, pending, now=now)
        else:
            await session.flush()

    async def follow_ups(
        self, citizen_id: uuid.UUID, *, guardian: str | None = None
    ) -> list[schemas.FollowUp]:
        """The citizen's follow-ups from today on, each with the slots search pre-filled where
        the facility publishes slots for that department."""
        now = self._clock.now()
        today = now.astimezone(_LOCAL).date()
        async with self._uow() as uow:
            rows = (
                await uow.session.scalars(
                    select(InsuranceFollowUp)
                    .where(
                        InsuranceFollowUp.citizen_id == citizen_id,
                        InsuranceFollowUp.due_date >= today,
                    )
                    .order_by(InsuranceFollowUp.due_date)
                )
            ).all()
            bookable: dict[str, set[str]] = {}
            for facility_id in {row.facility_id for row in rows}:
                codes = [
                    r.department for r in rows if r.facility_id == facility_id and r.department
                ]
                bookable[facility_id] = await appointments.departments_with_slots(
                    uow.session, facility_id, codes, now=now
                )
        await self._logged(citizen_id, guardian, "insurance-files/follow-ups")
        answers: list[schemas.FollowUp] = []
        for row in rows:
            near = None
            if row.department and row.department in bookable.get(row.facility_id, set()):
                start = max(
                    now,
                    dt.datetime.combine(
                        row.due_date - dt.timedelta(days=_BOOK_NEAR_DAYS), dt.time(), _LOCAL
                    ),
                )
                end = dt.datetime.combine(
                    row.due_date + dt.timedelta(days=_BOOK_NEAR_DAYS + 1), dt.time(), _LOCAL
                )
                query = urlencode(
                    {"department": row.department, "from": start.isoformat(), "to": end.isoformat()}
                )
                near = schemas.BookNear(
                    facility_id=row.facility_id,
                    department=row.department,
                    start_from=start,
                    start_to=end,
                    url=f"/facilities/{quote(row.facility_id)}/slots?{query}",
                )
            answers.append(
                schemas.FollowUp(
                    id=str(row.id),
                    facility_id=row.facility_id,
                    ma_lk=row.ma_lk,
                    due_date=row.due_date,
                    department=row.department,
                    book_near=near,
                )
            )
        return answers

    async def _withhold(
        self,
        uow: UnitOfWork,
        index: int,
        ma_lk: str,
        content_sha256: str,
        document: bytes | None,
        *,
        facility_id: str,
        facility_name: str,
        publisher: str,
        restricted: list[str],
        envelope: dict[str, Any] | None,
        envelope_id: uuid.UUID,
    ) -> tuple[schemas.EpisodeResult, bool]:
        """A restricted episode (HIV/TB): its signed file is kept and versioned by (facility,
        ``MA_LK``). Its FHIR ``document`` (when the patient's personal ID can match a citizen)
        enters the book only if the citizen shows restricted data — never a push, a follow-up or
        a reminder; otherwise nothing of it reaches the book, and the earlier versions of the
        episode leave it (a late XML6/XML15 hides the whole episode)."""
        try:
            async with uow.savepoint():
                latest = await uow.session.scalar(
                    select(InsuranceEpisode)
                    .where(
                        InsuranceEpisode.facility_id == facility_id,
                        InsuranceEpisode.ma_lk == ma_lk[:100],
                    )
                    .order_by(InsuranceEpisode.version.desc())
                    .limit(1)
                )
                outcome: Literal["created", "new_version", "unchanged"]
                if latest is not None and latest.content_sha256 == content_sha256:
                    return schemas.EpisodeResult(
                        index=index,
                        ma_lk=ma_lk,
                        status="accepted",
                        outcome="unchanged",
                        restricted=True,
                        version=latest.version,
                        entry_counts={},
                    ), False
                version = 1 if latest is None else latest.version + 1
                outcome = "created" if latest is None else "new_version"
                citizen_id: uuid.UUID | None = None
                document_id = version_id = None
                if document is not None:
                    citizen_id, publication = await self._publisher.publish_restricted_in(
                        uow,
                        document,
                        facility_id=facility_id,
                        facility_name=facility_name,
                        publisher=publisher,
                        national_id_systems=(NATIONAL_ID_SYSTEM,),
                    )
                    if publication is not None:
                        document_id = publication.result.document_id
                        version_id = publication.result.version_id
                    await self._drop_follow_ups(uow, facility_id, ma_lk)
                kept = envelope is not None
                if envelope is not None:
                    await uow.session.execute(_ENVELOPES.insert(), envelope)
                uow.session.add(
                    InsuranceEpisode(
                        facility_id=facility_id,
                        ma_lk=ma_lk[:100],
                        citizen_id=citizen_id,
                        envelope_id=envelope_id,
                        hoso_index=index,
                        document_id=document_id,
                        version=version,
                        version_id=version_id,
                        restricted_tables=",".join(restricted) or "R",
                        content_sha256=content_sha256,
                        document=document,
                        received_at=self._clock.now(),
                    )
                )
        except ValueError as exc:
            return _rejected(index, ma_lk, [_problem("HOSO", ma_lk, "FHIR", None, str(exc))]), False
        except DomainError as exc:
            detail = exc.detail or exc.problem.title
            return _rejected(index, ma_lk, [_problem("XML1", ma_lk, "MA_LK", ma_lk, detail)]), False
        return schemas.EpisodeResult(
            index=index,
            ma_lk=ma_lk,
            status="accepted",
            outcome=outcome,
            restricted=True,
            version=version,
            entry_counts={},
        ), kept

    async def _drop_follow_ups(self, uow: UnitOfWork, facility_id: str, ma_lk: str) -> None:
        """An episode that became restricted keeps no follow-up (nor its reminder) in view."""
        session = uow.session
        ids = (
            await session.scalars(
                select(InsuranceFollowUp.id).where(
                    InsuranceFollowUp.facility_id == facility_id,
                    InsuranceFollowUp.ma_lk == ma_lk[:100],
                )
            )
        ).all()
        if not ids:
            return
        now = self._clock.now()
        for follow_up_id in ids:
            await outbox.cancel(session, f"follow-up:{follow_up_id}", now=now)
        await session.execute(delete(InsuranceFollowUp).where(InsuranceFollowUp.id.in_(list(ids))))

    # --- restricted data: the citizen's choice ---------------------------------------------

    async def restricted_data(
        self, citizen_id: uuid.UUID, *, guardian: str | None = None
    ) -> schemas.RestrictedData:
        """Whether the citizen shows their restricted (HIV/TB) records, since when (a
        guardian's read logged)."""
        async with self._uow() as uow:
            show, changed_at = await self._publisher.restricted_choice_in(uow, citizen_id)
        await self._logged(citizen_id, guardian, "health-book/restricted-data")
        return schemas.RestrictedData(show=show, changed_at=changed_at)

    async def choose_restricted_data(
        self, citizen_id: uuid.UUID, *, show: bool
    ) -> schemas.RestrictedData:
        """The citizen shows (their restricted episodes' latest versions enter the book, without
        a push) or hides (every restricted document leaves the book) their restricted records.
        Shown only in a book nobody else may read: refused while a guardian or a legal
        representative may act for the citizen."""
        async with self._uow() as uow:
            if show:
                now = self._clock.now()
                others = await citizens.guardians_of(
                    uow.session, citizen_id, now, self._child_max_age
                )
                if others:
                    raise Conflict(
                        "restricted records are shown only in a book nobody else reads: "
                        "a guardian or legal representative may act for this citizen"
                    )
            changed = await self._publisher.choose_restricted_in(uow, citizen_id, show=show)
            if show and changed:
                await self._show_restricted(uow, citizen_id)
            show, changed_at = await self._publisher.restricted_choice_in(uow, citizen_id)
        return schemas.RestrictedData(show=show, changed_at=changed_at)

    async def _show_restricted(self, uow: UnitOfWork, citizen_id: uuid.UUID) -> None:
        """The latest version of each of the citizen's episodes, where it is restricted, into
        the book (the document kept with it)."""
        rows = (
            await uow.session.scalars(
                select(InsuranceEpisode)
                .where(InsuranceEpisode.citizen_id == citizen_id)
                .order_by(InsuranceEpisode.version)
            )
        ).all()
        latest: dict[tuple[str, str], InsuranceEpisode] = {}
        for row in rows:
            latest[(row.facility_id, row.ma_lk)] = row
        for row in latest.values():
            if row.restricted_tables is None or row.document is None:
                continue
            facility = await facilities.find(uow.session, row.facility_id)
            envelope = await uow.session.get(InsuranceEnvelope, row.envelope_id)
            try:
                publication = await self._publisher.publish_in(
                    uow,
                    row.document,
                    facility_id=row.facility_id,
                    facility_name=facility.name if facility is not None else row.facility_id,
                    publisher=envelope.received_by if envelope is not None else row.facility_id,
                    national_id_systems=(NATIONAL_ID_SYSTEM,),
                    restricted=True,
                )
            except (ValueError, DomainError):
                logger.warning("a restricted episode could not enter the book", exc_info=True)
                continue
            row.document_id = publication.result.document_id
            row.version_id = publication.result.version_id

    # --- certificate registry --------------------------------------------------------------

    async def add_certificate(
        self, facility_id: str, pem: str, *, added_by: str
    ) -> tuple[schemas.Certificate, bool]:
        """Register a signing certificate for a facility; ``False`` when it already was."""
        try:
            cert = signature.load_certificate(pem)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="pem") from None
        sha256 = signature.fingerprint(pem)
        async with self._uow() as uow:
            await facilities.get_facility(uow.session, facility_id)
            existing = await uow.session.scalar(
                select(InsuranceCertificate).where(
                    InsuranceCertificate.facility_id == facility_id,
                    InsuranceCertificate.sha256 == sha256,
                )
            )
            if existing is not None:
                return _certificate_view(existing), False
            row = InsuranceCertificate(
                facility_id=facility_id,
                sha256=sha256,
                subject=cert.subject.rfc4514_string()[:500],
                not_after=cert.not_valid_after_utc,
                pem=pem.strip() + "\n",
                added_at=self._clock.now(),
                added_by=added_by[:64],
            )
            uow.session.add(row)
            await uow.session.flush()
            return _certificate_view(row), True

    async def certificates(self, facility_id: str) -> list[schemas.Certificate]:
        async with self._uow() as uow:
            await facilities.get_facility(uow.session, facility_id)
            rows = (
                await uow.session.scalars(
                    select(InsuranceCertificate)
                    .where(InsuranceCertificate.facility_id == facility_id)
                    .order_by(InsuranceCertificate.added_at)
                )
            ).all()
            return [_certificate_view(row) for row in rows]

    async def certificate(self, facility_id: str, sha256: str) -> schemas.Certificate:
        """One registered certificate of a facility, by its SHA-256."""
        async with self._uow() as uow:
            row = await uow.session.scalar(
                select(InsuranceCertificate).where(
                    InsuranceCertificate.facility_id == facility_id,
                    InsuranceCertificate.sha256 == sha256.lower(),
                )
            )
            if row is None:
                raise NotFound("no such certificate for this facility")
            return _certificate_view(row)

    async def remove_certificate(self, facility_id: str, sha256: str) -> None:
        async with self._uow() as uow:
            removed = await uow.session.execute(
                delete(InsuranceCertificate).where(
                    InsuranceCertificate.facility_id == facility_id,
                    InsuranceCertificate.sha256 == sha256.lower(),
                )
            )
            if not getattr(removed, "rowcount", 0):
                raise NotFound("no such certificate for this facility")

    # --- the citizen's signed files --------------------------------------------------------

    async def _logged(self, citizen_id: uuid.UUID, guardian: str | None, resource: str) -> None:
        if guardian is not None:
            await self._reads.guardian_read(citizen_id, guardian, resource)

    async def _hidden(
        self, uow: UnitOfWork, citizen_id: uuid.UUID, rows: Sequence[InsuranceEpisode]
    ) -> set[uuid.UUID]:
        """Which of the citizen's episode versions are out of view: unless they show restricted
        data, every restricted version, and every version of an episode whose latest version is
        restricted (the episode is hidden whole)."""
        if not rows or await self._publisher.shows_restricted_in(uow, citizen_id):
            return set()
        latest: dict[tuple[str, str], tuple[int, bool]] = {}
        found = await uow.session.execute(
            select(
                InsuranceEpisode.facility_id,
                InsuranceEpisode.ma_lk,
                InsuranceEpisode.version,
                InsuranceEpisode.restricted_tables,
            ).where(InsuranceEpisode.ma_lk.in_(sorted({row.ma_lk for row in rows})))
        )
        for facility_id, ma_lk, version, tables in found.all():
            key = (facility_id, ma_lk)
            if key not in latest or version > latest[key][0]:
                latest[key] = (version, tables is not None)
        return {
            row.id
            for row in rows
            if row.restricted_tables is not None
            or latest.get((row.facility_id, row.ma_lk), (0, False))[1]
        }

    async def signed_files(
        self, citizen_id: uuid.UUID, *, guardian: str | None = None
    ) -> list[schemas.SignedFile]:
        async with self._uow() as uow:
            rows = (
                await uow.session.execute(
                    select(
                        InsuranceEpisode,
                        InsuranceEnvelope.signed,
                        InsuranceEnvelope.certificate_sha256,
                    )
                    .join(InsuranceEnvelope, InsuranceEnvelope.id == InsuranceEpisode.envelope_id)
                    .where(InsuranceEpisode.citizen_id == citizen_id)
                    .order_by(InsuranceEpisode.received_at.desc())
                )
            ).all()
            hidden = await self._hidden(uow, citizen_id, [row for row, _, _ in rows])
            files = [
                schemas.SignedFile(
                    id=str(row.id),
                    facility_id=row.facility_id,
                    ma_lk=row.ma_lk,
                    document_id=row.document_id or "",
                    version=row.version,
                    received_at=row.received_at,
                    signed=signed,
                    certificate_sha256=cert,
                    restricted=row.restricted_tables is not None,
                )
                for row, signed, cert in rows
                if row.id not in hidden
            ]
        await self._logged(citizen_id, guardian, "insurance-files")
        return files

    async def _own_episode(
        self, uow: UnitOfWork, citizen_id: uuid.UUID, file_id: uuid.UUID
    ) -> tuple[InsuranceEpisode, InsuranceEnvelope]:
        row = await uow.session.get(InsuranceEpisode, file_id)
        if row is None or row.citizen_id != citizen_id:
            raise NotFound("no such signed file in this book")
        if await self._hidden(uow, citizen_id, [row]):
            raise NotFound("no such signed file in this book")
        envelope = await uow.session.get(InsuranceEnvelope, row.envelope_id)
        if envelope is None:
            raise NotFound("no such signed file in this book")
        return row, envelope

    async def signed_file(
        self, citizen_id: uuid.UUID, file_id: uuid.UUID, *, guardian: str | None = None
    ) -> bytes:
        """The file as the facility signed it when the envelope carried only this citizen's
        episodes; otherwise (an envelope of many patients) this episode's ``HOSO`` alone, in an
        unsigned ``GIAMDINHHS`` — nobody else's records leave with it."""
        async with self._uow() as uow:
            row, envelope = await self._own_episode(uow, citizen_id, file_id)
            others = await uow.session.scalar(
                select(InsuranceEpisode.id)
                .where(
                    InsuranceEpisode.envelope_id == envelope.id,
                    InsuranceEpisode.citizen_id != citizen_id,
                )
                .limit(1)
            )
            body = envelope.body
        await self._logged(citizen_id, guardian, f"insurance-files/{file_id}/file")
        root = xmlsafe.parse(body, max_bytes=max(len(body), 1), what="stored envelope")
        hosos = root.findall("./THONGTINHOSO/DANHSACHHOSO/HOSO")
        if others is None and len(hosos) == 1:
            return body
        return _excerpt(root, row.hoso_index)

    async def provenance(
        self, citizen_id: uuid.UUID, file_id: uuid.UUID, *, guardian: str | None = None
    ) -> dict[str, Any]:
        """A FHIR R4 ``Provenance`` of the episode: the facility's signature over the file."""
        async with self._uow() as uow:
            row, envelope = await self._own_episode(uow, citizen_id, file_id)
        await self._logged(citizen_id, guardian, f"insurance-files/{file_id}/provenance")
        resource: dict[str, Any] = {
            "resourceType": "Provenance",
            "id": str(row.id),
            "target": [{"reference": f"Composition/{row.version_id or row.id}"}],
            "recorded": row.received_at.isoformat(),
            "activity": {"text": "QĐ 130/QĐ-BYT insurance XML received from the facility"},
            "agent": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "author",
                            }
                        ]
                    },
                    "who": {
                        "identifier": {
                            "system": "http://fhir.ehealth.gov.vn/core/sid/provider-code",
                            "value": row.facility_id,
                        }
                    },
                }
            ],
            "entity": [
                {
                    "role": "source",
                    "what": {
                        "identifier": {
                            "system": "urn:ietf:rfc:3986",
                            "value": f"urn:sha256:{envelope.sha256}",
                        },
                        "display": f"GIAMDINHHS envelope, MA_LK {row.ma_lk}",
                    },
                }
            ],
        }
        if envelope.signed and envelope.signature_value:
            resource["signature"] = [
                {
                    "type": [
                        {
                            "system": "urn:iso-astm:E1762-95:2013",
                            "code": "1.2.840.10065.1.12.1.1",
                            "display": "Author's Signature",
                        }
                    ],
                    "when": row.received_at.isoformat(),
                    "who": {
                        "identifier": {
                            "system": "http://fhir.ehealth.gov.vn/core/sid/provider-code",
                            "value": row.facility_id,
                        }
                    },
                    "sigFormat": "application/signature+xml",
                    "data": envelope.signature_value,
                }
            ]
        return resource


def _excerpt(root: etree._Element, index: int) -> bytes:
    out = etree.Element("GIAMDINHHS")
    unit = root.find("./THONGTINDONVI")
    if unit is not None:
        out.append(_copy(unit))
    info = etree.SubElement(out, "THONGTINHOSO")
    created = root.find("./THONGTINHOSO/NGAYLAP")
    if created is not None:
        info.append(_copy(created))
    etree.SubElement(info, "SOLUONGHOSO").text = "1"
    listing = etree.SubElement(info, "DANHSACHHOSO")
    hosos = root.findall("./THONGTINHOSO/DANHSACHHOSO/HOSO")
    if 0 <= index < len(hosos):
        listing.append(_copy(hosos[index]))
    return etree.tostring(out, xml_declaration=True, encoding="utf-8")


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))
