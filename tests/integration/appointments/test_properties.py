"""A hypothesis state machine of random book / cancel / reschedule / shrink / block / reopen
sequences, run through the use cases on the test's backend. After every step, for every slot:
``booked <= capacity`` and ``booked`` equals its appointments that are not cancelled — and the
database agrees with a plain model of who holds which place (overflow cancelled latest-first)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from api.appointments.models import Appointment, Slot
from api.appointments.schemas import AppointmentCreate, AppointmentReschedule, SlotPut
from api.appointments.service import AppointmentService, Limits, SlotService
from api.core.clock import FrozenClock
from api.core.db import create_engine, create_sessionmaker
from api.core.errors import DomainError
from api.core.pagination import Cursors
from api.core.settings import Settings
from api.core.uow import UnitOfWork, UnitOfWorkFactory
from api.facilities import schemas as facility_schemas
from api.facilities import service as facilities
from api.identity.citizens import find_or_create

SLOTS = 3
START = dt.datetime(2030, 1, 1, 1, 0, tzinfo=dt.UTC)
CITIZENS = 4
_examples = itertools.count(1)


@dataclass
class ModelSlot:
    ref: str
    capacity: int
    status: str = "open"
    holders: dict[str, tuple[int, int]] = field(default_factory=dict)
    """appointment id -> (citizen index, booking order)"""


def make_machine(settings: Settings) -> type[RuleBasedStateMachine]:
    class Booking(RuleBasedStateMachine):
        appointments = Bundle("appointments")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.engine = create_engine(settings)
            self.sessions = create_sessionmaker(self.engine)
            self.clock = FrozenClock(START)
            self.limits = Limits(max_active=100)
            uow, cursors = UnitOfWorkFactory(self.sessions), Cursors("properties")
            self.appointments = AppointmentService(
                uow=uow,
                cursors=cursors,
                directory=None,  # type: ignore[arg-type]  # no use case here shows a patient
                limits=self.limits,
                clock=self.clock,
            )
            self.slots = SlotService(uow=uow, cursors=cursors, limits=self.limits, clock=self.clock)
            self.facility = f"HP{next(_examples):05d}"
            self.order = itertools.count()
            self.owner: dict[str, int] = {}
            self.model = [ModelSlot(f"s{i}", capacity=1 + i % 3) for i in range(SLOTS)]
            self.run(self._setup())

        def run(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        def teardown(self) -> None:
            self.run(self.engine.dispose())
            self.loop.close()

        async def _setup(self) -> None:
            now = self.clock.now()
            async with UnitOfWork(self.sessions) as uow:
                await facilities.put_facility(
                    uow,
                    self.facility,
                    facility_schemas.FacilityPut(name="Bệnh viện thử", province="Hà Nội"),
                    production=False,
                    now=now,
                )
                await facilities.put_department(
                    uow,
                    self.facility,
                    "NOI",
                    facility_schemas.DepartmentPut(name="Nội"),
                    now=now,
                )
            async with self.sessions() as session:
                self.citizens = []
                for _ in range(CITIZENS):
                    citizen, _ = await find_or_create(session, uuid.uuid4().hex * 2, None, now)
                    self.citizens.append(citizen.id)
                await session.commit()
            result = await self._publish()
            self.slot_ids = [uuid.UUID(o.slot_id) for o in result.slots]

        async def _publish(self) -> Any:
            start = START + dt.timedelta(days=2)
            items = [
                SlotPut(
                    id=m.ref,
                    department="NOI",
                    start=start + dt.timedelta(hours=i),
                    end=start + dt.timedelta(hours=i, minutes=30),
                    capacity=m.capacity,
                    status=m.status,  # type: ignore[arg-type]
                )
                for i, m in enumerate(self.model)
            ]
            body = msgspec.json.encode({"slots": items})
            return await self.slots.publish(self.facility, body, "application/json")

        def _holder(self, appointment_id: str) -> ModelSlot | None:
            return next((m for m in self.model if appointment_id in m.holders), None)

        # --- rules ---------------------------------------------------------------------------

        @rule(
            target=appointments, who=st.integers(0, CITIZENS - 1), where=st.integers(0, SLOTS - 1)
        )
        def book(self, who: int, where: int) -> Any:
            self.clock.advance(seconds=1)
            slot = self.model[where]
            expected = (
                slot.status == "open"
                and len(slot.holders) < slot.capacity
                and who not in {c for c, _ in slot.holders.values()}
            )

            async def attempt() -> str | None:
                try:
                    answer = await self.appointments.book(
                        citizen_id=self.citizens[who],
                        actor_id=self.citizens[who],
                        data=AppointmentCreate(slot_id=self.slot_ids[where]),
                        idempotency_key=str(uuid.uuid4()),
                        render_error=lambda error: error.problem.slug.encode(),
                    )
                except DomainError:
                    return None
                return msgspec.json.decode(answer.body)["id"]

            booked = self.run(attempt())
            assert (booked is not None) == expected, (who, where, slot)
            if booked is None:
                return multiple()
            slot.holders[booked] = (who, next(self.order))
            self.owner[booked] = who
            return booked

        @rule(appointment=consumes(appointments))
        def cancel(self, appointment: str) -> None:
            slot = self._holder(appointment)

            async def attempt() -> bool:
                try:
                    await self.appointments.cancel(
                        citizen_id=self.citizens[self.owner[appointment]],
                        appointment_id=uuid.UUID(appointment),
                    )
                except DomainError:
                    return False
                return True

            done = self.run(attempt())
            assert done == (slot is not None), (appointment, slot)
            if slot is not None:
                del slot.holders[appointment]

        @rule(appointment=appointments, where=st.integers(0, SLOTS - 1))
        def reschedule(self, appointment: str, where: int) -> None:
            current = self._holder(appointment)
            target = self.model[where]
            if current is None:
                return
            who, order = current.holders[appointment]
            expected = target is current or (
                target.status == "open"
                and len(target.holders) < target.capacity
                and who not in {c for c, _ in target.holders.values()}
            )

            async def attempt() -> bool:
                try:
                    await self.appointments.reschedule(
                        citizen_id=self.citizens[who],
                        appointment_id=uuid.UUID(appointment),
                        data=AppointmentReschedule(slot_id=self.slot_ids[where]),
                    )
                except DomainError:
                    return False
                return True

            moved = self.run(attempt())
            assert moved == expected, (appointment, where, current, target)
            if moved and target is not current:
                del current.holders[appointment]
                target.holders[appointment] = (who, order)

        def _overflow(self, slot: ModelSlot, keep: int) -> None:
            latest = sorted(slot.holders.items(), key=lambda item: item[1][1], reverse=True)
            for appointment, _ in latest[: max(0, len(slot.holders) - keep)]:
                del slot.holders[appointment]

        @rule(where=st.integers(0, SLOTS - 1), capacity=st.integers(1, 4))
        def resize(self, where: int, capacity: int) -> None:
            slot = self.model[where]
            slot.capacity = capacity
            self._overflow(slot, 0 if slot.status == "blocked" else capacity)
            self.run(self._publish())

        @rule(where=st.integers(0, SLOTS - 1))
        def block(self, where: int) -> None:
            slot = self.model[where]
            slot.status = "blocked"
            self._overflow(slot, 0)
            self.run(self._publish())

        @rule(where=st.integers(0, SLOTS - 1))
        def reopen(self, where: int) -> None:
            self.model[where].status = "open"
            self.run(self._publish())

        # --- what must always hold ------------------------------------------------------------

        @invariant()
        def places_match_appointments(self) -> None:
            async def look() -> list[tuple[Slot, int, set[str]]]:
                async with self.sessions() as session:
                    found = []
                    for slot_id in self.slot_ids:
                        slot = await session.get(Slot, slot_id, populate_existing=True)
                        assert slot is not None
                        active = set(
                            map(
                                str,
                                await session.scalars(
                                    select(Appointment.id).where(
                                        Appointment.slot_id == slot_id,
                                        Appointment.status != "cancelled",
                                    )
                                ),
                            )
                        )
                        count = await session.scalar(
                            select(func.count())
                            .select_from(Appointment)
                            .where(
                                Appointment.slot_id == slot_id, Appointment.status != "cancelled"
                            )
                        )
                        found.append((slot, int(count or 0), active))
                    return found

            for (slot, count, active), model in zip(self.run(look()), self.model, strict=True):
                assert slot.booked <= slot.capacity, (slot.external_id, slot.booked, slot.capacity)
                assert slot.booked == count, (slot.external_id, slot.booked, count)
                assert active == set(model.holders), (slot.external_id, active, model.holders)
                assert (slot.capacity, slot.status) == (model.capacity, model.status)

    return Booking


def test_booked_never_exceeds_capacity_and_matches_appointments(settings: Settings) -> None:
    run_state_machine_as_test(
        make_machine(settings),
        settings=hypothesis_settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
