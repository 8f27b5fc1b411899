"""One episode of the insurance XML → one FHIR R4 ``document`` Bundle for the health book.

:func:`episode_to_bundle` writes the Bundle the book's publish pipeline takes from a hospital's
FHIR push (Composition first, the Patient it is about, the clinical resources, all in one
document). The table of what maps to what, and why, is ``docs/insurance-mapping.md``; in short:

- XML1 → Patient, Encounter (class from ``MA_LOAI_KCB``), Conditions (ICD-10, the hospital's
  diagnosis text first, the WHO title as the coding's display), Coverage per insurance card,
  weight and blood-group Observations, discharge disposition;
- XML2 → MedicationRequests (outpatient rows grouped into one prescription per order day);
- XML3 → Procedures (surgery and procedure groups only) and, with XML4, DiagnosticReports and
  their result Observations;
- XML5, XML7, XML8 → the Composition's sections (course, discharge paper, record summary);
- XML11 → a DocumentReference (the sick-leave certificate, readable as text);
- XML13 → a referral ServiceRequest; XML14 and ``NGAY_TAI_KHAM`` → proposed Appointments;
- XML6 (HIV) and XML15 (TB) → CarePlans. An episode with either, or with an HIV or TB diagnosis,
  has every resource but the Patient and the facility labelled restricted (``R``).

Everything is deterministic: ids are name-based UUIDs of (facility, ``MA_LK``, what the resource
is), so a re-send of the same episode gives the same Bundle, and a late result keeps the identity
of the result it completes. Nothing is invented: no date, unit or code the files do not carry.
"""

from __future__ import annotations

from api.insurance import vocabulary as v
from api.insurance.mapping.common import Json, is_sensitive
from api.insurance.mapping.document import Builder
from api.insurance.tables import Episode

__all__ = ["Json", "episode_is_restricted", "episode_to_bundle"]


def episode_to_bundle(
    episode: Episode,
    *,
    facility_code: str,
    facility_name: str | None = None,
    national_id_system: str = v.NATIONAL_ID,
) -> Json:
    """The episode as an R4 ``document`` Bundle (a JSON-ready dict).

    ``facility_code`` is the sending facility (``MACSKCB`` of the envelope); ``national_id_system``
    the identifier system the book matches citizens by (the VN Core one by default)."""
    return Builder(episode, facility_code, facility_name, national_id_system).bundle()


def episode_is_restricted(episode: Episode) -> bool:
    """Whether the episode's document is labelled restricted (``R``): it carries XML6 (HIV) or
    XML15 (TB), or an HIV or TB diagnosis. The book shows it nowhere unless the citizen opts to."""
    return is_sensitive(episode)
