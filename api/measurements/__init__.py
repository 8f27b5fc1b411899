"""Home measurements: the citizen's own readings (blood pressure, heart rate, weight, height,
temperature, SpO2, glucose), entered by hand or imported from a phone's health app."""
