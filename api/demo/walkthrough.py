"""``healthbook demo --walkthrough``: the whole story over HTTP against the running demo, each
step printed with its result.

login → read the book → book an appointment → fetch the QR → kiosk check-in → queue call → push
delivered → new record published → inbox.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from api.demo import data
from api.demo.client import FHIR_JSON, Api, Credentials, DemoError, bearer, idempotency_key
from api.demo.seed import hospital_name, kiosk_name

CITIZEN = "001090000001"
FACILITY = data.FACILITIES[0]
DEPARTMENT = FACILITY.departments[0]
DEVICE = "demo-walkthrough-phone"


class Walkthrough:
    """The story's steps; each returns the line it prints."""

    def __init__(
        self, api: Api, credentials: Credentials, echo: Callable[[str], None] = print
    ) -> None:
        self.api = api
        self.credentials = credentials
        self.echo = echo
        self.citizen: dict[str, str] = {}
        self.hospital: dict[str, str] = {}
        self.appointment: dict[str, Any] = {}
        self.code = ""
        self.ticket: dict[str, Any] = {}
        self.steps: list[tuple[str, str]] = []

    def run(self) -> list[tuple[str, str]]:
        for number, (title, step) in enumerate(
            (
                ("log in", self.log_in),
                ("read the health book", self.read_book),
                ("book an appointment", self.book),
                ("fetch the check-in QR", self.fetch_qr),
                ("check in at the kiosk", self.kiosk_check_in),
                ("queue call", self.queue_call),
                ("push delivered", self.push_delivered),
                ("new record published", self.publish_record),
                ("inbox", self.inbox),
            ),
            start=1,
        ):
            result = step()
            self.steps.append((title, result))
            self.echo(f"{number}. {title}: {result}")
        return self.steps

    # -- steps --------------------------------------------------------------------------------

    def log_in(self) -> str:
        token = self.api.citizen_token(CITIZEN)
        self.citizen = bearer(token)
        me = self.api.call("GET", "/citizens/me", headers=self.citizen).json()
        self.api.call(
            "PUT",
            f"/citizens/me/devices/{DEVICE}",
            json={"token": f"demo-fcm-token-{'x' * 40}", "platform": "android"},
            headers=self.citizen,
            expect=(200, 201),
        )
        dependents = ", ".join(d["full_name"] or d["id"] for d in me["dependents"]) or "none"
        return f"{me['full_name']} (dependents: {dependents}); phone registered for push"

    def read_book(self) -> str:
        book = self.api.call("GET", "/citizens/me/health-book", headers=self.citizen).json()
        return "; ".join(f"{k}={v}" for k, v in _counts(book).items()) or "empty"

    def book(self) -> str:
        self.hospital = bearer(self.api.client_token(self._client(hospital_name(FACILITY.id))))
        slot = data.soon_slot(DEPARTMENT, dt.datetime.now(dt.UTC))
        published = self.api.call(
            "PUT", "/hospital/slots", json={"slots": [slot]}, headers=self.hospital
        ).json()
        slot_id = published["slots"][0]["slot_id"]
        self.appointment = self.api.call(
            "POST",
            "/citizens/me/appointments",
            json={"slot_id": slot_id},
            headers={**self.citizen, "Idempotency-Key": idempotency_key()},
            expect=(201,),
        ).json()
        return (
            f"appointment {self.appointment['id']} at {FACILITY.name}, {DEPARTMENT.name}, "
            f"{self.appointment['start']}"
        )

    def fetch_qr(self) -> str:
        base = f"/citizens/me/appointments/{self.appointment['id']}/check-in"
        token = self.api.call("GET", base, headers=self.citizen).json()
        self.code = token["token"]
        png = self.api.call("GET", f"{base}.png", headers=self.citizen)
        if png.headers.get("content-type") != "image/png" or not png.content.startswith(b"\x89PNG"):
            raise DemoError(f"{base}.png is not a PNG image")
        return (
            f"{len(png.content)} bytes of PNG, valid {token['valid_from']} to "
            f"{token['valid_until']} (key {token['kid']})"
        )

    def kiosk_check_in(self) -> str:
        kiosk = bearer(self.api.client_token(self._client(kiosk_name(FACILITY.id))))
        self.ticket = self.api.call(
            "POST", "/kiosk/check-ins", json={"code": self.code}, headers=kiosk, expect=(201,)
        ).json()
        again = self.api.http.post("/kiosk/check-ins", json={"code": self.code}, headers=kiosk)
        if again.status_code != 409:
            raise DemoError(f"a second scan of the same QR answered {again.status_code}")
        return (
            f"ticket {self.ticket['label']} ({self.ticket['department_name']}, room "
            f"{self.ticket['room']}), {self.ticket['people_ahead']} ahead, about "
            f"{self.ticket['estimated_wait_minutes']} min; a second scan is refused (409)"
        )

    def queue_call(self) -> str:
        path = f"/hospital/queues/{DEPARTMENT.code}/call-next"
        for _ in range(200):  # earlier runs of the walkthrough today may have left people waiting
            outcome = self.api.call("POST", path, headers=self.hospital).json()
            called = outcome["called"]
            if called is None:
                raise DemoError("the queue emptied before our ticket was called")
            if called["ticket_id"] == self.ticket["ticket_id"]:
                board = self.api.call(
                    "GET", f"/facilities/{FACILITY.id}/queues/{DEPARTMENT.code}"
                ).json()
                return (
                    f"{called['label']} called to room {called['room']}; board shows "
                    f"{board['now_serving']['label']}, {board['waiting']} waiting"
                )
        raise DemoError("our ticket was never called")

    def push_delivered(self) -> str:
        kinds = self._wait_for_inbox({"checked_in", "your_turn"})
        return (
            f"{', '.join(sorted(kinds & {'appointment_booked', 'checked_in', 'your_turn'}))} "
            "in the inbox and pushed to the registered phone (the console sender logs each push)"
        )

    def publish_record(self) -> str:
        facility, bundle = data.new_record(CITIZEN, dt.datetime.now(dt.UTC))
        answer = self.api.call(
            "POST",
            "/hospital/summaries",
            content=json.dumps(bundle, ensure_ascii=False).encode(),
            headers={**self.hospital, **FHIR_JSON},
            expect=(201,),
        )
        book = self.api.call("GET", "/citizens/me/health-book", headers=self.citizen).json()
        result = answer.json()
        return (
            f"document {result['document_id']} ({result['outcome']}) from {facility.name}; the "
            "book now has " + "; ".join(f"{k}={v}" for k, v in _counts(book).items())
        )

    def inbox(self) -> str:
        self._wait_for_inbox({"health_record_available"})
        page = self.api.call(
            "GET", "/citizens/me/notifications", headers={**self.citizen, "Accept-Language": "vi"}
        ).json()
        titles = " | ".join(item["title"] for item in page["items"][:4])
        return f"{page['unread_count']} unread; latest: {titles}"

    # -- helpers ------------------------------------------------------------------------------

    def _client(self, name: str) -> dict[str, Any]:
        client = self.credentials.get(name)
        if client is None:
            raise DemoError(f"no demo client {name!r}: start the demo (healthbook demo) first")
        return client

    def _wait_for_inbox(self, kinds: set[str], timeout: float = 20.0) -> set[str]:
        deadline = time.monotonic() + timeout
        while True:
            page = self.api.call("GET", "/citizens/me/notifications", headers=self.citizen).json()
            seen = {item["kind"] for item in page["items"]}
            if kinds <= seen:
                return seen
            if time.monotonic() > deadline:
                raise DemoError(f"{sorted(kinds - seen)} did not reach the inbox in {timeout} s")
            time.sleep(0.2)


def _counts(book: dict[str, Any]) -> dict[str, int]:
    counts = book.get("counts") or {}
    return {k: v for k, v in counts.items() if isinstance(v, int) and v}
