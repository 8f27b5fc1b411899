"""OpenAPI examples of the home measurement routes."""

from __future__ import annotations

from api.core.openapi import examples

RECORD_DESCRIPTION = (
    "201 with the reading (converted to its kind's UCUM unit; `entered` keeps what was sent) "
    "and its FHIR R4 Observation (`fhir`): vital-signs category (glucose: laboratory), LOINC "
    "code, `performer` the patient, `meta.security` PATAST (patient asserted), the meter as a "
    "contained `Device`. Kinds and units: `blood_pressure` (`systolic`, `diastolic`; mm[Hg], "
    "mmHg, kPa), `heart_rate` (/min, bpm), `body_weight` (kg, g, [lb_av], lb), `body_height` "
    "(cm, m, [in_i], in, [ft_i]), `body_temperature` (Cel, °C, [degF], °F), `oxygen_saturation` "
    "(%, or 1 for a fraction), `blood_glucose` (mg/dL, mmol/L — ×18.016 — with `meal`: "
    "fasting, before_meal, after_meal, random). A unit the kind does not take: 400 naming "
    "`unit`; a value no person can have: 422 `measurement-out-of-range` naming the field; a "
    "time without its offset or in the future: 400. The same `Idempotency-Key` and body again "
    "answers 200 with the first reading (`Idempotent-Replayed: true`)."
)
BATCH_DESCRIPTION = (
    "At most MEASUREMENTS_MAX_BATCH samples, each our shape (`kind`, `value` or "
    "`systolic`/`diastolic`, `unit`, `effective_at`, `id`...) or a Google Health Connect "
    "record's essentials (`recordType`, `time`, unit objects such as "
    '`{"inMillimetersOfMercury": 120}`, `relationToMeal`, `metadata.id` as the sample\'s key, '
    "`metadata.dataOrigin.packageName` as its source). Each sample is imported, a `duplicate` "
    "(its key, or kind+start+end+value+unit+source, seen before) or `refused` with its reason "
    "and field; one sample's refusal never stops the others and stores nothing of it."
)
RECORD_EXAMPLES = examples(
    **{
        "blood pressure": {
            "kind": "blood_pressure",
            "systolic": 128,
            "diastolic": 82,
            "unit": "mm[Hg]",
            "effective_at": "2026-12-01T07:30:00+07:00",
            "device": {"manufacturer": "Omron", "model": "HEM-7156", "serial": "A1B2C3"},
        },
        "glucose in mmol/L": {
            "kind": "blood_glucose",
            "value": 5.6,
            "unit": "mmol/L",
            "meal": "fasting",
            "effective_at": "2026-12-01T06:45:00+07:00",
        },
    }
)
BATCH_EXAMPLES = examples(
    **{
        "Health Connect": {
            "source": "vn.example.companion",
            "samples": [
                {
                    "recordType": "BloodPressureRecord",
                    "time": "2026-12-01T07:30:00+07:00",
                    "systolic": {"inMillimetersOfMercury": 121},
                    "diastolic": {"inMillimetersOfMercury": 79},
                    "metadata": {
                        "id": "0f8a7c1e-4b0a-4d1b-9a55-3f0f5a2b9c10",
                        "dataOrigin": {"packageName": "com.omronhealthcare.omronconnect"},
                    },
                },
                {
                    "kind": "body_weight",
                    "value": 154.3,
                    "unit": "[lb_av]",
                    "effective_at": "2026-12-01T07:35:00+07:00",
                    "id": "w-2026-12-01",
                },
            ],
        }
    }
)

UPLOAD_DESCRIPTION = """The file the Health app's "Export All Health Data" writes, as the raw
body: `Content-Type: application/zip` for export.zip, `application/xml` (or `text/xml`) for
export.xml; any other type is refused (415). The body is written to disk as it arrives (up to
MEASUREMENTS_IMPORT_MAX_BYTES, else 413) and imported in the background: the answer is 202
with the job and its `Location`, to poll until `status` is `done` or `failed`. Blood pressure,
heart rate, weight, height, temperature, oxygen saturation and glucose records are imported
(a sample seen before is a duplicate); other records are counted in `skipped`. A file that
turns out not to be a readable export fails the job with its problem and keeps none of its
readings. One import runs at a time per book (409), MEASUREMENTS_IMPORTS_PER_DAY a day (429)."""
