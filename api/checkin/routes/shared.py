"""What the check-in controllers share: the auth answers, headers and path rules."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from api.checkin import schemas
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN

AUTH_ERRORS = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
NO_STORE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
DepartmentPath = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9._\-]{1,32}$")]


def ticket_location(ticket: schemas.Ticket) -> dict[str, str]:
    """``Location`` of a new ticket: a ticket has no URL of its own, so the queue it joined,
    whose status (``GET``) shows the numbers being called."""
    return {"Location": f"/facilities/{ticket.facility_id}/queues/{ticket.department}"}
