"""The FHIR side of a pull: find a patient, probe ``_since``, fetch ``$everything`` or
``$summary`` whole. Network only; nothing here touches the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from api.core.settings import Settings
from api.health_book.pull.bundles import (
    Collected,
    Page,
    instant,
    matching_patients,
    next_link,
    outcome_text,
    read_page,
    search_value,
    server_time,
)
from api.health_book.pull.errors import (
    AuthFailed,
    PatientNotFound,
    PullError,
    RedirectRefused,
    RemoteRefused,
)
from api.health_book.pull.http import (
    Budget,
    Endpoint,
    FhirHttp,
    Reply,
    describe_origin,
    same_origin,
)

UNSUPPORTED = frozenset({400, 404, 405, 501})
"""How servers answer an operation they do not implement."""


@dataclass(frozen=True, slots=True)
class Target:
    """A facility we pull from."""

    facility_id: str
    facility_name: str
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class Fetched:
    collected: Collected
    operation: Literal["everything", "summary"]
    as_of: dt.datetime
    """The server's time of the answer: the ``_since`` of the next sync."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What ``$everything?_since=`` said: ``changed`` is None when the server cannot tell
    (``everything_supported`` False when it does not do ``$everything`` at all)."""

    changed: bool | None
    as_of: dt.datetime
    everything_supported: bool = True


class Fetcher:
    def __init__(self, http: FhirHttp, settings: Settings) -> None:
        self._http = http
        self._settings = settings

    async def find_patient(
        self, target: Target, identifiers: Sequence[tuple[str, str]], budget: Budget
    ) -> str:
        """The server's id of the one Patient carrying one of ``identifiers``."""
        endpoint = target.endpoint
        reply = await self._http.get(
            endpoint,
            endpoint.url("Patient"),
            params={"identifier": search_value(identifiers)},
            budget=budget,
        )
        if reply.status != 200:  # its diagnostics may repeat the identifier: left out
            raise refused(reply, "Patient search", diagnostics=False)
        found = matching_patients(read_page(reply.body, "Patient search"), identifiers)
        if not found:
            raise PatientNotFound(f"facility {target.facility_id} has no Patient with it")
        if len(found) > 1:
            raise PatientNotFound(
                f"{len(found)} Patients at facility {target.facility_id} carry this identifier; "
                "none is pulled"
            )
        return found.pop()

    async def probe(
        self,
        endpoint: Endpoint,
        remote_id: str,
        since: dt.datetime,
        budget: Budget,
        started: dt.datetime,
    ) -> Probe:
        """Ask for one resource changed since ``since``: is there any?"""
        reply = await self._http.get(
            endpoint,
            _patient_url(endpoint, remote_id, "$everything"),
            params={"_since": instant(since), "_count": "1"},
            budget=budget,
        )
        if reply.status in UNSUPPORTED:
            # 400 may be about _since only: then $everything without it is still worth a try
            return Probe(None, started, everything_supported=reply.status == 400)
        if reply.status != 200:
            raise refused(reply, "$everything")
        page = read_page(reply.body, "$everything since the last sync")
        changes = Collected()
        changes.add(page)
        changed = changes.changed_since(f"Patient/{remote_id}", since, next_link(page) is not None)
        return Probe(changed, server_time(page, reply.headers.get("date"), started))

    async def fetch(
        self,
        endpoint: Endpoint,
        remote_id: str,
        budget: Budget,
        started: dt.datetime,
        *,
        everything: bool = True,
    ) -> Fetched:
        """All of the patient's record: ``$everything`` with its pages, else ``$summary``."""
        collected = Collected()
        if everything:
            reply = await self._http.get(
                endpoint, _patient_url(endpoint, remote_id, "$everything"), budget=budget
            )
            if reply.status == 200:
                page = read_page(reply.body, "$everything")
                as_of = server_time(page, reply.headers.get("date"), started)
                collected.add(page)
                while (url := next_link(page)) is not None:
                    page = await self._next_page(endpoint, url, collected, budget)
                    collected.add(page)
                return Fetched(collected, "everything", as_of)
            if reply.status not in UNSUPPORTED:
                raise refused(reply, "$everything")
        reply = await self._http.get(
            endpoint, _patient_url(endpoint, remote_id, "$summary"), budget=budget
        )
        if reply.status != 200:
            raise refused(reply, "$summary (the server does not do $everything)")
        page = read_page(reply.body, "$summary")
        collected.add(page)
        return Fetched(collected, "summary", server_time(page, reply.headers.get("date"), started))

    async def _next_page(
        self, endpoint: Endpoint, url: str, collected: Collected, budget: Budget
    ) -> Page:
        if collected.pages >= self._settings.pull.max_pages:
            raise RemoteRefused(
                f"$everything has more than {collected.pages} pages (PULL_MAX_PAGES)"
            )
        if not same_origin(url, endpoint.base_url):
            raise RedirectRefused(
                f"Bundle.link[next] points at another host ({describe_origin(url)}); "
                "a pull never follows it"
            )
        reply = await self._http.get(endpoint, url, budget=budget)
        what = f"$everything page {collected.pages + 1}"
        if reply.status != 200:
            raise refused(reply, what)
        return read_page(reply.body, what)


def _patient_url(endpoint: Endpoint, remote_id: str, operation: str) -> str:
    return endpoint.url(f"Patient/{quote(remote_id, safe='')}/{operation}")


def refused(reply: Reply, what: str, *, diagnostics: bool = True) -> PullError:
    """The error for an answer that is not the one asked for (with the server's diagnostics)."""
    detail = f"{what} answered HTTP {reply.status}"
    text = outcome_text(reply.body) if diagnostics else ""
    if text:
        detail += f": {text}"
    if reply.status in (401, 403):
        return AuthFailed(detail)
    return RemoteRefused(detail, extra={"status": reply.status})
