// Uses the generated types (schema.ts, from openapi-typescript) the way an integrator would;
// `tsc --noEmit` (strict) must accept it. It reads the answers of the operations whose schemas
// once shared a name (Department, Patient), so a clash or a missing answer fails to compile.
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;

type HospitalDay = Json<operations["ListHospitalAppointments"]["responses"][200]>;
type Arrivals = Json<operations["ListQueueArrivals"]["responses"][200]>;
type Slots = Json<paths["/facilities/{facility_id}/slots"]["get"]["responses"][200]>;
type Departments = Json<operations["ListFacilityDepartments"]["responses"][200]>;
type Booked = Json<operations["BookAppointment"]["responses"][201]>;

export function expectedToday(day: HospitalDay): string[] {
  return day.items.map(
    (item: Schemas["HospitalAppointment"]) =>
      `${item.department.code}: ${item.patient.full_name ?? item.patient.citizen_id}`,
  );
}

export function waiting(page: Arrivals): Schemas["CheckedInPatient"][] {
  return page.items.map((arrival) => arrival.patient);
}

export function rooms(slots: Slots): (string | null | undefined)[] {
  return slots.items.map((slot) => slot.department.room);
}

export function active(departments: Departments): Schemas["Department"][] {
  return departments.filter((department) => department.active);
}

export function where(appointment: Booked): Schemas["SlotDepartment"] {
  return appointment.department;
}

type Bundle = NonNullable<
  operations["PublishSummary"]["requestBody"]
>["content"]["application/fhir+json"];

// every Bundle.type the FHIR parser ingests (api/health_book/fhir/parse.py)
export const bundleTypes: Bundle["type"][] = [
  "batch",
  "collection",
  "document",
  "searchset",
  "transaction",
];
