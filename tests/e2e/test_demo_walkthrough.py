"""The README's run command (``make run`` is ``healthbook demo``) on a fresh data folder: it seeds
the demo and the walkthrough tells the whole story over HTTP, every step answered; and none of
the seeded personal values (national ID numbers, names, diagnoses) reach the service's logs, its
pushes, its metrics or a check-in QR code."""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import zxingcpp
from PIL import Image

from api.demo import data
from api.identity.demo_idp import DEMO_PEOPLE
from tests.support.server import HEALTHBOOK, free_port

STEPS = (
    "log in",
    "read the health book",
    "book an appointment",
    "fetch the check-in QR",
    "check in at the kiosk",
    "queue call",
    "push delivered",
    "new record published",
    "inbox",
)


def _wait_for(process: subprocess.Popen[bytes], log: Path, text: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed in {deadline_s} s:\n{log.read_text()[-3000:]}")


def _seeded_personal_values() -> list[str]:
    """What must never leave the database in clear: each demo citizen's national ID number and
    name, and each diagnosis of their visits (display text and ICD-10 code)."""
    values = {p.national_id for p in DEMO_PEOPLE} | {p.name for p in DEMO_PEOPLE}
    for visits in data.VISITS.values():
        for visit in visits:
            values |= set(visit.diagnosis)
    return sorted(values)


def _forms(value: str) -> set[str]:
    """The value as it may be written: plain, JSON-escaped (non-ASCII as \\uXXXX)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def _leaks(text: str) -> list[str]:
    return [v for v in _seeded_personal_values() if any(form in text for form in _forms(v))]


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_demo_and_its_walkthrough_keep_personal_data_out_of_logs_pushes_metrics_and_qr(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [HEALTHBOOK, "demo", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(demo, log, "demo is ready", 90)
        told = log.read_text()
        for what in ("/schema", "/kiosk", "/board/01001/NOI", "curl -s", "TOKEN="):
            assert what in told
        # the printed citizen token works as printed
        token = re.search(r"TOKEN=(\S+)", told).group(1)  # type: ignore[union-attr]
        book = httpx.get(
            f"{base}/citizens/me/health-book", headers={"Authorization": f"Bearer {token}"}
        )
        assert book.status_code == 200
        assert book.json()["counts"]["visits"] == 2

        # the walkthrough as the demo printed it: it works with no uv on PATH (uv in .tools/)
        printed = [
            line.strip()
            for line in told.splitlines()
            if "demo --walkthrough" in line and not line.strip().startswith("make ")
        ]
        assert len(printed) == 1, told
        assert f"make walkthrough PORT={port}" in told
        walk = subprocess.run(
            shlex.split(printed[0]),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = [line for line in walk.stdout.splitlines() if re.match(r"^\d+\. ", line)]
        assert walk.returncode == 0, walk.stdout[-3000:] + walk.stderr[-3000:]
        assert [line.split(". ", 1)[1].split(":", 1)[0] for line in lines] == list(STEPS)
        assert "walkthrough complete" in walk.stdout
        assert "a second scan is refused (409)" in walk.stdout
        # the console sender pushed the check-in and the queue call to the registered phone
        pushes = [
            json.loads(line)["push"]["kind"]
            for line in log.read_text().splitlines()
            if line.startswith("{") and '"push"' in line
        ]
        assert {"checked_in", "your_turn", "health_record_available"} <= set(pushes)

        # privacy: the service's whole output (JSON lines: access log, application log, every
        # push the console sender wrote; granian's own lines) holds none of the seeded personal
        # values. (The demo command's banner, for the person at the terminal, names the demo
        # citizens on purpose: it is not the service's log.)
        service_output = [
            line for line in log.read_text().splitlines() if line.startswith(("{", "["))
        ]
        assert len(service_output) > 50
        assert any('"push"' in line for line in service_output)
        assert _leaks("\n".join(service_output)) == []
        # ... nor do its metrics ...
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert "healthbook_http_requests_total" in metrics.text
        assert _leaks(metrics.text) == []
        # ... nor a check-in QR code: decoded from the PNG, opaque ids and times only
        headers = {"Authorization": f"Bearer {token}"}
        slots = httpx.get(f"{base}/facilities/01001/slots", params={"department": "NOI"}).json()
        booked = httpx.post(
            f"{base}/citizens/me/appointments",
            json={"slot_id": slots["items"][-1]["id"]},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert booked.status_code == 201, booked.text
        png = httpx.get(
            f"{base}/citizens/me/appointments/{booked.json()['id']}/check-in.png", headers=headers
        )
        assert png.status_code == 200
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
        assert len(decoded) == 1
        code = decoded[0].text
        assert _leaks(code) == []
        claims = _claims(code)
        assert _leaks(json.dumps(claims, ensure_ascii=False)) == []
        assert set(claims) == {"iss", "aud", "sub", "fac", "ver", "nbf", "exp", "jti"}
        assert claims["sub"] == booked.json()["id"]
        assert claims["fac"] == "01001"
        assert claims["iss"] == base
        assert all(isinstance(claims[k], int) for k in ("ver", "nbf", "exp"))
    finally:
        demo.terminate()
        demo.wait(timeout=30)
    assert demo.returncode in (0, 1)
    # a second run of the demo on the same data reuses what the first one made
    again = subprocess.Popen(
        [HEALTHBOOK, "demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=(tmp_path / "again.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(again, tmp_path / "again.log", "demo is ready", 90)
        clients = json.loads((tmp_path / "data" / "demo" / "clients.json").read_text())
        assert sorted(clients) == [
            "admin",
            "hospital:01001",
            "hospital:79002",
            "kiosk:01001",
            "kiosk:79002",
        ]
    finally:
        again.terminate()
        again.wait(timeout=30)
    # the service the demo started is gone with it
    try:
        httpx.get(f"{base}/health/live", timeout=2)
    except httpx.HTTPError:
        pass
    else:
        raise AssertionError("the demo's service is still running after the demo stopped")
