"""Appointments: hospitals publish slots; citizens book, cancel and reschedule them."""
