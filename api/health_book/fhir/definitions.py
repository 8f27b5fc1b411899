"""The FHIR R4 (4.0.1) definitions the validator checks, as compact tables.

Written from the R4 specification's resource and datatype pages (hl7.org/fhir/R4): every element
of each type the book keeps, with its type(s), cardinality and, where R4 binds it ``required``,
the codes allowed. One line per element::

    name   type[|type...]   card   [value set]

``card`` is ``?`` (0..1), ``!`` (1..1), ``*`` (0..*) or ``+`` (1..*). A name ending in ``[x]`` is
a choice: ``onset[x] dateTime|Period ?`` allows ``onsetDateTime`` or ``onsetPeriod`` (one at
most). Backbone elements are types of their own, named ``Resource.element``. ``@`` before a value
set name binds a CodeableConcept (a coding of the value set's system must carry one of its
codes); without it the value set binds a ``code``.
"""

from __future__ import annotations

CODE_SYSTEMS: dict[str, str] = {
    "condition-clinical": "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "condition-ver-status": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    "allergyintolerance-clinical": (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
    ),
    "allergyintolerance-verification": (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
    ),
}
"""The system of each value set bound to a CodeableConcept."""

VALUE_SETS: dict[str, frozenset[str]] = {
    name: frozenset(codes.split())
    for name, codes in {
        "administrative-gender": "male female other unknown",
        "narrative-status": "generated extensions additional empty",
        "identifier-use": "usual official temp secondary old",
        "name-use": "usual official temp nickname anonymous old maiden",
        "address-use": "home work temp old billing",
        "address-type": "postal physical both",
        "contact-point-system": "phone fax email pager url sms other",
        "contact-point-use": "home work temp old mobile",
        "quantity-comparator": "< <= >= >",
        "link-type": "replaced-by replaces refer seealso",
        "units-of-time": "s min h d wk mo a",
        "days-of-week": "mon tue wed thu fri sat sun",
        "event-timing": "MORN MORN.early MORN.late NOON AFT AFT.early AFT.late EVE EVE.early "
        "EVE.late NIGHT PHS HS WAKE C CM CD CV AC ACM ACD ACV PC PCM PCD PCV",
        "encounter-status": "planned arrived triaged in-progress onleave finished cancelled "
        "entered-in-error unknown",
        "encounter-location-status": "planned active reserved completed",
        "condition-clinical": "active recurrence relapse inactive remission resolved",
        "condition-ver-status": "unconfirmed provisional differential confirmed refuted "
        "entered-in-error",
        "allergyintolerance-clinical": "active inactive resolved",
        "allergyintolerance-verification": "unconfirmed confirmed refuted entered-in-error",
        "allergy-intolerance-type": "allergy intolerance",
        "allergy-intolerance-category": "food medication environment biologic",
        "allergy-intolerance-criticality": "low high unable-to-assess",
        "reaction-event-severity": "mild moderate severe",
        "medication-status": "active inactive entered-in-error",
        "medicationrequest-status": "active on-hold cancelled completed entered-in-error stopped "
        "draft unknown",
        "medicationrequest-intent": "proposal plan order original-order reflex-order "
        "filler-order instance-order option",
        "request-priority": "routine urgent asap stat",
        "medication-statement-status": "active completed entered-in-error intended stopped "
        "on-hold unknown not-taken",
        "immunization-status": "completed entered-in-error not-done",
        "observation-status": "registered preliminary final amended corrected cancelled "
        "entered-in-error unknown",
        "diagnostic-report-status": "registered partial preliminary final amended corrected "
        "appended cancelled entered-in-error unknown",
        "event-status": "preparation in-progress not-done on-hold stopped completed "
        "entered-in-error unknown",
        "composition-status": "preliminary final amended entered-in-error",
        "composition-attestation-mode": "personal professional legal official",
        "document-relationship-type": "replaces transforms signs appends",
        "list-mode": "working snapshot changes",
        "v3-confidentiality": "U L M N R V",
        "bundle-type": "document message transaction transaction-response batch "
        "batch-response history searchset collection",
        "search-entry-mode": "match include outcome",
        "http-verb": "GET HEAD POST PUT DELETE PATCH",
        "location-status": "active suspended inactive",
        "location-mode": "instance kind",
    }.items()
}

