"""Notifications: typed messages, the transactional outbox, the relay, senders, devices, inbox.

Other domains use two modules only:

- ``notifications.messages``: the notification kinds (``AppointmentBooked``, ``YourTurn``...);
- ``notifications.outbox``: ``await enqueue(session, citizen_id, message, due_at=None,
  dedupe_key=None)`` inside their own transaction, and ``await cancel(session, dedupe_key)``.

The relay (``notifications.relay``, run by ``healthbook worker`` or inside the API in embedded
mode) does the rest; see README.md, "Notifications".
"""
