"""The tests' fake FCM HTTP v1 server (``tests/support/fake_fcm.py``) in a process of its own, as
its standalone mode runs it, answering one more read besides ``GET /_fake/stats``:
``GET /_fake/accepted`` lists every accepted (notification id, registration token) with how many
times it was accepted, so the scale-out run can compare them one by one with the outbox.

    python -m bench.scale_out.fcm --service-account /tmp/sa.json [--port 0]

prints ``READY <base_url>`` and serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from pathlib import Path
from typing import Any

from tests.support.fake_fcm import PROJECT_ID, FakeFcm

ACCEPTED_PATH = "/_fake/accepted"


class CountingFakeFcm(FakeFcm):
    def route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[str], Any, bool]:
        if method == "GET" and target.split("?", 1)[0] == ACCEPTED_PATH:
            pairs = [
                [notification, token, count]
                for (notification, token), count in self.accepted().items()
            ]
            return 200, [], {"accepted": pairs}, False
        return super().route(method, target, headers, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--service-account", type=Path, required=True)
    args = parser.parse_args()
    with CountingFakeFcm(project_id=PROJECT_ID, port=args.port) as fcm:
        path = fcm.write_service_account(args.service_account.parent)
        if path != args.service_account:
            path.replace(args.service_account)
        print(f"READY {fcm.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