PRIMITIVES = frozenset(
    [
        "boolean",
        "integer",
        "string",
        "decimal",
        "uri",
        "url",
        "canonical",
        "base64Binary",
        "instant",
        "date",
        "dateTime",
        "time",
        "code",
        "oid",
        "id",
        "markdown",
        "unsignedInt",
        "positiveInt",
        "uuid",
        "xhtml",
    ]
)

OPAQUE = frozenset(
    [
        "ContactDetail",
        "Contributor",
        "DataRequirement",
        "Expression",
        "ParameterDefinition",
        "RelatedArtifact",
        "TriggerDefinition",
        "UsageContext",
    ]
)
"""Datatypes the book never reads, allowed only as extension values: checked to be objects."""

EXTENSION_VALUE_TYPES = (
    "base64Binary|boolean|canonical|code|date|dateTime|decimal|id|instant|integer|markdown|oid|"
    "positiveInt|string|time|unsignedInt|uri|url|uuid|Address|Age|Annotation|Attachment|"
    "CodeableConcept|Coding|ContactPoint|Count|Distance|Duration|HumanName|Identifier|Money|"
    "Period|Quantity|Range|Ratio|Reference|SampledData|Signature|Timing|ContactDetail|"
    "Contributor|DataRequirement|Expression|ParameterDefinition|RelatedArtifact|"
    "TriggerDefinition|UsageContext|Dosage|Meta"
)

_QUANTITY = """
value decimal ?
comparator code ? quantity-comparator
unit string ?
system uri ?
code code ?
"""

DATATYPES: dict[str, str] = {
    "Extension": f"url uri !\nvalue[x] {EXTENSION_VALUE_TYPES} ?",
    "Narrative": "status code ! narrative-status\ndiv xhtml !",
    "Meta": """
versionId id ?
lastUpdated instant ?
source uri ?
profile canonical *
security Coding *
tag Coding *
""",
    "Coding": """
system uri ?
version string ?
code code ?
display string ?
userSelected boolean ?
""",
    "CodeableConcept": "coding Coding *\ntext string ?",
    "Identifier": """
use code ? identifier-use
type CodeableConcept ?
system uri ?
value string ?
period Period ?
assigner Reference ?
""",
    "Reference": """
reference string ?
type uri ?
identifier Identifier ?
display string ?
""",
    "Period": "start dateTime ?\nend dateTime ?",
    "Quantity": _QUANTITY,
    "SimpleQuantity": _QUANTITY,
    "Age": _QUANTITY,
    "Count": _QUANTITY,
    "Distance": _QUANTITY,
    "Duration": _QUANTITY,
    "Money": "value decimal ?\ncurrency code ?",
    "Range": "low SimpleQuantity ?\nhigh SimpleQuantity ?",
    "Ratio": "numerator Quantity ?\ndenominator Quantity ?",
    "Annotation": "author[x] Reference|string ?\ntime dateTime ?\ntext markdown !",
    "HumanName": """
use code ? name-use
text string ?
family string ?
given string *
prefix string *
suffix string *
period Period ?
""",
    "Address": """
use code ? address-use
type code ? address-type
text string ?
line string *
city string ?
district string ?
state string ?
postalCode string ?
country string ?
period Period ?
""",
    "ContactPoint": """
system code ? contact-point-system
value string ?
use code ? contact-point-use
rank positiveInt ?
period Period ?
""",
    "Attachment": """
contentType code ?
language code ?
data base64Binary ?
url url ?
size unsignedInt ?
hash base64Binary ?
title string ?
creation dateTime ?
""",
    "SampledData": """
origin SimpleQuantity !
period decimal !
factor decimal ?
lowerLimit decimal ?
upperLimit decimal ?
dimensions positiveInt !
data string ?
""",
    "Signature": """
type Coding +
when instant !
who Reference !
onBehalfOf Reference ?
targetFormat code ?
sigFormat code ?
data base64Binary ?
""",
    "Timing": "event dateTime *\nrepeat Timing.repeat ?\ncode CodeableConcept ?",
    "Timing.repeat": """
bounds[x] Duration|Range|Period ?
count positiveInt ?
countMax positiveInt ?
duration decimal ?
durationMax decimal ?
durationUnit code ? units-of-time
frequency positiveInt ?
frequencyMax positiveInt ?
period decimal ?
periodMax decimal ?
periodUnit code ? units-of-time
dayOfWeek code * days-of-week
timeOfDay time *
when code * event-timing
offset unsignedInt ?
""",
    "Dosage": """
sequence integer ?
text string ?
additionalInstruction CodeableConcept *
patientInstruction string ?
timing Timing ?
asNeeded[x] boolean|CodeableConcept ?
site CodeableConcept ?
route CodeableConcept ?
method CodeableConcept ?
doseAndRate Dosage.doseAndRate *
maxDosePerPeriod Ratio ?
maxDosePerAdministration SimpleQuantity ?
maxDosePerLifetime SimpleQuantity ?
""",
    "Dosage.doseAndRate": """
type CodeableConcept ?
dose[x] Range|SimpleQuantity ?
rate[x] Ratio|Range|SimpleQuantity ?
""",
}
"""Complex datatypes: each also has ``id`` and ``extension`` (Element); ``Timing.repeat`` and
``Dosage.doseAndRate`` are Elements, not BackboneElements."""

