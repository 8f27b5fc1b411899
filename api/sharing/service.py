"""SMART Health Links of the book: make, list and revoke them (the citizen or a guardian), and
answer their recipients (the manifest and its files, no account needed).

What a share holds is the citizen's choice (``content``): the IPS of the whole book, one visit,
immunizations, or chosen categories, each an IPS-shaped FHIR document from the book's narrowing
export; restricted data only when ticked for that share, never by a guardian. Each share is
also a FHIR ``Consent`` (:mod:`api.sharing.consents`).

What is stored: the shared content only as compact JWE. A one-time link's document is encrypted
when it is made and its key leaves with the answer, never stored. A long-term (``L``) link's
content follows the book: each manifest request exports the same choice anew and encrypts it
with the link's key, which is therefore kept, encrypted at rest like health documents.

The passcode's failure counter lives in the link's row. Each passcode given takes one attempt
with a single ``UPDATE … SET attempts_remaining = attempts_remaining - 1 WHERE …
attempts_remaining > 0 RETURNING`` before its hash is checked, and a right one gives it back:
concurrent guesses line up on the row, none is counted twice or lost, no more guesses than
attempts left ever cost a hash, and the link is disabled (404) when the count reaches zero.
All state is in the database, so every API process refuses a revoked link at once. Each
answer (manifest or ``U`` file) is written to the citizen's access log (recipient, time, what)
in the transaction that hands it out, and the first one also marks the link's
``first_accessed_at`` (``… WHERE first_accessed_at IS NULL``) and enqueues the owner's push
through the outbox. Long-term links' polling is limited per link in Redis (the rate limiter's
sliding window), across API processes. The sweep erases expired and revoked links' content
(keeping their rows) and used file tickets.

A file ``location`` is stateless (:class:`links.FileLocations`): the URL carries the link, the
file and the expiry under an HMAC, so a manifest answer writes nothing but its access-log row;
the file's ``GET`` checks the MAC and the expiry, then reads the file of the link only while the
link is active. A link without passcode that is not long-term is answered in four round trips on
PostgreSQL: ``BEGIN``, the link's columns (never its ciphertext unless embedding), the access-log
row (one statement), ``COMMIT``. ``share_ticket`` only holds tickets handed out before locations
were stateless; they still open their file until they expire (an hour at most), and the sweep
deletes them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Collection
from typing import Any, Literal, Protocol, cast

import msgspec
from sqlalchemy import CursorResult, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core import qr
from api.core.clock import Clock
from api.core.db import UtcDateTime
from api.core.errors import Forbidden, InvalidInput, NotFound
from api.core.ratelimit import RateLimiter
from api.core.settings import SharingSettings
from api.core.uow import UnitOfWorkFactory
from api.sharing import links, schemas
from api.sharing.consents import Consents, shared_categories
from api.sharing.errors import FileNotFound, LinkNotFound, PasscodeInvalid
from api.sharing.models import RecipientLink, ShareLink, ShareTicket
from api.sharing.viewer_page import VIEWER_PATH
from notifications import outbox
from notifications.messages import ShareOpened

logger = logging.getLogger("healthbook.sharing")

SHARED_RESOURCE = "health-book/export/ips"


def shared_resource(link: ShareLink | RecipientLink) -> str:
    """What a recipient fetched, as the access log names it: the book's narrowing export, with
    the share's visit or categories (as a guardian's export of the same choice is logged)."""
    categories = shared_categories(link)
    if link.visit_id is not None:
        return f"{SHARED_RESOURCE}?visit={link.visit_id}"
    if categories is not None:
        return f"{SHARED_RESOURCE}?categories=" + ",".join(sorted(categories))
    return SHARED_RESOURCE


_TICKET_CHARS = len(links.new_secret())
"""A ticket's token (before locations were stateless): 256 random bits, base64url."""

POLL_CLASS = "share-poll"
"""The polling budget of ``L`` links (a :class:`RateLimiter` class, one counter per link)."""


