"""The state one episode's mapping shares: the episode, the facility, stable resource ids, the
entries written so far."""

from __future__ import annotations

import uuid

from api.insurance import vocabulary as v
from api.insurance.fields import VnDate
from api.insurance.mapping.common import (
    NAMESPACE,
    Json,
    is_sensitive,
    item_at,
    uuid5,
)
from api.insurance.tables import Episode


class Base:
    """One episode being mapped."""

    def __init__(
        self, episode: Episode, facility_code: str, facility_name: str | None, national_system: str
    ) -> None:
        self.episode = episode
        self.summary = episode.summary
        self.facility = facility_code
        self.facility_name = facility_name or f"Cơ sở khám bệnh, chữa bệnh {facility_code}"
        self.national_system = national_system
        self.namespace_bytes = uuid.uuid5(NAMESPACE, f"{facility_code}|{episode.ma_lk}").bytes
        self.seen: dict[str, int] = {}
        self.entries: list[Json] = []
        self.restricted = is_sensitive(episode)
        care_type = episode.care_type or ""
        self.class_code, self.care_name = v.CARE_TYPES.get(care_type, ("AMB", care_type))
        self.patient_url = self.url("Patient", "patient")
        self.encounter_url = self.url("Encounter", "encounter")
        self.org_url = self.url("Organization", "facility")

    # identities ---------------------------------------------------------------------------

    def url(self, resource_type: str, *natural: object) -> str:
        """A stable ``urn:uuid:`` for the resource that ``natural`` names in this episode; a
        second resource with the same natural key gets the next one."""
        key = "|".join([resource_type, *(str(part) for part in natural)])
        occurrence = self.seen.get(key, 0)
        self.seen[key] = occurrence + 1
        return f"urn:uuid:{uuid5(self.namespace_bytes, f'{key}|{occurrence}')}"

    def add(self, url: str, resource: Json, *, private: bool = True) -> str:
        """Add ``resource`` as an entry at ``url``; labelled restricted when the episode is and
        the resource is ``private`` (all but the Patient, the facility, the insurance cards)."""
        self.entries.append({"fullUrl": url, "resource": self.finish(url, resource, private)})
        return url

    def finish(self, url: str, resource: Json, private: bool = True) -> Json:
        """The resource as written: ``resourceType``, ``id`` (the UUID of its ``url``) and
        ``meta`` first, then its elements in the order they were set."""
        head: Json = {"resourceType": resource.pop("resourceType")}
        head["id"] = url.removeprefix("urn:uuid:")
        if private and self.restricted:
            head["meta"] = {"security": [dict(v.RESTRICTED)]}
        return {**head, **resource}

    def ref(self, url: str) -> Json:
        return {"reference": url}

    def facility_ref(self, code: str | None = None) -> Json:
        if code is None or code == self.facility:
            return {"reference": self.org_url, "display": self.facility_name}
        return {"identifier": {"system": v.FACILITY_CODE, "value": code}}

    def cards(self) -> list[tuple[str, VnDate | None, VnDate | None]]:
        s = self.summary
        cards = s.texts("MA_THE_BHYT")
        starts, ends = s.dates("GT_THE_TU"), s.dates("GT_THE_DEN")
        return [
            (card, item_at(starts, i), item_at(ends, i))
            for i, card in enumerate(cards)
            if card is not None
        ]

    def observation(
        self, category: str, code: Json, when: VnDate | None, value: Json, *, status: str = "final"
    ) -> Json:
        observation: Json = {
            "resourceType": "Observation",
            "status": status,
            "category": [{"coding": [{"system": v.OBSERVATION_CATEGORY, "code": category}]}],
            "code": code,
            "subject": self.ref(self.patient_url),
            "encounter": self.ref(self.encounter_url),
        }
        if when is not None:
            observation["effectiveDateTime"] = when.fhir_datetime()
        observation.update(value)
        return observation
