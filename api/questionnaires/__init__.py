"""Intake questionnaires: facilities publish FHIR R4 Questionnaires per department; citizens
answer them (QuestionnaireResponse) before their visit; hospitals read the answers."""
