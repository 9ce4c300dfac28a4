"""Integrations with a hospital's other systems: webhook signing and URL rules, FHIR R4."""
