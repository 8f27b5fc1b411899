"""OpenAPI examples of the notification routes."""

from __future__ import annotations

from api.core.openapi import examples

DEVICE_EXAMPLES = examples(
    android={
        "token": "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH",
        "platform": "android",
        "locale": "vi",
        "app_version": "2.4.1",
    }
)
PREFERENCE_EXAMPLES = examples(
    quiet_nights={
        "muted_kinds": ["queue_approaching"],
        "quiet_hours": {"start": "22:00", "end": "06:30"},
        "timezone": "Asia/Ho_Chi_Minh",
    }
)