def poll_budget(settings: SharingSettings) -> tuple[int, int] | None:
    """At most ``SHARING_POLL_BURST`` answers of one ``L`` link in any ``SHARING_POLL_BURST`` ×
    ``SHARING_POLL_SECONDS`` seconds (on average one per ``SHARING_POLL_SECONDS``); None: off."""
    if settings.poll_seconds == 0:
        return None
    return settings.poll_burst, settings.poll_burst * settings.poll_seconds


class BookExports(Protocol):
    """The book's FHIR export (the health book's service)."""

    async def export(
        self,
        citizen_id: uuid.UUID,
        *,
        kind: Literal["collection", "ips"],
        guardian: str | None,
    ) -> bytes: ...

    async def export_shared(
        self,
        citizen_id: uuid.UUID,
        *,
        categories: Collection[str] | None,
        visit: uuid.UUID | None,
        include_restricted: bool,
        guardian: str | None,
    ) -> bytes: ...

    async def has_visit(self, citizen_id: uuid.UUID, visit_id: uuid.UUID) -> bool: ...

    async def pdf_shared(
        self,
        citizen_id: uuid.UUID,
        *,
        categories: Collection[str] | None,
        visit: uuid.UUID | None,
        include_restricted: bool,
    ) -> bytes: ...


class CardFiles(Protocol):
    """SMART Health Cards (the health cards' service)."""

    def card_of_document(
        self, citizen_id: uuid.UUID, document: bytes, content: Literal["immunizations", "visit"]
    ) -> bytes | None: ...


CARD_CONTENTS: frozenset[str] = frozenset({"immunizations", "visit"})
"""What a share may also carry as a SMART Health Card: what cards are issued for."""


class RecipientReads(Protocol):
    """The citizen's access log (the health book's), written in the caller's transaction."""

    async def recipient_read_in(
        self,
        session: AsyncSession,
        citizen_id: uuid.UUID,
        recipient: str,
        resource: str,
        detail: dict[str, Any],
        now: dt.datetime,
    ) -> uuid.UUID: ...


_LINK = ShareLink.__table__.c
_FIND = select(
    _LINK.id,
    _LINK.citizen_id,
    _LINK.content,
    _LINK.visit_id,
    _LINK.categories,
    _LINK.include_restricted,
    _LINK.label,
    _LINK.flags,
    _LINK.jwe_at,
    _LINK.passcode_hash,
    _LINK.attempts_remaining,
    _LINK.key,
    _LINK.first_accessed_at,
    _LINK.card_jwe.is_not(None),
    _LINK.pdf_jwe.is_not(None),
).where(
    _LINK.manifest_id == bindparam("manifest_id"),
    _LINK.revoked_at.is_(None),
    _LINK.expires_at > bindparam("now", type_=UtcDateTime()),
    _LINK.attempts_remaining > 0,
)
"""The active link at a manifest id, without its ciphertexts (Core: no ORM identity map on the
hot path; built once)."""


def _active(now: dt.datetime) -> Any:
    return (
        ShareLink.revoked_at.is_(None),
        ShareLink.expires_at > now,
        ShareLink.attempts_remaining > 0,
    )


