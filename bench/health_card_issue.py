"""Issuing a SMART Health Card: CPU time per card, against a bare ES256 JWT of the same content.

    uv run python -m bench.health_card_issue [--cards 2000] [--rounds 5] [--json PATH]

The card is an immunization card of a Synthea patient in ``tests/data/fhir`` (Leonor Trujillo:
her Patient and 11 Immunizations). Each round issues ``--cards`` cards and reads
``time.process_time()`` (CPU of this process, all threads) around them:

- ``card``: what the service does for a card once the book's export is read — minify the FHIR
  resources into the ``resource:N`` Bundle, build the compact payload, raw DEFLATE, sign ES256
  (PyJWT over ``cryptography``), and write the ``shc:/`` numeric text when it fits one QR code;
- ``baseline``: ``jwt.encode`` of the same un-minified Bundle as a plain ES256 JWT (no
  minification, no compression, no QR text) — the floor of "sign this content", measured in
  the same run so the ratio travels between machines.

The median over rounds is reported as milliseconds of CPU per card and as the ratio card /
baseline; the target is at most 2 ms per card. Results go to
``bench/results/health_card_issue.json``. A benchmark never decides whether tests pass.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import jwt

from api.health_cards import cards
from api.health_cards.keys import HealthCardKeys, new_key_text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = PROJECT_ROOT / "bench" / "results" / "health_card_issue.json"
SAMPLE = (
    PROJECT_ROOT
    / "tests"
    / "data"
    / "fhir"
    / "synthea-Leonor_Trujillo_5542148c-67d6-4d91-be71-29973234a33b.json"
)
TARGET_MS = 2.0
ISSUER = "https://book.example.vn"
TYPES = ["http://hl7.org/fhir/StructureDefinition/Immunization"]


def resources() -> list[tuple[dict[str, Any], list[str]]]:
    document = json.loads(SAMPLE.read_bytes())
    entries = document["entry"]
    patient = next(e for e in entries if e["resource"]["resourceType"] == "Patient")
    shots = [e for e in entries if e["resource"]["resourceType"] == "Immunization"]
    kept = {
        k: v for k, v in patient["resource"].items() if k in ("resourceType", "name", "birthDate")
    }
    return [(kept, [patient["fullUrl"]]), *((e["resource"], [e["fullUrl"]]) for e in shots)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    keys = HealthCardKeys([new_key_text()])
    signer = keys.signer
    assert signer is not None
    items = resources()
    plain_bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": names[0] if names else "", "resource": r} for r, names in items],
    }

    def card() -> int:
        bundle = cards.minified_bundle(items, patient_url="resource:0")
        body = cards.payload(
            issuer=ISSUER, nbf=1_800_000_000, types=TYPES, bundle=bundle, rid="x" * 11
        )
        jws = cards.sign(body, signer.private, signer.kid)
        if cards.fits_one_qr(jws):
            cards.to_numeric(jws)
        return len(jws)

    def baseline() -> int:
        claims = {"iss": ISSUER, "nbf": 1_800_000_000, "vc": {"fhirBundle": plain_bundle}}
        return len(jwt.encode(claims, signer.private, algorithm="ES256"))

    length = card()
    per: dict[str, list[float]] = {"card": [], "baseline": []}
    for round_index in range(args.rounds):
        order = [("card", card), ("baseline", baseline)]
        if round_index % 2:
            order.reverse()
        for name, fn in order:
            gc.collect()
            start = time.process_time()
            for _ in range(args.cards):
                fn()
            per[name].append((time.process_time() - start) / args.cards * 1000)
    card_ms = statistics.median(per["card"])
    baseline_ms = statistics.median(per["baseline"])
    result = {
        "cards_per_round": args.cards,
        "rounds": args.rounds,
        "resources": len(items),
        "jws_chars": length,
        "card_cpu_ms": round(card_ms, 4),
        "baseline_cpu_ms": round(baseline_ms, 4),
        "ratio_card_to_baseline": round(card_ms / baseline_ms, 3),
        "target_ms": TARGET_MS,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(
        f"issuing a card ({len(items)} resources, {length}-character JWS): "
        f"{card_ms:.3f} ms CPU per card (target <= {TARGET_MS} ms); "
        f"baseline ES256 JWT of the same content: {baseline_ms:.3f} ms; "
        f"ratio card / baseline {card_ms / baseline_ms:.2f}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if card_ms <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
