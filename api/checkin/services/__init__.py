"""The check-in domain's services: :class:`CheckInService` (codes, kiosk check-ins, walk-ins,
the queues' public status) and :class:`QueueDeskService` (the hospital's desk)."""

from api.checkin.services.check_in import CheckInService
from api.checkin.services.queue_desk import QueueDeskService

__all__ = ["CheckInService", "QueueDeskService"]
