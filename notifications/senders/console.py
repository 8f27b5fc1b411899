"""The embedded default: pushes are written to the log (title and body, never the token)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from notifications.senders.base import PAYLOAD_TOO_LARGE, Push, SendResult, fits

logger = logging.getLogger("healthbook.push.console")


class ConsoleSender:
    """Logs each push as one JSON line and reports it sent. Used when FCM_CREDENTIALS is unset."""

    name = "console"

    async def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        results: list[SendResult] = []
        for push in pushes:
            if not fits(push):
                results.append(PAYLOAD_TOO_LARGE)
                continue
            message_id = f"console-{uuid.uuid4().hex}"
            logger.info(
                "push",
                extra={
                    "push": {
                        "title": push.title,
                        "body": push.body,
                        "kind": push.data.get("kind"),
                        "notification_id": push.data.get("notification_id"),
                        "message_id": message_id,
                    }
                },
            )
            results.append(SendResult(outcome="sent", message_id=message_id))
        return results

    async def aclose(self) -> None:
        return None
