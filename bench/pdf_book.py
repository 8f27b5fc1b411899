"""The book's PDF: CPU time per PDF of a 10-visit book, against a one-line PDF with the same fonts.

    uv run python -m bench.pdf_book [--pdfs 20] [--rounds 5] [--json PATH]

The book holds ten insurance-XML episodes (``tests/support/qd130``: outpatient, inpatient,
chronic care, day case, re-examination, sick leave, referral...), mapped to FHIR, extracted as
the book stores them, and gathered into a :class:`~api.health_book.pdf.content.Sheet` exactly as
``GET /citizens/{who}/health-book.pdf`` does after its query (each episode with its diagnoses,
prescriptions, results, notes and follow-ups). Each round draws ``--pdfs`` PDFs and reads
``time.process_time()`` (CPU of this process) around them:

- ``book``: :func:`~api.health_book.pdf.render.render` of the 10-visit sheet (the fonts loaded,
  every line broken and drawn, the fonts subset and embedded, the file written);
- ``baseline``: fpdf2 drawing one line of Vietnamese with the same two fonts — the fixed cost of
  any PDF embedding them, measured in the same run so the ratio travels between machines.

The median over rounds is reported as milliseconds of CPU per PDF and as the ratio book /
baseline; the target is at most 200 ms per 10-visit book. Results go to
``bench/results/pdf_book.json``. A benchmark never decides whether tests pass.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import statistics
import time
import uuid
from pathlib import Path

import msgspec
from fpdf import FPDF

from api.health_book.fhir import extract, parse_bundle
from api.health_book.ingest import _entry_rows  # pyright: ignore[reportPrivateUsage]
from api.health_book.models import HealthEntry
from api.health_book.pdf.content import Patient, Sheet, episode_of
from api.health_book.pdf.render import FONT, render
from api.insurance.mapping import episode_to_bundle
from api.insurance.tables import read_episode
from tests.support.qd130 import build_episode_files

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "pdf_book.json"
FONTS = PROJECT_ROOT / "api" / "health_book" / "pdf" / "fonts"
TARGET_MS = 200.0
SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"
EPISODES = (
    ("outpatient", "202601050800", "202601051030"),
    ("inpatient", "202601120800", "202601181000"),
    ("chronic", "202602020800", "202602020930"),
    ("day_case", "202602100800", "202602101600"),
    ("reexam", "202602200800", "202602200900"),
    ("sick_leave", "202603010800", "202603010900"),
    ("referral", "202603050800", "202603050930"),
    ("outpatient", "202603120800", "202603121030"),
    ("chronic", "202604020800", "202604020930"),
    ("reexam", "202604100800", "202604100900"),
)


def book() -> Sheet:
    """The 10-visit sheet, gathered as the route gathers it."""
    episodes = []
    citizen = uuid.uuid4()
    for index, (kind, start, end) in enumerate(EPISODES):
        files = build_episode_files(
            kind, ma_lk=f"LK-BENCH-{index:04d}", NGAY_VAO=start, NGAY_RA=end
        )
        episode, problems = read_episode(files, max_file_bytes=10**7)
        assert episode is not None, problems
        body = msgspec.json.encode(
            episode_to_bundle(episode, facility_code="79001", national_id_system=SYSTEM)
        )
        extraction = extract(parse_bundle(body), national_id_systems=[SYSTEM])
        rows = [
            HealthEntry(**row)
            for row in _entry_rows(
                extraction,
                document_id=uuid.uuid4(),
                citizen_id=citizen,
                facility_id="79001",
                now=dt.datetime.now(dt.UTC),
            )
        ]
        visit = next(r for r in rows if r.category == "visits")
        related = [r for r in rows if r.encounter_key == visit.source_key and r is not visit]
        episodes.append(
            episode_of(
                visit,
                related,
                facility_name="Bệnh viện Chợ Rẫy",
                province="Thành phố Hồ Chí Minh",
                document=body,
            )
        )
    return Sheet(
        kind="book",
        patient=Patient(
            full_name="Nguyễn Văn An",
            birth_date=dt.date(1990, 5, 15),
            sex="male",
            national_id_masked="•••••••••234",
            insurance_card="GD4797920001234",
        ),
        episodes=episodes,
        categories=["visits", "conditions", "medications", "observations"],
    )


def baseline() -> bytes:
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font(FONT, "B", 12)
    pdf.text(15, 20, "SỔ SỨC KHỎE ĐIỆN TỬ")
    pdf.set_font(FONT, "", 10)
    pdf.text(15, 30, "Tăng huyết áp vô căn — Bệnh viện Chợ Rẫy")
    return bytes(pdf.output())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    sheet = book()
    now = dt.datetime.now(dt.UTC)
    sample = render(sheet, document_id="bench", generated_at=now)
    runs: dict[str, list[float]] = {"book": [], "baseline": []}
    for _ in range(args.rounds):
        for name, work in (
            ("book", lambda: render(sheet, document_id="bench", generated_at=now)),
            ("baseline", baseline),
        ):
            gc.collect()
            started = time.process_time()
            for _ in range(args.pdfs):
                work()
            runs[name].append((time.process_time() - started) * 1000 / args.pdfs)
    book_ms = statistics.median(runs["book"])
    base_ms = statistics.median(runs["baseline"])
    result = {
        "visits": len(sheet.episodes),
        "pages": sample.pages,
        "bytes": len(sample.body),
        "book_ms_cpu": round(book_ms, 2),
        "baseline_ms_cpu": round(base_ms, 2),
        "ratio": round(book_ms / base_ms, 2),
        "target_ms": TARGET_MS,
        "within_target": book_ms <= TARGET_MS,
        "rounds": runs,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(
        f"10-visit book: {sample.pages} pages, {len(sample.body) // 1024} KiB; "
        f"{book_ms:.1f} ms CPU per PDF (baseline {base_ms:.1f} ms, ratio "
        f"{book_ms / base_ms:.2f}; target ≤ {TARGET_MS:.0f} ms)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
