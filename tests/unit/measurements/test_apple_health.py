"""The Apple Health export reader: record types and units, blood pressure pairing, devices,
time zones, dedup keys, refusals, progress (containers and attacks: test_apple_health_safety)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.measurements.apple_health import (
    Device,
    ExportInvalid,
    Limits,
    Sample,
    Summary,
    parse_device,
    read_export,
)
from tests.support.apple_health_export import (
    CUFF,
    WATCH,
    correlation,
    document,
    record,
    zipped,
)

T0 = "2024-01-02 08:00:00 +0700"
T1 = "2024-01-03 08:00:00 +0700"


def read(xml: bytes, **limits: int) -> tuple[list[Sample], Summary]:
    reader = read_export(io.BytesIO(xml), limits=Limits(**limits))
    samples = list(reader)
    return samples, reader.summary


def only(xml: bytes) -> Sample:
    samples, summary = read(xml)
    assert summary.refusals == []
    assert len(samples) == 1, samples
    return samples[0]


@pytest.mark.parametrize(
    ("record_type", "value", "unit", "kind", "expected", "canonical"),
    [
        ("HeartRate", "72", "count/min", "heart_rate", 72.0, "/min"),
        ("HeartRate", "1.2", "count/s", "heart_rate", 72.0, "/min"),
        ("BodyMass", "68.5", "kg", "body_weight", 68.5, "kg"),
        ("BodyMass", "150", "lb", "body_weight", 68.0389, "kg"),
        ("BodyMass", "68500", "g", "body_weight", 68.5, "kg"),
        ("BodyMass", "11", "st", "body_weight", 69.8532, "kg"),
        ("Height", "172", "cm", "body_height", 172.0, "cm"),
        ("Height", "1.72", "m", "body_height", 172.0, "cm"),
        ("Height", "68", "in", "body_height", 172.72, "cm"),
        ("Height", "5.5", "ft", "body_height", 167.64, "cm"),
        ("BodyTemperature", "36.8", "degC", "body_temperature", 36.8, "Cel"),
        ("BodyTemperature", "98.6", "degF", "body_temperature", 37.0, "Cel"),
        ("OxygenSaturation", "0.97", "%", "oxygen_saturation", 97.0, "%"),
        ("OxygenSaturation", "1", "%", "oxygen_saturation", 100.0, "%"),
        ("BloodGlucose", "95", "mg/dL", "blood_glucose", 95.0, "mg/dL"),
        ("BloodGlucose", "5.4", "mmol<180.1558800000541>/L", "blood_glucose", 5.4, "mmol/L"),
        ("BloodGlucose", "5.4", "mmol/L", "blood_glucose", 5.4, "mmol/L"),
    ],
)
def test_each_type_in_its_canonical_unit(
    record_type: str, value: str, unit: str, kind: str, expected: float, canonical: str
) -> None:
    sample = only(document(record(record_type, value, unit, T0)))
    assert sample.kind == kind
    assert sample.value == pytest.approx(expected, abs=1e-4)
    assert sample.unit == canonical
    assert sample.original_unit == unit
    assert sample.record_type == "HKQuantityTypeIdentifier" + record_type
    assert sample.diastolic is None
    assert sample.source.name == "Health"
    assert sample.source.version == "17.3"


def test_other_records_and_elements_are_skipped_and_counted() -> None:
    samples, summary = read(
        document(
            record("StepCount", 100, "count"),
            record("StepCount", 200, "count"),
            record(
                "HKCategoryTypeIdentifierSleepAnalysis", "HKCategoryValueSleepAnalysisAsleep", None
            ),
            correlation(None, None, correlation_type="HKCorrelationTypeIdentifierFood"),
            record("HeartRate", 60, "count/min"),
        )
    )
    assert [sample.kind for sample in samples] == ["heart_rate"]
    assert summary.skipped == {
        "HKQuantityTypeIdentifierStepCount": 2,
        "HKCategoryTypeIdentifierSleepAnalysis": 1,
        "HKCorrelationTypeIdentifierFood": 1,
    }
    assert summary.refused == 0
    assert summary.samples == 1


def test_skipped_types_are_counted_under_other_past_the_cap() -> None:
    parts = [record(f"Kind{number}", 1, "count") for number in range(5)]
    _, summary = read(document(*parts), max_skipped_types=3)
    assert summary.skipped == {
        "HKQuantityTypeIdentifierKind0": 1,
        "HKQuantityTypeIdentifierKind1": 1,
        "HKQuantityTypeIdentifierKind2": 1,
        "other": 2,
    }


# -- glucose --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "meal"),
    [
        ((("HKBloodGlucoseMealTime", "1"),), "before_meal"),
        ((("HKBloodGlucoseMealTime", "2"),), "after_meal"),
        (
            (("HKMetadataKeyBloodGlucoseMealTime", "HKBloodGlucoseMealTimePostprandial"),),
            "after_meal",
        ),
        ((("HKBloodGlucoseMealTime", "7"),), None),
        ((), None),
    ],
)
def test_glucose_meal_relation(entries: tuple[tuple[str, str], ...], meal: str | None) -> None:
    sample = only(
        document(record("BloodGlucose", "5.4", "mmol<180.1558800000541>/L", metadata=entries))
    )
    assert sample.meal == meal


def test_user_entered_and_meal_time_only_on_glucose() -> None:
    glucose, heart = read(
        document(
            record(
                "BloodGlucose",
                "101",
                "mg/dL",
                metadata=(("HKWasUserEntered", "1"), ("HKBloodGlucoseMealTime", "1")),
            ),
            record("HeartRate", 70, "count/min", metadata=(("HKBloodGlucoseMealTime", "1"),)),
        )
    )[0]
    assert glucose.user_entered is True
    assert glucose.meal == "before_meal"
    assert heart.user_entered is False
    assert heart.meal is None


# -- blood pressure ---------------------------------------------------------------------------


def test_a_correlation_is_one_blood_pressure_sample() -> None:
    sample = only(
        document(correlation(128, 84, T0, device=CUFF, metadata=(("HKWasUserEntered", "1"),)))
    )
    assert sample.kind == "blood_pressure"
    assert (sample.value, sample.diastolic, sample.unit) == (128.0, 84.0, "mm[Hg]")
    assert sample.record_type == "HKCorrelationTypeIdentifierBloodPressure"
    assert sample.user_entered is True
    assert sample.device is not None
    assert sample.device.manufacturer == "Omron Healthcare"


@pytest.mark.parametrize("halves_first", [True, False])
def test_halves_listed_beside_their_correlation_are_not_counted_twice(halves_first: bool) -> None:
    halves = record("BloodPressureSystolic", 128, "mmHg", T0) + record(
        "BloodPressureDiastolic", 84, "mmHg", T0
    )
    pair = correlation(128, 84, T0)
    samples, summary = read(document(halves, pair) if halves_first else document(pair, halves))
    assert [(sample.value, sample.diastolic) for sample in samples] == [(128.0, 84.0)]
    assert summary.refused == 0


def test_standalone_halves_with_the_same_start_end_and_source_are_paired() -> None:
    samples, summary = read(
        document(
            record("BloodPressureSystolic", 141, "mmHg", T1),
            record("HeartRate", 70, "count/min"),
            record("BloodPressureSystolic", 128, "mmHg", T0),
            record("BloodPressureDiastolic", 91, "mmHg", T1),
            record("BloodPressureDiastolic", 84, "mmHg", T0),
            record("BloodPressureDiastolic", 70, "mmHg", T0, source="Other app"),
        )
    )
    pressures = sorted(
        (sample.start, sample.value, sample.diastolic)
        for sample in samples
        if sample.kind == "blood_pressure"
    )
    tz = timezone(timedelta(hours=7))
    assert pressures == [
        (datetime(2024, 1, 2, 8, tzinfo=tz), 128.0, 84.0),
        (datetime(2024, 1, 3, 8, tzinfo=tz), 141.0, 91.0),
    ]
    assert summary.samples == 3
    assert summary.refused == 1
    assert summary.refusals[0].record_type == "HKQuantityTypeIdentifierBloodPressureDiastolic"
    assert "no systolic record" in summary.refusals[0].reason


def test_a_correlation_missing_a_half_is_refused() -> None:
    samples, summary = read(document(correlation(128, None, T0), correlation(120, 80, T1)))
    assert [sample.value for sample in samples] == [120.0]
    assert summary.refused == 1
    assert summary.refusals[0].reason == "a blood pressure correlation without a diastolic record"


def test_blood_pressure_in_kilopascal() -> None:
    sample = only(document(correlation("16", "10.7", T0, unit="kPa")))
    assert sample.value == pytest.approx(120.0, abs=0.01)
    assert sample.diastolic == pytest.approx(80.26, abs=0.01)


# -- devices ----------------------------------------------------------------------------------


def test_the_device_is_split_into_its_fields() -> None:
    assert parse_device(WATCH) == Device(
        raw=WATCH,
        name="Apple Watch",
        manufacturer="Apple Inc.",
        model="Watch",
        hardware="Watch6,1",
        software="10.2",
    )
    cuff = parse_device(CUFF)
    assert (cuff.model, cuff.firmware, cuff.local_identifier, cuff.udi) == (
        "HEM-7361T",
        "2.1",
        "AB-12",
        "04987654321001",
    )


def test_a_device_of_another_shape_keeps_its_raw_text() -> None:
    assert parse_device("Apple Watch") == Device(raw="Apple Watch")
    sample = only(document(record("HeartRate", 61, "count/min", device="Apple Watch")))
    assert sample.device == Device(raw="Apple Watch")


# -- time zones and dedup keys ------------------------------------------------------------------


def test_dates_keep_their_offset() -> None:
    sample = only(
        document(
            record(
                "HeartRate",
                61,
                "count/min",
                "2024-01-02 08:00:00 +0700",
                "2024-01-02 08:00:05 -0330",
            )
        )
    )
    assert sample.start == datetime(2024, 1, 2, 1, 0, tzinfo=UTC)
    assert sample.start.utcoffset() == timedelta(hours=7)
    assert sample.end.utcoffset() == -timedelta(hours=3, minutes=30)
    assert sample.end == datetime(2024, 1, 2, 11, 30, 5, tzinfo=UTC)


def test_dedup_key_is_stable() -> None:
    xml = document(
        record("HeartRate", 61, "count/min", T0, device=WATCH),
        correlation(120, 80, T0),
        record("BloodGlucose", "5.4", "mmol<180.1558800000541>/L", T0),
    )
    first = [sample.dedup_key for sample in read(xml)[0]]
    again = [sample.dedup_key for sample in read(zipped(xml))[0]]
    assert first == again
    assert len(set(first)) == 3
    # pinned: a key may never change between versions, or a re-import would duplicate
    assert first[0] == "08cbafcda5b46a53b9c8bd09d91e277570e6a3dba9d3db964e066fd13a9b2ab9"


def test_dedup_key_ignores_the_offset_and_the_unit_the_export_was_written_in() -> None:
    # one weighing, exported once from Vietnam in kg and once from Paris in pounds
    in_hanoi = only(document(record("BodyMass", "68.0389", "kg", "2024-01-02 08:00:00 +0700")))
    in_paris = only(document(record("BodyMass", "150", "lb", "2024-01-02 02:00:00 +0100")))
    assert in_hanoi.dedup_key == in_paris.dedup_key


@pytest.mark.parametrize(
    "changed",
    [
        record("BodyMass", "68.1", "kg", T0),
        record("BodyMass", "68", "kg", "2024-01-02 08:00:01 +0700"),
        record("BodyMass", "68", "kg", T0, "2024-01-02 08:01:00 +0700"),
        record("BodyMass", "68", "kg", T0, source="Withings"),
        record("Height", "68", "cm", T0),
    ],
)
def test_dedup_key_changes_with_what_it_names(changed: str) -> None:
    base = only(document(record("BodyMass", "68", "kg", T0)))
    assert only(document(changed)).dedup_key != base.dedup_key


def test_the_source_version_is_not_part_of_the_key() -> None:
    old = only(document(record("BodyMass", "68", "kg", T0, version="16.1")))
    new = only(document(record("BodyMass", "68", "kg", T0, version="17.3")))
    assert old.dedup_key == new.dedup_key


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (record("HeartRate", "abc", "count/min"), "value 'abc' is not a number"),
        (record("HeartRate", "NaN", "count/min"), "value 'NaN' is not a positive number"),
        (record("HeartRate", "-3", "count/min"), "value '-3' is not a positive number"),
        (record("HeartRate", None, "count/min"), "no value"),
        (record("HeartRate", "60", None), "no unit"),
        (record("BodyMass", "60", "kJ"), "unit 'kJ' is not one this reader converts"),
        (
            record("BloodGlucose", "5", "mmol<abc>/L"),
            "unit 'mmol<abc>/L' is not one this reader converts",
        ),
        (record("HeartRate", "60", "count/min", source=None), "no sourceName"),
        (
            record("HeartRate", "60", "count/min", "2024-01-02 08:00:00"),
            "'2024-01-02 08:00:00' has no UTC offset",
        ),
        (record("HeartRate", "60", "count/min", "yesterday"), "'yesterday' is not a date"),
        (
            record("HeartRate", "60", "count/min", T1, T0),
            "endDate is before startDate",
        ),
        (
            record("OxygenSaturation", "97", "%"),
            "oxygen saturation 97.0 is above 1 (HealthKit writes a fraction)",
        ),
        (record("BloodPressureSystolic", "x", "mmHg"), "value 'x' is not a number"),
    ],
)
def test_a_bad_record_is_refused_with_its_line_and_the_rest_read(bad: str, reason: str) -> None:
    xml = document(record("HeartRate", 60, "count/min"), bad, record("HeartRate", 62, "count/min"))
    samples, summary = read(xml)
    assert [sample.value for sample in samples] == [60.0, 62.0]
    assert summary.refused == 1
    (refusal,) = summary.refusals
    assert refusal.reason == reason
    lines = xml.decode().splitlines()
    assert refusal.line is not None
    assert lines[refusal.line - 1].lstrip().startswith("<Record")
    assert 'value="60"' not in lines[refusal.line - 1] or reason != "no value"


def test_refusals_are_all_counted_and_the_first_kept() -> None:
    bad = [record("HeartRate", "x", "count/min") for _ in range(7)]
    samples, summary = read(
        document(*bad, record("HeartRate", 60, "count/min")), max_refusals_kept=3
    )
    assert len(samples) == 1
    assert summary.refused == 7
    assert len(summary.refusals) == 3


def test_a_record_with_too_many_children_is_refused_without_keeping_them() -> None:
    crowded = record(
        "HeartRate", 60, "count/min", metadata=[(f"k{number}", "v") for number in range(50)]
    )
    samples, summary = read(
        document(crowded, record("HeartRate", 61, "count/min")), max_children=20
    )
    assert [sample.value for sample in samples] == [61.0]
    assert summary.refusals[0].reason == "more than 20 children"


# -- the reader --------------------------------------------------------------------------------


def test_progress_is_reported_up_to_the_total() -> None:
    xml = document(*[record("HeartRate", 60 + number % 30, "count/min") for number in range(300)])
    calls: list[tuple[int, int | None]] = []
    reader = read_export(
        io.BytesIO(xml),
        progress=lambda done, total: calls.append((done, total)),
        progress_every=4096,
    )
    assert len(list(reader)) == 300
    assert len(calls) >= 2  # lxml reads 32 KiB at a time: one call per read at most
    assert len(set(calls)) == len(calls)
    assert all(total == len(xml) for _, total in calls)
    done = [value for value, _ in calls]
    assert done == sorted(done)
    assert done[-1] == len(xml)
    assert reader.bytes_read == len(xml)
    assert reader.summary.bytes_read == len(xml)
    assert reader.summary.total_bytes == len(xml)


def test_progress_of_a_zip_counts_the_export_xml() -> None:
    xml = document(record("HeartRate", 60, "count/min"))
    calls: list[tuple[int, int | None]] = []
    reader = read_export(
        io.BytesIO(zipped(xml)), progress=lambda done, total: calls.append((done, total))
    )
    list(reader)
    assert calls[-1] == (len(xml), len(xml))


def test_an_export_is_read_once() -> None:
    reader = read_export(io.BytesIO(document()))
    assert list(reader) == []
    with pytest.raises(RuntimeError):
        iter(reader)


def test_not_an_export() -> None:
    with pytest.raises(ExportInvalid, match=r"its root element is <ClinicalDocument>"):
        read(b'<?xml version="1.0"?><ClinicalDocument><Record/></ClinicalDocument>')