_ONSET = "dateTime|Age|Period|Range|string"

RESOURCES: dict[str, str] = {
    "Patient": """
identifier Identifier *
active boolean ?
name HumanName *
telecom ContactPoint *
gender code ? administrative-gender
birthDate date ?
deceased[x] boolean|dateTime ?
address Address *
maritalStatus CodeableConcept ?
multipleBirth[x] boolean|integer ?
photo Attachment *
contact Patient.contact *
communication Patient.communication *
generalPractitioner Reference *
managingOrganization Reference ?
link Patient.link *
""",
    "Patient.contact": """
relationship CodeableConcept *
name HumanName ?
telecom ContactPoint *
address Address ?
gender code ? administrative-gender
organization Reference ?
period Period ?
""",
    "Patient.communication": "language CodeableConcept !\npreferred boolean ?",
    "Patient.link": "other Reference !\ntype code ! link-type",
    "Organization": """
identifier Identifier *
active boolean ?
type CodeableConcept *
name string ?
alias string *
telecom ContactPoint *
address Address *
partOf Reference ?
contact Organization.contact *
endpoint Reference *
""",
    "Organization.contact": """
purpose CodeableConcept ?
name HumanName ?
telecom ContactPoint *
address Address ?
""",
    "Practitioner": """
identifier Identifier *
active boolean ?
name HumanName *
telecom ContactPoint *
address Address *
gender code ? administrative-gender
birthDate date ?
photo Attachment *
qualification Practitioner.qualification *
communication CodeableConcept *
""",
    "Practitioner.qualification": """
identifier Identifier *
code CodeableConcept !
period Period ?
issuer Reference ?
""",
    "PractitionerRole": """
identifier Identifier *
active boolean ?
period Period ?
practitioner Reference ?
organization Reference ?
code CodeableConcept *
specialty CodeableConcept *
location Reference *
healthcareService Reference *
telecom ContactPoint *
availableTime PractitionerRole.availableTime *
notAvailable PractitionerRole.notAvailable *
availabilityExceptions string ?
endpoint Reference *
""",
    "PractitionerRole.availableTime": """
daysOfWeek code * days-of-week
allDay boolean ?
availableStartTime time ?
availableEndTime time ?
""",
    "PractitionerRole.notAvailable": "description string !\nduring Period ?",
    "Location": """
identifier Identifier *
status code ? location-status
operationalStatus Coding ?
name string ?
alias string *
description string ?
mode code ? location-mode
type CodeableConcept *
telecom ContactPoint *
address Address ?
physicalType CodeableConcept ?
position Location.position ?
managingOrganization Reference ?
partOf Reference ?
hoursOfOperation Location.hoursOfOperation *
availabilityExceptions string ?
endpoint Reference *
""",
    "Location.position": "longitude decimal !\nlatitude decimal !\naltitude decimal ?",
    "Location.hoursOfOperation": """
daysOfWeek code * days-of-week
allDay boolean ?
openingTime time ?
closingTime time ?
""",
    "Medication": """
identifier Identifier *
code CodeableConcept ?
status code ? medication-status
manufacturer Reference ?
form CodeableConcept ?
amount Ratio ?
ingredient Medication.ingredient *
batch Medication.batch ?
""",
    "Medication.ingredient": """
item[x] CodeableConcept|Reference !
isActive boolean ?
strength Ratio ?
""",
    "Medication.batch": "lotNumber string ?\nexpirationDate dateTime ?",
    "Encounter": """
identifier Identifier *
status code ! encounter-status
statusHistory Encounter.statusHistory *
class Coding !
classHistory Encounter.classHistory *
type CodeableConcept *
serviceType CodeableConcept ?
priority CodeableConcept ?
subject Reference ?
episodeOfCare Reference *
basedOn Reference *
participant Encounter.participant *
appointment Reference *
period Period ?
length Duration ?
reasonCode CodeableConcept *
reasonReference Reference *
diagnosis Encounter.diagnosis *
account Reference *
hospitalization Encounter.hospitalization ?
location Encounter.location *
serviceProvider Reference ?
partOf Reference ?
""",
    "Encounter.statusHistory": "status code ! encounter-status\nperiod Period !",
    "Encounter.classHistory": "class Coding !\nperiod Period !",
    "Encounter.participant": "type CodeableConcept *\nperiod Period ?\nindividual Reference ?",
    "Encounter.diagnosis": "condition Reference !\nuse CodeableConcept ?\nrank positiveInt ?",
    "Encounter.hospitalization": """
preAdmissionIdentifier Identifier ?
origin Reference ?
admitSource CodeableConcept ?
reAdmission CodeableConcept ?
dietPreference CodeableConcept *
specialCourtesy CodeableConcept *
specialArrangement CodeableConcept *
destination Reference ?
dischargeDisposition CodeableConcept ?
""",
    "Encounter.location": """
location Reference !
status code ? encounter-location-status
physicalType CodeableConcept ?
period Period ?
""",
    "Condition": f"""
identifier Identifier *
clinicalStatus CodeableConcept ? @condition-clinical
verificationStatus CodeableConcept ? @condition-ver-status
category CodeableConcept *
severity CodeableConcept ?
code CodeableConcept ?
bodySite CodeableConcept *
subject Reference !
encounter Reference ?
onset[x] {_ONSET} ?
abatement[x] {_ONSET} ?
recordedDate dateTime ?
recorder Reference ?
asserter Reference ?
stage Condition.stage *
evidence Condition.evidence *
note Annotation *
""",
    "Condition.stage": "summary CodeableConcept ?\nassessment Reference *\ntype CodeableConcept ?",
    "Condition.evidence": "code CodeableConcept *\ndetail Reference *",
    "AllergyIntolerance": f"""
identifier Identifier *
clinicalStatus CodeableConcept ? @allergyintolerance-clinical
verificationStatus CodeableConcept ? @allergyintolerance-verification
type code ? allergy-intolerance-type
category code * allergy-intolerance-category
criticality code ? allergy-intolerance-criticality
code CodeableConcept ?
patient Reference !
encounter Reference ?
onset[x] {_ONSET} ?
recordedDate dateTime ?
recorder Reference ?
asserter Reference ?
lastOccurrence dateTime ?
note Annotation *
reaction AllergyIntolerance.reaction *
""",
    "AllergyIntolerance.reaction": """
substance CodeableConcept ?
manifestation CodeableConcept +
description string ?
onset dateTime ?
severity code ? reaction-event-severity
exposureRoute CodeableConcept ?
note Annotation *
""",
    "MedicationRequest": """
identifier Identifier *
status code ! medicationrequest-status
statusReason CodeableConcept ?
intent code ! medicationrequest-intent
category CodeableConcept *
priority code ? request-priority
doNotPerform boolean ?
reported[x] boolean|Reference ?
medication[x] CodeableConcept|Reference !
subject Reference !
encounter Reference ?
supportingInformation Reference *
authoredOn dateTime ?
requester Reference ?
performer Reference ?
performerType CodeableConcept ?
recorder Reference ?
reasonCode CodeableConcept *
reasonReference Reference *
instantiatesCanonical canonical *
instantiatesUri uri *
basedOn Reference *
groupIdentifier Identifier ?
courseOfTherapyType CodeableConcept ?
insurance Reference *
note Annotation *
dosageInstruction Dosage *
dispenseRequest MedicationRequest.dispenseRequest ?
substitution MedicationRequest.substitution ?
priorPrescription Reference ?
detectedIssue Reference *
eventHistory Reference *
""",
    "MedicationRequest.dispenseRequest": """
initialFill MedicationRequest.dispenseRequest.initialFill ?
dispenseInterval Duration ?
validityPeriod Period ?
numberOfRepeatsAllowed unsignedInt ?
quantity SimpleQuantity ?
expectedSupplyDuration Duration ?
performer Reference ?
""",
    "MedicationRequest.dispenseRequest.initialFill": "quantity SimpleQuantity ?\n"
    "duration Duration ?",
    "MedicationRequest.substitution": "allowed[x] boolean|CodeableConcept !\n"
    "reason CodeableConcept ?",
    "MedicationStatement": """
identifier Identifier *
basedOn Reference *
partOf Reference *
status code ! medication-statement-status
statusReason CodeableConcept *
category CodeableConcept ?
medication[x] CodeableConcept|Reference !
subject Reference !
context Reference ?
effective[x] dateTime|Period ?
dateAsserted dateTime ?
informationSource Reference ?
derivedFrom Reference *
reasonCode CodeableConcept *
reasonReference Reference *
note Annotation *
dosage Dosage *
""",
    "Immunization": """
identifier Identifier *
status code ! immunization-status
statusReason CodeableConcept ?
vaccineCode CodeableConcept !
patient Reference !
encounter Reference ?
occurrence[x] dateTime|string !
recorded dateTime ?
primarySource boolean ?
reportOrigin CodeableConcept ?
location Reference ?
manufacturer Reference ?
lotNumber string ?
expirationDate date ?
site CodeableConcept ?
route CodeableConcept ?
doseQuantity SimpleQuantity ?
performer Immunization.performer *
note Annotation *
reasonCode CodeableConcept *
reasonReference Reference *
isSubpotent boolean ?
subpotentReason CodeableConcept *
education Immunization.education *
programEligibility CodeableConcept *
fundingSource CodeableConcept ?
reaction Immunization.reaction *
protocolApplied Immunization.protocolApplied *
""",
    "Immunization.performer": "function CodeableConcept ?\nactor Reference !",
    "Immunization.education": """
documentType string ?
reference uri ?
publicationDate dateTime ?
presentationDate dateTime ?
""",
    "Immunization.reaction": "date dateTime ?\ndetail Reference ?\nreported boolean ?",
    "Immunization.protocolApplied": """
series string ?
authority Reference ?
targetDisease CodeableConcept *
doseNumber[x] positiveInt|string !
seriesDoses[x] positiveInt|string ?
""",
    "Observation": """
identifier Identifier *
basedOn Reference *
partOf Reference *
status code ! observation-status
category CodeableConcept *
code CodeableConcept !
subject Reference ?
focus Reference *
encounter Reference ?
effective[x] dateTime|Period|Timing|instant ?
issued instant ?
performer Reference *
value[x] Quantity|CodeableConcept|string|boolean|integer|Range|Ratio|SampledData|time|dateTime|Period ?
dataAbsentReason CodeableConcept ?
interpretation CodeableConcept *
note Annotation *
bodySite CodeableConcept ?
method CodeableConcept ?
specimen Reference ?
device Reference ?
referenceRange Observation.referenceRange *
hasMember Reference *
derivedFrom Reference *
component Observation.component *
""",  # noqa: E501
    "Observation.referenceRange": """
low SimpleQuantity ?
high SimpleQuantity ?
type CodeableConcept ?
appliesTo CodeableConcept *
age Range ?
text string ?
""",
    "Observation.component": """
code CodeableConcept !
value[x] Quantity|CodeableConcept|string|boolean|integer|Range|Ratio|SampledData|time|dateTime|Period ?
dataAbsentReason CodeableConcept ?
interpretation CodeableConcept *
referenceRange Observation.referenceRange *
""",  # noqa: E501
    "DiagnosticReport": """
identifier Identifier *
basedOn Reference *
status code ! diagnostic-report-status
category CodeableConcept *
code CodeableConcept !
subject Reference ?
encounter Reference ?
effective[x] dateTime|Period ?
issued instant ?
performer Reference *
resultsInterpreter Reference *
specimen Reference *
result Reference *
imagingStudy Reference *
media DiagnosticReport.media *
conclusion string ?
conclusionCode CodeableConcept *
presentedForm Attachment *
""",
    "DiagnosticReport.media": "comment string ?\nlink Reference !",
    "Procedure": """
identifier Identifier *
instantiatesCanonical canonical *
instantiatesUri uri *
basedOn Reference *
partOf Reference *
status code ! event-status
statusReason CodeableConcept ?
category CodeableConcept ?
code CodeableConcept ?
subject Reference !
encounter Reference ?
performed[x] dateTime|Period|string|Age|Range ?
recorder Reference ?
asserter Reference ?
performer Procedure.performer *
location Reference ?
reasonCode CodeableConcept *
reasonReference Reference *
bodySite CodeableConcept *
outcome CodeableConcept ?
report Reference *
complication CodeableConcept *
complicationDetail Reference *
followUp CodeableConcept *
note Annotation *
focalDevice Procedure.focalDevice *
usedReference Reference *
usedCode CodeableConcept *
""",
    "Procedure.performer": "function CodeableConcept ?\nactor Reference !\nonBehalfOf Reference ?",
    "Procedure.focalDevice": "action CodeableConcept ?\nmanipulated Reference !",
    "Composition": """
identifier Identifier ?
status code ! composition-status
type CodeableConcept !
category CodeableConcept *
subject Reference ?
encounter Reference ?
date dateTime !
author Reference +
title string !
confidentiality code ? v3-confidentiality
attester Composition.attester *
custodian Reference ?
relatesTo Composition.relatesTo *
event Composition.event *
section Composition.section *
""",
    "Composition.attester": """
mode code ! composition-attestation-mode
time dateTime ?
party Reference ?
""",
    "Composition.relatesTo": "code code ! document-relationship-type\n"
    "target[x] Identifier|Reference !",
    "Composition.event": "code CodeableConcept *\nperiod Period ?\ndetail Reference *",
    "Composition.section": """
title string ?
code CodeableConcept ?
author Reference *
focus Reference ?
text Narrative ?
mode code ? list-mode
orderedBy CodeableConcept ?
entry Reference *
emptyReason CodeableConcept ?
section Composition.section *
""",
}
"""Resources (each also has the Resource and DomainResource elements) and their backbone
elements (each also has ``id``, ``extension`` and ``modifierExtension``)."""

BUNDLE: dict[str, str] = {
    "Bundle": """
identifier Identifier ?
type code ! bundle-type
timestamp instant ?
total unsignedInt ?
link Bundle.link *
entry Bundle.entry *
signature Signature ?
""",
    "Bundle.link": "relation string !\nurl uri !",
    "Bundle.entry": """
link Bundle.link *
fullUrl uri ?
resource Resource ?
search Bundle.entry.search ?
request Bundle.entry.request ?
response Bundle.entry.response ?
""",
    "Bundle.entry.search": "mode code ? search-entry-mode\nscore decimal ?",
    "Bundle.entry.request": """
method code ! http-verb
url uri !
ifNoneMatch string ?
ifModifiedSince instant ?
ifMatch string ?
ifNoneExist string ?
""",
    "Bundle.entry.response": """
status string !
location uri ?
etag string ?
lastModified instant ?
outcome Resource ?
""",
}
"""The Bundle's own elements (a Resource, not a DomainResource)."""
