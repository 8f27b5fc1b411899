// A FHIR R4 Bundle (an IPS document, or a health card's collection) as readable sections:
// the patient, problems, allergies (with "no known allergies" when the record says so),
// medications, immunizations, recent results and visits. Built with DOM calls only: the
// record's text is never parsed as HTML.

import { locale, t } from "./i18n.js";

const MAX_RESULTS = 40;
const MAX_VISITS = 20;

// SNOMED CT "no known …" situations and the IPS absent-or-unknown codes
const NO_KNOWN_ALLERGY = {
  716186003: "allergies.none_known",
  409137002: "allergies.none_known.drug",
  429625007: "allergies.none_known.food",
  428607008: "allergies.none_known.environment",
  "no-known-allergies": "allergies.none_known",
  "no-known-medication-allergies": "allergies.none_known.drug",
  "no-known-food-allergies": "allergies.none_known.food",
  "no-known-environmental-allergies": "allergies.none_known.environment",
  "no-allergy-info": "allergies.no_info",
};
const NO_ALLERGY_SYSTEMS = [
  "http://snomed.info/sct",
  "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",
];

let sectionCount = 0;

export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (name === "className") {
      element.className = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === "") {
      continue;
    }
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function concept(value) {
  if (!value || typeof value !== "object") {
    return "";
  }
  if (value.text) {
    return String(value.text);
  }
  const codings = Array.isArray(value.coding) ? value.coding : [];
  const shown = codings.find((coding) => coding && coding.display);
  if (shown) {
    return String(shown.display);
  }
  const coded = codings.find((coding) => coding && coding.code);
  return coded ? String(coded.code) : "";
}

/** A FHIR date or dateTime for people: full dates in the reader's language, partial as given. */
export function formatDate(value) {
  if (typeof value !== "string" || !value) {
    return "";
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) {
    return value; // "2015" or "2015-03"
  }
  const hasTime = value.length > 10;
  const parsed = new Date(hasTime ? value : `${value}T00:00:00`);
  if (Number.isNaN(parsed.getTime())) {
    return value;
  }
  const options = hasTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" };
  return new Intl.DateTimeFormat(locale(), options).format(parsed);
}

function statusText(code) {
  const key = `status.${code}`;
  const text = t(key);
  return text === key ? String(code) : text;
}

function clinicalStatus(resource) {
  const code = resource.clinicalStatus?.coding?.find((coding) => coding?.code)?.code;
  return code ? statusText(code) : "";
}

function quantity(value) {
  if (!value || value.value === undefined) {
    return "";
  }
  const number = new Intl.NumberFormat(locale(), { maximumFractionDigits: 6 }).format(value.value);
  const unit = value.unit || value.code || "";
  return `${value.comparator || ""}${number}${unit ? ` ${unit}` : ""}`;
}

function valueOf(holder) {
  if (holder.valueQuantity) {
    return quantity(holder.valueQuantity);
  }
  if (holder.valueCodeableConcept) {
    return concept(holder.valueCodeableConcept);
  }
  if (typeof holder.valueString === "string") {
    return holder.valueString;
  }
  if (typeof holder.valueBoolean === "boolean") {
    return String(holder.valueBoolean);
  }
  if (typeof holder.valueInteger === "number") {
    return String(holder.valueInteger);
  }
  if (holder.valueRange) {
    return `${quantity(holder.valueRange.low)} – ${quantity(holder.valueRange.high)}`;
  }
  if (holder.valueDateTime) {
    return formatDate(holder.valueDateTime);
  }
  return "";
}

function when(resource, ...fields) {
  for (const field of fields) {
    const value = field.split(".").reduce((node, part) => node?.[part], resource);
    if (typeof value === "string" && value) {
      return value;
    }
  }
  return "";
}

class Index {
  constructor(bundle) {
    this.byRef = new Map();
    this.resources = [];
    for (const entry of Array.isArray(bundle.entry) ? bundle.entry : []) {
      const resource = entry?.resource;
      if (!resource || typeof resource !== "object") {
        continue;
      }
      this.resources.push(resource);
      if (entry.fullUrl) {
        this.byRef.set(entry.fullUrl, resource);
      }
      if (resource.id) {
        this.byRef.set(`${resource.resourceType}/${resource.id}`, resource);
      }
    }
  }

