"""XML1: the facility, the patient, the diagnoses, the encounter, insurance cards, weight and blood
group."""

from __future__ import annotations

from api.insurance import vocabulary as v
from api.insurance.mapping.base import Base
from api.insurance.mapping.common import (
    ABO,
    BLOOD,
    RH,
    Json,
    aligned_texts,
    fhir_period,
    icd_concept,
    quantity,
)


class VisitParts(Base):
    """XML1 resources."""

    def organization(self) -> None:
        self.add(
            self.org_url,
            {
                "resourceType": "Organization",
                "identifier": [{"system": v.FACILITY_CODE, "value": self.facility}],
                "active": True,
                "name": self.facility_name,
            },
            private=False,
        )

    def patient(self) -> None:
        s = self.summary
        identifiers: list[Json] = []
        person = self.episode.person_id
        if person is not None:
            system = {
                "national_id": self.national_system,
                "old_national_id": v.OLD_NATIONAL_ID,
                "passport": v.PASSPORT_NUMBER,
                "other": v.PERSON_ID_OTHER,
            }[person.kind]
            identifiers.append({"use": "official", "system": system, "value": person.value})
        for card, start, end in self.cards():
            identifier: Json = {"system": v.INSURANCE_NUMBER, "value": card}
            period = fhir_period(start, end, date_only=True)
            if period:
                identifier["period"] = period
            identifiers.append(identifier)
        patient_number = s.text("MA_BN")
        if patient_number:
            identifiers.append(
                {
                    "system": v.PATIENT_INTERNAL_ID,
                    "value": patient_number,
                    "assigner": self.facility_ref(),
                }
            )
        patient: Json = {"resourceType": "Patient"}
        if identifiers:
            patient["identifier"] = identifiers
        name = s.text("HO_TEN")
        if name:
            parts = name.split()
            human: Json = {"use": "official", "text": name}
            if len(parts) > 1:
                human["family"] = parts[0]
                human["given"] = parts[1:]
            patient["name"] = [human]
        phone = s.text("DIEN_THOAI")
        if phone:
            patient["telecom"] = [{"system": "phone", "value": phone}]
        gender = {1: "male", 2: "female", 3: "unknown"}.get(s.integer("GIOI_TINH") or 0)
        if gender:
            patient["gender"] = gender
        birth = s.date("NGAY_SINH")
        if birth is not None:
            patient["birthDate"] = birth.fhir_date()
        address = s.text("DIA_CHI")
        if address:
            patient["address"] = [{"use": "home", "text": address}]
        self.add(self.patient_url, patient, private=False)

    # XML1 -----------------------------------------------------------------------------------

    def conditions(self) -> list[str]:
        s = self.summary
        main = s.text("MA_BENH_CHINH")
        extra = [code for code in s.texts("MA_BENH_KT") if code]
        codes = [code for code in [main, *extra] if code]
        texts = aligned_texts(s.text("CHAN_DOAN_RV"), len(codes))
        urls: list[str] = []
        for rank, code in enumerate(codes):
            concept = icd_concept(code, texts[rank])
            if rank == 0:
                traditional = [c for c in s.texts("MA_BENH_YHCT") if c]
                concept["coding"].extend(
                    {"system": v.TRADITIONAL_MEDICINE, "code": c} for c in traditional
                )
            condition: Json = {
                "resourceType": "Condition",
                "verificationStatus": {
                    "coding": [{"system": v.CONDITION_VERIFICATION, "code": "confirmed"}]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": v.CONDITION_CATEGORY,
                                "code": "encounter-diagnosis",
                                "display": "Encounter Diagnosis",
                            }
                        ]
                    }
                ],
                "code": concept,
                "subject": self.ref(self.patient_url),
                "encounter": self.ref(self.encounter_url),
            }
            recorded = s.date("NGAY_RA")
            if recorded is not None:
                condition["recordedDate"] = recorded.fhir_datetime()
            urls.append(self.add(self.url("Condition", code), condition))
        return urls

    def encounter(self, conditions: list[str]) -> None:
        s = self.summary
        care_type = self.episode.care_type or ""
        encounter: Json = {
            "resourceType": "Encounter",
            "identifier": [
                {"system": v.episode_system(self.facility), "value": self.episode.ma_lk}
            ],
            "status": "finished",
            "class": {
                "system": v.ACT_CODE,
                "code": self.class_code,
                "display": v.CLASS_NAMES[self.class_code],
            },
        }
        record = s.text("MA_HSBA")
        if record:
            encounter["identifier"].append(
                {"system": v.record_system(self.facility), "value": record}
            )
        start, end = s.date("NGAY_VAO"), s.date("NGAY_RA")
        admitted = s.date("NGAY_VAO_NOI_TRU")
        if admitted is not None and self.class_code in ("IMP", "SS"):
            encounter["classHistory"] = [
                {
                    "class": {"system": v.ACT_CODE, "code": "AMB", "display": "ambulatory"},
                    "period": fhir_period(start, admitted),
                },
                {
                    "class": dict(encounter["class"]),
                    "period": fhir_period(admitted, end),
                },
            ]
            encounter["classHistory"] = [h for h in encounter["classHistory"] if h["period"]]
            if not encounter["classHistory"]:
                del encounter["classHistory"]
        if care_type:
            encounter["type"] = [
                {
                    "coding": [
                        {"system": v.CARE_TYPE, "code": care_type, "display": self.care_name}
                    ],
                    "text": self.care_name,
                }
            ]
        if (s.text("MA_DOITUONG_KCB") or "").split(".")[0] == "2":
            encounter["priority"] = {
                "coding": [{"system": v.ACT_PRIORITY, "code": "EM", "display": "emergency"}],
                "text": "Cấp cứu",
            }
        encounter["subject"] = self.ref(self.patient_url)
        period = fhir_period(start, end)
        if period:
            encounter["period"] = period
        days = s.integer("SO_NGAY_DTRI")
        if days is not None:
            encounter["length"] = {"value": days, "unit": "ngày", "system": v.UCUM, "code": "d"}
        reason = s.text("LY_DO_VV")
        if reason:
            encounter["reasonCode"] = [{"text": reason}]
        if conditions:
            encounter["diagnosis"] = [
                {
                    "condition": self.ref(url),
                    "use": {"coding": [{"system": v.DIAGNOSIS_ROLE, "code": "DD"}]},
                    "rank": rank,
                }
                for rank, url in enumerate(conditions, start=1)
            ]
        hospitalization: Json = {}
        origin, destination = s.text("MA_NOI_DI"), s.text("MA_NOI_DEN")
        if origin:
            hospitalization["origin"] = self.facility_ref(origin)
        if destination:
            hospitalization["destination"] = self.facility_ref(destination)
        discharge = s.integer("MA_LOAI_RV")
        if discharge is not None:
            name = v.DISCHARGE_TYPES.get(discharge, str(discharge))
            hospitalization["dischargeDisposition"] = {
                "coding": [{"system": v.DISCHARGE_TYPE, "code": str(discharge), "display": name}],
                "text": name,
            }
        if hospitalization:
            encounter["hospitalization"] = hospitalization
        encounter["serviceProvider"] = self.facility_ref()
        result = s.integer("KET_QUA_DTRI")
        if result is not None:
            name = v.TREATMENT_RESULTS.get(result, str(result))
            encounter["extension"] = [
                {
                    "url": v.TREATMENT_RESULT_EXTENSION,
                    "valueCodeableConcept": {
                        "coding": [
                            {"system": v.TREATMENT_RESULT, "code": str(result), "display": name}
                        ],
                        "text": name,
                    },
                }
            ]
        self.add(self.encounter_url, encounter)

    def coverages(self) -> None:
        places = self.summary.texts("MA_DKBD")
        for index, (card, start, end) in enumerate(self.cards()):
            coverage: Json = {
                "resourceType": "Coverage",
                "identifier": [{"system": v.INSURANCE_NUMBER, "value": card}],
                "status": "active",
                "subscriberId": card,
                "beneficiary": self.ref(self.patient_url),
                "payor": [{"display": "Bảo hiểm xã hội Việt Nam"}],
            }
            period = fhir_period(start, end, date_only=True)
            if period:
                coverage["period"] = period
            place = places[index] if index < len(places) else None
            if place:
                coverage["class"] = [
                    {
                        "type": {"text": "Nơi đăng ký khám bệnh, chữa bệnh ban đầu (MA_DKBD)"},
                        "value": place,
                    }
                ]
            self.add(self.url("Coverage", card), coverage, private=False)

    def vitals(self) -> list[str]:
        s = self.summary
        urls: list[str] = []
        when = s.date("NGAY_VAO")
        weight = s.decimal("CAN_NANG")
        if weight is not None and weight > 0:
            urls.append(
                self.add(
                    self.url("Observation", "weight"),
                    self.observation(
                        "vital-signs",
                        {
                            "coding": [
                                {"system": v.LOINC, "code": "29463-7", "display": "Body weight"}
                            ],
                            "text": "Cân nặng",
                        },
                        when,
                        {"valueQuantity": quantity(weight, "kg", "kg")},
                    ),
                )
            )
        blood = s.text("NHOM_MAU")
        if blood:
            urls.extend(self.blood_group(blood))
        return urls

    def blood_group(self, text: str) -> list[str]:
        match = BLOOD.fullmatch(text.strip())
        abo = match.group(1).upper() if match and match.group(1) else None
        rh = match.group(2) if match else None
        urls: list[str] = []
        local = {"system": v.BLOOD_GROUP_TEXT, "code": text.strip()}
        if abo or not rh:
            coding = (
                [{"system": v.SNOMED, "code": ABO[abo][0], "display": ABO[abo][1]}] if abo else []
            )
            urls.append(
                self.add(
                    self.url("Observation", "abo"),
                    self.observation(
                        "laboratory",
                        {
                            "coding": [
                                {
                                    "system": v.LOINC,
                                    "code": "883-9",
                                    "display": "ABO group [Type] in Blood",
                                }
                            ],
                            "text": "Nhóm máu ABO",
                        },
                        None,
                        {"valueCodeableConcept": {"coding": [*coding, local], "text": abo or text}},
                    ),
                )
            )
        if rh:
            name = "Rh+" if rh == "+" else "Rh-"
            urls.append(
                self.add(
                    self.url("Observation", "rh"),
                    self.observation(
                        "laboratory",
                        {
                            "coding": [
                                {
                                    "system": v.LOINC,
                                    "code": "10331-7",
                                    "display": "Rh [Type] in Blood",
                                }
                            ],
                            "text": "Nhóm máu Rh",
                        },
                        None,
                        {
                            "valueCodeableConcept": {
                                "coding": [
                                    {"system": v.SNOMED, "code": RH[rh][0], "display": RH[rh][1]},
                                    local,
                                ],
                                "text": name,
                            }
                        },
                    ),
                )
            )
        return urls
