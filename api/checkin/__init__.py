"""Check-in: check-in codes and QR images, kiosk check-ins, walk-ins, queues, the kiosk and
board pages.

- ``services/``: :class:`~api.checkin.services.CheckInService` (codes, kiosk check-ins,
  walk-ins, the queues' public status) and :class:`~api.checkin.services.QueueDeskService`
  (the hospital's arrivals and calls), each use case in a unit of work.
- ``routes/``: thin controllers (``citizen``, ``kiosk``, ``queues``, ``pages``); ``docs.py``:
  their OpenAPI examples.
- ``queues.py`` (reading and moving queues), ``queue_numbers.py`` (taking numbers),
  ``queue_messages.py`` (what a queue tells citizens, through the outbox), ``ticket_views.py``
  (the queue rules and the views of tickets), ``facility_lookup.py`` (facilities and
  departments through the facilities service), ``tokens.py`` (check-in tokens, walk-in codes),
  ``qr.py`` (QR images).
- ``status_publisher.py`` (a queue's status on Redis pub/sub after each committed change),
  ``board_feeds.py`` (the boards' server-sent event streams), ``page_assets.py`` (the pages).
"""