  of(...types) {
    return this.resources.filter((resource) => types.includes(resource.resourceType));
  }

  resolve(reference) {
    if (!reference?.reference) {
      return null;
    }
    const target = reference.reference;
    return this.byRef.get(target) || this.byRef.get(target.split("/").slice(-2).join("/")) || null;
  }

  display(reference) {
    if (!reference) {
      return "";
    }
    if (reference.display) {
      return reference.display;
    }
    const target = this.resolve(reference);
    return target ? target.name || concept(target.code) || "" : "";
  }
}

function item(title, ...details) {
  const shown = details.filter(Boolean);
  return el(
    "li",
    {},
    el("span", { className: "item-title" }, title || "—"),
    shown.length ? el("span", { className: "item-detail" }, shown.join(" · ")) : null,
  );
}

function section(key, items, { emptyKey = "record.empty", more = 0 } = {}) {
  sectionCount += 1;
  const id = `section-${sectionCount}`;
  const name = key.split(".")[0];
  const body = items.length
    ? el("ul", { className: "items" }, items, more > 0 ? el("li", { className: "more" }, t("record.more", { count: more })) : null)
    : el("p", { className: "empty" }, t(emptyKey));
  return el(
    "section",
    { className: `block block-${name}`, "aria-labelledby": id, "data-section": name },
    el("h3", { id }, t(key)),
    body,
  );
}

function personName(patient) {
  const names = Array.isArray(patient.name) ? patient.name : [];
  const name = names.find((candidate) => candidate?.use === "official") || names[0];
  if (!name) {
    return "";
  }
  if (name.text) {
    return name.text;
  }
  return [...(name.prefix || []), ...(name.given || []), name.family || ""].join(" ").trim();
}

function patientBlock(patient) {
  sectionCount += 1;
  const id = `section-${sectionCount}`;
  const rows = [];
  const add = (key, value) => {
    if (value) {
      rows.push(el("dt", {}, t(key)), el("dd", {}, value));
    }
  };
  add("patient.name", personName(patient));
  add("patient.birth_date", formatDate(patient.birthDate));
  if (patient.gender) {
    const key = `gender.${patient.gender}`;
    add("patient.gender", t(key) === key ? patient.gender : t(key));
  }
  return el(
    "section",
    { className: "block block-patient", "aria-labelledby": id, "data-section": "patient" },
    el("h3", { id }, t("patient.heading")),
    el("dl", { className: "facts" }, rows),
  );
}

function problems(index) {
  return index.of("Condition").map((condition) => {
    const onset = when(condition, "onsetDateTime", "onsetPeriod.start", "onsetString");
    return item(
      concept(condition.code),
      clinicalStatus(condition),
      onset ? t("field.since", { date: formatDate(onset) }) : "",
    );
  });
}

function noKnownAllergy(allergy) {
  for (const coding of allergy.code?.coding || []) {
    if (NO_ALLERGY_SYSTEMS.includes(coding?.system) && NO_KNOWN_ALLERGY[coding.code]) {
      return NO_KNOWN_ALLERGY[coding.code];
    }
  }
  return null;
}

function allergies(index) {
  const found = index.of("AllergyIntolerance");
  const items = found.map((allergy) => {
    const none = noKnownAllergy(allergy);
    if (none) {
      return el(
        "li",
        { className: "none-known", "data-none-known": "true" },
        el("span", { className: "item-title" }, t(none)),
      );
    }
    const reactions = (allergy.reaction || [])
      .flatMap((reaction) => (reaction.manifestation || []).map(concept))
      .filter(Boolean);
    const criticality = allergy.criticality ? t(`allergies.criticality.${allergy.criticality}`) : "";
    return item(
      concept(allergy.code),
      clinicalStatus(allergy),
      criticality.startsWith("allergies.") ? "" : criticality,
      reactions.length ? t("allergies.reaction", { what: reactions.join(", ") }) : "",
    );
  });
  return { items, emptyKey: "allergies.no_info" };
}

