"""Appointment routes: slots (hospital), slot search (public), booking (citizens), day lists."""

from __future__ import annotations

from api.appointments.routes.citizens import AppointmentController
from api.appointments.routes.hospital import HospitalAppointmentController
from api.appointments.routes.slots import HospitalSlotController, SlotSearchController

APPOINTMENT_ROUTES = [
    SlotSearchController,
    HospitalSlotController,
    AppointmentController,
    HospitalAppointmentController,
]