class ShareService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        book: BookExports,
        log: RecipientReads,
        settings: SharingSettings,
        base_url: str,
        consents: Consents,
        location_secret: str,
        polls: RateLimiter | None = None,
        cards: CardFiles | None = None,
    ) -> None:
        """``polls``: the limiter of ``L`` links' polling (class :data:`POLL_CLASS`, in Redis
        so it holds across API processes); None: not limited. ``cards``: signs the health card
        a share of immunizations or of a visit carries beside its document; None: no cards.
        ``location_secret``: the service secret file ``location`` tokens' key is derived from
        (a key of their own)."""
        self._locations = links.FileLocations(location_secret)
        self._polls = polls
        self._cards = cards
        self._uow = uow
        self._clock = clock
        self._book = book
        self._log = log
        self._settings = settings
        self._base = base_url.rstrip("/")
        self._consents = consents

    @property
    def consents(self) -> Consents:
        """The shares as FHIR Consents."""
        return self._consents

    def _card(self, link: ShareLink | RecipientLink, key: str, document: bytes) -> str | None:
        """The share's health card file, encrypted with its key: signed from the shared
        ``document`` itself (so it holds nothing the document does not, restricted data
        included), for immunizations or a visit, when this service signs cards and the document
        holds something to sign. A ``U`` link has a single file: no card."""
        if self._cards is None or link.content not in CARD_CONTENTS or "U" in link.flags:
            return None
        content: Literal["immunizations", "visit"] = (
            "visit" if link.content == "visit" else "immunizations"
        )
        card = self._cards.card_of_document(link.citizen_id, document, content)
        return None if card is None else links.encrypt(key, card, links.HEALTH_CARD_FILE)

    async def _content(
        self, link: ShareLink | RecipientLink, *, guardian: str | None = None
    ) -> bytes:
        """What ``link`` holds, exported from the book as it is now (the share's choice)."""
        return await self._book.export_shared(
            link.citizen_id,
            categories=shared_categories(link),
            visit=link.visit_id,
            include_restricted=link.include_restricted,
            guardian=guardian,
        )

    async def _pdf(self, link: ShareLink | RecipientLink, key: str) -> str | None:
        """The share's PDF file, encrypted with its key, when the link carries one."""
        carries = link.has_pdf if isinstance(link, RecipientLink) else link.pdf_jwe is not None
        if not carries:
            return None
        body = await self._book.pdf_shared(
            link.citizen_id,
            categories=shared_categories(link),
            visit=link.visit_id,
            include_restricted=link.include_restricted,
        )
        return links.encrypt(key, body, links.PDF_FILE)

    async def _choice(
        self, citizen_id: uuid.UUID, data: schemas.ShareCreate, *, guardian: str | None
    ) -> tuple[uuid.UUID | None, str | None]:
        """The visit and the categories of a new share, checked against its ``content``."""
        if data.include_restricted and guardian is not None:
            raise Forbidden(
                "only the citizen may include their restricted records in a share; a guardian "
                "never does"
            )
        if data.content != "visit" and data.visit_id is not None:
            raise InvalidInput("visit_id is for content 'visit' only", field="visit_id")
        if data.content != "categories" and data.categories is not None:
            raise InvalidInput("categories is for content 'categories' only", field="categories")
        if data.content == "visit":
            if data.visit_id is None:
                raise InvalidInput("content 'visit' needs visit_id", field="visit_id")
            if not await self._book.has_visit(citizen_id, data.visit_id):
                raise InvalidInput("no such visit in this book", field="visit_id")
            return data.visit_id, None
        if data.content == "immunizations":
            return None, "immunizations"
        if data.content == "categories":
            if not data.categories:
                raise InvalidInput("content 'categories' needs categories", field="categories")
            return None, ",".join(dict.fromkeys(data.categories))
        return None, None

    def manifest_url(self, manifest_id: str) -> str:
        return f"{self._base}/shl/{manifest_id}"

    def _share(self, link: ShareLink, now: dt.datetime) -> dict[str, Any]:
        if link.revoked_at is not None:
            status = "revoked"
        elif link.expires_at <= now:
            status = "expired"
        elif link.attempts_remaining <= 0:
            status = "disabled"
        else:
            status = "active"
        return {
            "id": link.id,
            "content": link.content,
            "visit_id": link.visit_id,
            "categories": list(shared_categories(link) or ()) or None,
            "include_restricted": link.include_restricted,
            "recipient": link.recipient,
            "label": link.label,
            "flag": link.flags,
            "created_at": link.created_at,
            "expires_at": link.expires_at,
            "revoked_at": link.revoked_at,
            "status": status,
            "passcode_attempts_remaining": (
                link.attempts_remaining if link.passcode_hash is not None else None
            ),
            "url": self.manifest_url(link.manifest_id),
            "pdf": link.pdf_jwe is not None,
        }

    # --- the citizen's side -----------------------------------------------------------------

    async def create(
        self,
        citizen_id: uuid.UUID,
        data: schemas.ShareCreate,
        *,
        created_by: uuid.UUID,
        guardian: str | None,
    ) -> schemas.ShareCreated:
        now = self._clock.now()
        expires_at = data.expires_at
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at needs a UTC offset", field="expires_at")
        if expires_at <= now:
            raise InvalidInput("expires_at must be in the future", field="expires_at")
        if expires_at > now + dt.timedelta(days=self._settings.max_days):
            raise InvalidInput(
                f"expires_at is at most {self._settings.max_days} days ahead", field="expires_at"
            )
        if data.direct and data.pdf:
            raise InvalidInput(
                "a direct (flag U) link has a single file: no PDF beside it", field="pdf"
            )
        if data.direct and data.passcode is not None:
            raise InvalidInput(
                "a direct (flag U) link cannot have a passcode: the spec forbids U with P",
                field="direct",
            )
        expires_at = expires_at.astimezone(dt.UTC)  # within range now (year 1 would overflow)
        visit_id, categories = await self._choice(citizen_id, data, guardian=guardian)
        key = links.new_key()
        passcode_hash = (
            None
            if data.passcode is None
            else await asyncio.to_thread(links.hash_passcode, data.passcode)
        )
        flag = links.flags(
            long_term=data.long_term, passcode=data.passcode is not None, direct=data.direct
        )
        link = ShareLink(
            id=uuid.uuid4(),
            citizen_id=citizen_id,
            created_by=created_by,
            manifest_id=links.new_secret(),
            content=data.content,
            visit_id=visit_id,
            categories=categories,
            include_restricted=data.include_restricted,
            recipient=data.recipient,
            label=data.label,
            flags=flag,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            passcode_hash=passcode_hash,
            attempts_remaining=self._settings.passcode_attempts,
            key=links.b64url_decode(key) if data.long_term else None,
            jwe="",
            jwe_at=now,
            pdf_jwe="" if data.pdf else None,
        )
        body = await self._content(link, guardian=guardian)
        link.jwe = links.encrypt(key, body)
        link.card_jwe = self._card(link, key, body)
        link.pdf_jwe = await self._pdf(link, key)
        async with self._uow() as uow:
            uow.session.add(link)
        payload = links.encode(
            url=self.manifest_url(link.manifest_id),
            key=key,
            exp=int(expires_at.timestamp()),
            flag=flag,
            label=data.label,
        )
        # a viewer URL with the payload after '#' (opens in any camera app): the operator's
        # external viewer when configured, else the one this service serves
        viewer = self._settings.viewer_url or f"{self._base}{VIEWER_PATH}"
        viewer_url = f"{viewer}#{payload}"
        # never cached: the QR carries the link's key
        png = await asyncio.to_thread(qr.png, viewer_url)
        svg = await asyncio.to_thread(qr.svg, viewer_url)
        return schemas.ShareCreated(
            **self._share(link, now),
            shlink=payload,
            viewer_url=viewer_url,
            qr_png=base64.b64encode(png).decode("ascii"),
            qr_svg=svg.decode("utf-8"),
        )

    async def shares(self, citizen_id: uuid.UUID) -> schemas.ShareList:
        now = self._clock.now()
        async with self._uow() as uow:
            rows = await uow.session.scalars(
                select(ShareLink)
                .where(ShareLink.citizen_id == citizen_id)
                .order_by(ShareLink.created_at.desc(), ShareLink.id)
            )
            items = [schemas.Share(**self._share(link, now)) for link in rows]
        return schemas.ShareList(items=items)

    async def share(self, citizen_id: uuid.UUID, share_id: uuid.UUID) -> schemas.Share:
        """One link of this book with its status (never its key); ``NotFound`` otherwise."""
        now = self._clock.now()
        async with self._uow() as uow:
            link = await uow.session.scalar(
                select(ShareLink).where(
                    ShareLink.id == share_id, ShareLink.citizen_id == citizen_id
                )
            )
            if link is None:
                raise NotFound("no such share")
            return schemas.Share(**self._share(link, now))

    async def consent_bundle(self, citizen_id: uuid.UUID) -> bytes:
        """The book's shares as FHIR Consents: a ``searchset`` Bundle, newest first."""
        return await self._consents.searchset(citizen_id, base_url=self._base)

    async def consent(self, citizen_id: uuid.UUID, consent_id: uuid.UUID) -> bytes:
        """One share as a FHIR Consent; ``NotFound`` otherwise."""
        return await self._consents.one(citizen_id, consent_id)

    async def revoke(self, citizen_id: uuid.UUID, share_id: uuid.UUID) -> None:
        """Revoke at once (a revoked link stays revoked: revoking again changes nothing)."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.session.scalar(
                update(ShareLink)
                .where(ShareLink.id == share_id, ShareLink.citizen_id == citizen_id)
                .values(revoked_at=func.coalesce(ShareLink.revoked_at, now))
                .returning(ShareLink.id)
            )
        if found is None:
            raise NotFound("no such share")

    # --- the recipient's side ---------------------------------------------------------------

    async def manifest(
        self, manifest_id: str, request: schemas.ManifestRequest
    ) -> schemas.Manifest:
        """The manifest of an active link (a ``U`` link answers it too: its one file).

        A link without passcode that is not long-term is answered in one transaction: the link
        found active, the file ticket, the access-log row (and on the first answer the owner's
        push). A passcode is checked, and an ``L`` link's polling budget spent and its book
        exported, between the read and a second transaction that finds the link still active."""
        now = self._clock.now()
        embedding = request.embedded_length_max is not None
        async with self._uow() as uow:
            link = await self._find(uow.session, manifest_id, now)
            if link.passcode_hash is None and link.key is None:
                jwe = await self._stored(uow.session, link, now) if embedding else None
                return await self._manifest_in(uow.session, link, request, now, jwe)
        await self._admit(link, request.passcode)
        fresh = await self._reencrypted(link)
        async with self._uow() as uow:
            jwe = await self._still_active(uow.session, link, now, fresh)
            return await self._manifest_in(uow.session, link, request, now, jwe)

    async def direct(self, manifest_id: str, recipient: str) -> str:
        """``GET <url>?recipient=…`` of a ``U`` link: its single file, the compact JWE. A link
        without ``U`` has no such form: 404, as for an unknown link."""
        now = self._clock.now()
        async with self._uow() as uow:
            link = await self._find(uow.session, manifest_id, now)
            if "U" not in link.flags:
                raise LinkNotFound()
            if link.key is None:  # U never goes with P: one transaction
                jwe = await self._stored(uow.session, link, now)
                await self._record(uow.session, link, recipient, now, "direct")
                return jwe
        await self._admit(link, None)
        fresh = await self._reencrypted(link)
        async with self._uow() as uow:
            jwe = await self._still_active(uow.session, link, now, fresh)
            await self._record(uow.session, link, recipient, now, "direct")
            return jwe

    @staticmethod
    async def _find(session: AsyncSession, manifest_id: str, now: dt.datetime) -> RecipientLink:
        """The active link at ``manifest_id`` (without its ciphertexts); ``LinkNotFound``."""
        row = (await session.execute(_FIND, {"manifest_id": manifest_id, "now": now})).first()
        if row is None:
            raise LinkNotFound()
        (
            id_,
            citizen_id,
            content,
            visit_id,
            categories,
            include_restricted,
            label,
            flags,
            jwe_at,
            passcode_hash,
            attempts_remaining,
            key,
            first_accessed_at,
            has_card,
            has_pdf,
        ) = row
        return RecipientLink(
            id=id_,
            citizen_id=citizen_id,
            content=content,
            visit_id=visit_id,
            categories=categories,
            include_restricted=include_restricted,
            label=label,
            flags=flags,
            jwe_at=jwe_at,
            passcode_hash=passcode_hash,
            attempts_remaining=attempts_remaining,
            key=key,
            first_accessed_at=first_accessed_at,
            has_card=bool(has_card),
            has_pdf=bool(has_pdf),
        )

    @staticmethod
    async def _stored(session: AsyncSession, link: RecipientLink, now: dt.datetime) -> str:
        """The link's ciphertext (its card's and PDF's too, kept in ``link``), while the link is
        active; ``LinkNotFound`` otherwise (revoked, disabled or swept meanwhile)."""
        found = (
            await session.execute(
                select(ShareLink.jwe, ShareLink.card_jwe, ShareLink.pdf_jwe).where(
                    ShareLink.id == link.id, ShareLink.jwe.is_not(None), *_active(now)
                )
            )
        ).first()
        document: str | None = None if found is None else found[0]
        if found is None or document is None:
            raise LinkNotFound()
        link.card_jwe = found[1]
        link.pdf_jwe = found[2]
        return document

    async def _admit(self, link: RecipientLink, passcode: str | None) -> None:
        """Its passcode (if any) right, and its polling budget (``L``) allowing another answer;
        ``PasscodeInvalid``, ``LinkNotFound`` or ``RateLimited`` otherwise."""
        if link.passcode_hash is not None:
            await self._check_passcode(link, passcode)
        if "L" in link.flags and self._polls is not None:
            # a wrong passcode never gets here: it spends an attempt, not the polling budget
            await self._polls.hit(POLL_CLASS, str(link.id))

    async def _reencrypted(self, link: RecipientLink) -> tuple[str, str | None, str | None] | None:
        """An ``L`` link's book as it is now, encrypted anew with its key, its health card
        signed anew from it and its PDF drawn anew; None for others."""
        if link.key is None:
            return None
        key = links.b64url(link.key)
        body = await self._content(link)
        return links.encrypt(key, body), self._card(link, key, body), await self._pdf(link, key)

    async def _still_active(
        self,
        session: AsyncSession,
        link: RecipientLink,
        now: dt.datetime,
        new: tuple[str, str | None, str | None] | None,
    ) -> str:
        """In the answer's transaction: the link still active (``LinkNotFound`` otherwise), an
        ``L`` link's new ciphertexts (document and card) stored; the document to hand out."""
        if new is None:
            return await self._stored(session, link, now)
        new_jwe, new_card, new_pdf = new
        still = await session.scalar(
            update(ShareLink)
            .where(ShareLink.id == link.id, ShareLink.jwe.is_not(None), *_active(now))
            .values(jwe=new_jwe, card_jwe=new_card, pdf_jwe=new_pdf, jwe_at=now)
            .returning(ShareLink.id)
        )
        if still is None:
            raise LinkNotFound()
        link.jwe_at = now
        link.card_jwe = new_card
        link.has_card = new_card is not None
        link.pdf_jwe = new_pdf
        link.has_pdf = new_pdf is not None
        return new_jwe

    async def _manifest_in(
        self,
        session: AsyncSession,
        link: RecipientLink,
        request: schemas.ManifestRequest,
        now: dt.datetime,
        jwe: str | None,
    ) -> schemas.Manifest:
        """The manifest and its log row written in ``session`` (the answer's transaction).
        ``jwe``: the document, when it may be embedded. The health card and PDF files, when the
        link has them, follow the document: embedded or by a location of their own."""
        limit = request.embedded_length_max
        embedded = jwe is not None and limit is not None and len(jwe) <= limit
        entry = await self._record(
            session, link, request.recipient, now, "embedded" if embedded else "location"
        )
        files = [self._file(link, limit, now, links.FHIR_JSON, jwe, entry)]
        if link.has_card:
            files.append(self._file(link, limit, now, links.HEALTH_CARD_FILE, link.card_jwe, entry))
        if link.has_pdf:
            files.append(self._file(link, limit, now, links.PDF_FILE, link.pdf_jwe, entry))
        return schemas.Manifest(files=files)

    def _file(
        self,
        link: RecipientLink,
        limit: int | None,
        now: dt.datetime,
        content_type: str,
        jwe: str | None,
        entry: uuid.UUID,
    ) -> schemas.ManifestFile:
        """One file of the manifest: ``embedded`` when it fits ``embeddedLengthMax`` (``limit``),
        else a stateless ``location`` (the answer's log row ``entry`` in it)."""
        file = schemas.ManifestFile(
            content_type=content_type,
            last_updated=link.jwe_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            status="can-change" if "L" in link.flags else "finalized",
        )
        if jwe is not None and limit is not None and len(jwe) <= limit:
            file.embedded = jwe
            return file
        expires = int(now.timestamp()) + self._settings.file_url_seconds
        token = self._locations.issue(link.id, entry, content_type, expires)
        file.location = f"{self._base}/shl/files/{token}"
        return file

    async def _record(
        self,
        session: AsyncSession,
        link: RecipientLink,
        recipient: str,
        now: dt.datetime,
        delivery: str,
    ) -> uuid.UUID:
        """The access-log row of an answer (its id), and on the link's first answer its owner's
        push, in the answer's transaction: nothing leaves that is not logged."""
        entry = await self._log.recipient_read_in(
            session,
            link.citizen_id,
            recipient,
            shared_resource(link),
            {
                "share": str(link.id),
                "content": link.content,
                "label": link.label,
                "recipient": recipient,
                "delivery": delivery,
            },
            now,
        )
        if link.first_accessed_at is None:
            await self._first_access(session, link, recipient, now)
        return entry

    async def _first_access(
        self, session: AsyncSession, link: RecipientLink, recipient: str, now: dt.datetime
    ) -> None:
        """Mark the link's first answer and, in the same transaction, enqueue its owner's push
        (a dependent's guardians get it through the relay). However many first requests arrive
        at once, one ``UPDATE … WHERE first_accessed_at IS NULL RETURNING`` finds the row
        still unmarked: the others wait for its commit and then find nothing."""
        first = await session.scalar(
            update(ShareLink)
            .where(ShareLink.id == link.id, ShareLink.first_accessed_at.is_(None))
            .values(first_accessed_at=now)
            .returning(ShareLink.id)
        )
        if first is None:
            return
        await outbox.enqueue(
            session,
            link.citizen_id,
            ShareOpened(
                share_id=str(link.id),
                recipient=recipient[:200],
                label=link.label,
                opened_at=now,
            ),
            dedupe_key=f"share:{link.id}:opened",
            now=now,
        )

    async def _check_passcode(self, link: RecipientLink, given: str | None) -> None:
        """Admit the right passcode; otherwise spend one of the link's attempts and answer 401.

        An attempt is taken *before* the hash is computed (one atomic UPDATE … WHERE
        attempts_remaining > 0 RETURNING), and given back when the passcode was right: however
        many guesses arrive at once, at most the attempts left ever reach the hash, and no
        failure goes uncounted. A request without a passcode spends nothing."""
        if given is None:
            raise PasscodeInvalid(link.attempts_remaining)
        remaining = await self._attempts(link.id, -1)
        if remaining is None:  # used up meanwhile: disabled
            raise LinkNotFound()
        assert link.passcode_hash is not None
        if await asyncio.to_thread(links.check_passcode, link.passcode_hash, given):
            await self._attempts(link.id, +1)
            return
        raise PasscodeInvalid(remaining)

    async def _attempts(self, link_id: uuid.UUID, change: int) -> int | None:
        """Add ``change`` to the attempts left in one statement; taking one needs one left.
        The count after the change, or None when there was none to take."""
        condition = [ShareLink.id == link_id]
        if change < 0:
            condition.append(ShareLink.attempts_remaining > 0)
        async with self._uow() as uow:
            return await uow.session.scalar(
                update(ShareLink)
                .where(*condition)
                .values(attempts_remaining=ShareLink.attempts_remaining + change)
                .returning(ShareLink.attempts_remaining)
            )

    async def file(self, token: str) -> str:
        """The JWE a ``location`` points at, while the location and its link are valid: a
        stateless token checked here (MAC, expiry), or a ticket handed out before them."""
        now = self._clock.now()
        opened = self._locations.open(token, now.timestamp())
        if opened is not None:
            link_id, content_type = opened
            column = {
                links.HEALTH_CARD_FILE: ShareLink.card_jwe,
                links.PDF_FILE: ShareLink.pdf_jwe,
            }.get(content_type, ShareLink.jwe)
            async with self._uow() as uow:
                jwe = await uow.session.scalar(
                    select(column).where(ShareLink.id == link_id, *_active(now))
                )
            if jwe is None:
                raise FileNotFound()
            return jwe
        if len(token) != _TICKET_CHARS:
            raise FileNotFound()
        async with self._uow() as uow:
            found = (
                await uow.session.execute(
                    select(
                        ShareTicket.content_type,
                        ShareLink.jwe,
                        ShareLink.card_jwe,
                        ShareLink.pdf_jwe,
                    )
                    .join(ShareTicket, ShareTicket.link_id == ShareLink.id)
                    .where(ShareTicket.token == token, ShareTicket.expires_at > now, *_active(now))
                )
            ).first()
        if found is None:
            raise FileNotFound()
        content_type, document, card, pdf = found
        jwe = {links.HEALTH_CARD_FILE: card, links.PDF_FILE: pdf}.get(content_type, document)
        if jwe is None:
            raise FileNotFound()
        return jwe

    # --- upkeep -----------------------------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Erase what expired or revoked links no longer need: their ciphertext, key and
        passcode hash once they stopped working ``SHARING_SWEEP_AFTER_DAYS`` ago (the row stays,
        with its label, dates and status, for the citizen's list and consent history), and
        every file ticket past its lifetime or of a swept link. Idempotent: two sweeps at once
        erase nothing twice."""
        now = self._clock.now()
        cutoff = now - dt.timedelta(days=self._settings.sweep_after_days)
        async with self._uow() as uow:
            swept = list(
                await uow.session.scalars(
                    update(ShareLink)
                    .where(
                        ShareLink.swept_at.is_(None),
                        or_(ShareLink.expires_at <= cutoff, ShareLink.revoked_at <= cutoff),
                    )
                    .values(
                        jwe=None,
                        card_jwe=None,
                        pdf_jwe=None,
                        key=None,
                        passcode_hash=None,
                        swept_at=now,
                    )
                    .returning(ShareLink.id)
                )
            )
            tickets = await uow.session.execute(
                delete(ShareTicket).where(
                    or_(ShareTicket.expires_at <= now, ShareTicket.link_id.in_(swept))
                    if swept
                    else ShareTicket.expires_at <= now
                )
            )
        result = SweepResult(
            links=len(swept), tickets=max(0, int(cast("CursorResult[Any]", tickets).rowcount or 0))
        )
        if result.links or result.tickets:
            logger.info("shares swept", extra={"links": result.links, "tickets": result.tickets})
        return result

    async def run_sweeps(self, stop: asyncio.Event) -> None:
        """Sweep every ``SHARING_SWEEP_INTERVAL_SECONDS`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                logger.exception("sweeping shares failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.sweep_interval_seconds)


class SweepResult(msgspec.Struct, frozen=True, kw_only=True):
    links: int
    """Links whose content was erased."""
    tickets: int
    """File tickets deleted."""