function medications(index) {
  return index.of("MedicationStatement", "MedicationRequest").map((use) => {
    let name = concept(use.medicationCodeableConcept);
    if (!name && use.medicationReference) {
      name = index.display(use.medicationReference);
    }
    const dosage = (use.dosage || use.dosageInstruction || [])[0];
    let dose = dosage?.text || "";
    if (!dose && dosage?.doseAndRate?.[0]?.doseQuantity) {
      dose = t("field.dose", { dose: quantity(dosage.doseAndRate[0].doseQuantity) });
    }
    const start = when(use, "effectivePeriod.start", "effectiveDateTime", "authoredOn");
    return item(
      name,
      dose,
      use.status && use.status !== "active" ? statusText(use.status) : "",
      start ? t("field.since", { date: formatDate(start) }) : "",
    );
  });
}

function immunizations(index) {
  return index
    .of("Immunization")
    .sort((a, b) => when(b, "occurrenceDateTime").localeCompare(when(a, "occurrenceDateTime")))
    .map((immunization) => {
      const date = when(immunization, "occurrenceDateTime", "occurrenceString");
      return item(
        concept(immunization.vaccineCode),
        date ? t("field.date", { date: formatDate(date) }) : "",
        immunization.lotNumber ? t("field.lot", { lot: immunization.lotNumber }) : "",
        immunization.status && immunization.status !== "completed"
          ? statusText(immunization.status)
          : "",
        index.display(immunization.performer?.[0]?.actor)
          ? t("field.at", { place: index.display(immunization.performer[0].actor) })
          : "",
      );
    });
}

function results(index) {
  const observed = index
    .of("Observation")
    .filter((observation) => valueOf(observation) || (observation.component || []).length)
    .sort((a, b) =>
      when(b, "effectiveDateTime", "effectivePeriod.start", "issued").localeCompare(
        when(a, "effectiveDateTime", "effectivePeriod.start", "issued"),
      ),
    );
  const items = observed.slice(0, MAX_RESULTS).map((observation) => {
    let value = valueOf(observation);
    if (!value) {
      value = (observation.component || [])
        .map((part) => `${concept(part.code)}: ${valueOf(part)}`)
        .join("; ");
    }
    const date = when(observation, "effectiveDateTime", "effectivePeriod.start", "issued");
    return el(
      "li",
      {},
      el("span", { className: "item-title" }, concept(observation.code) || "—"),
      el("span", { className: "item-value" }, value),
      date ? el("span", { className: "item-detail" }, formatDate(date)) : null,
    );
  });
  return { items, more: observed.length - items.length };
}

function visits(index) {
  const found = index
    .of("Encounter")
    .sort((a, b) => when(b, "period.start").localeCompare(when(a, "period.start")));
  const items = found.slice(0, MAX_VISITS).map((encounter) => {
    const kind =
      concept(encounter.type?.[0]) || encounter.class?.display || encounter.class?.code || "";
    const start = formatDate(when(encounter, "period.start"));
    const end = formatDate(when(encounter, "period.end"));
    const period = start && end && start !== end ? t("field.period", { start, end }) : start;
    const place =
      index.display(encounter.serviceProvider) || index.display(encounter.location?.[0]?.location);
    const reason = (encounter.reasonCode || []).map(concept).filter(Boolean).join(", ");
    return item(
      kind,
      period,
      place ? t("field.at", { place }) : "",
      reason ? t("field.reason", { reason }) : "",
    );
  });
  return { items, more: found.length - items.length };
}

/**
 * The sections of a Bundle. `full`: every section, even empty ones (an IPS); otherwise only
 * those with entries (a health card).
 */
export function renderBundle(bundle, { full = true } = {}) {
  const index = new Index(bundle && typeof bundle === "object" ? bundle : {});
  const blocks = [];
  const patient = index.of("Patient")[0];
  if (patient) {
    blocks.push(patientBlock(patient));
  }
  const add = (key, found, options = {}) => {
    if (full || found.length) {
      blocks.push(section(key, found, options));
    }
  };
  add("problems.heading", problems(index));
  const allergy = allergies(index);
  add("allergies.heading", allergy.items, { emptyKey: allergy.emptyKey });
  add("medications.heading", medications(index));
  add("immunizations.heading", immunizations(index));
  const result = results(index);
  add("results.heading", result.items, { more: result.more });
  const visit = visits(index);
  add("visits.heading", visit.items, { more: visit.more });
  return el("div", { className: "bundle" }, blocks);
}
