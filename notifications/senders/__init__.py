"""Push senders: FCM (production) and the console (embedded default)."""

from __future__ import annotations

from api.core.settings import Settings
from notifications.senders.base import Push, Sender, SendResult


def build_sender(settings: Settings) -> Sender:
    """FCM when ``FCM_CREDENTIALS`` is set, otherwise the console sender."""
    if settings.notifications.fcm_credentials:
        from notifications.senders.fcm import FcmSender

        return FcmSender(
            settings.notifications.fcm_credentials,
            endpoint=settings.notifications.fcm_endpoint,
            timeout=settings.notifications.fcm_timeout_seconds,
            max_in_flight=settings.notifications.fcm_max_concurrency,
        )
    from notifications.senders.console import ConsoleSender

    return ConsoleSender()


__all__ = ["Push", "SendResult", "Sender", "build_sender"]
