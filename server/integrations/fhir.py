"""FHIR R4 resources built from the record: Appointment (a token), Patient, the searchset
Bundle, OperationOutcome and the CapabilityStatement. Pure: rows in, validated JSON out.

Every resource is validated by the `fhir.resources` models before it leaves (their R4B
package: R4B is the 4.3 technical correction of R4, and Appointment, Patient, Bundle,
OperationOutcome and CapabilityStatement are the same resources in both), so a field the
specification does not know, or a malformed date, fails here and not at the integrator's.

Token status -> Appointment.status (docs/integrations.md has the table and its reasons):
a token waiting, called or in consultation has `arrived` (the patient is here; R4's
`checked-in` means the pre-encounter paperwork is done, which a queue does not know); the
token's own status rides along in an extension so nothing is lost. A rescheduled token is
`cancelled` with the reason "rescheduled" (its new booking is another token).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.fhirresourcemodel import FHIRResourceModel
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"

STATUS: dict[str, str] = {
    "BOOKED": "booked",
    "WAITING": "arrived",
    "CALLED": "arrived",
    "IN_CONSULTATION": "arrived",
    "COMPLETED": "fulfilled",
    "NO_SHOW": "noshow",
    "CANCELLED": "cancelled",
    "RESCHEDULED": "cancelled",
}
GENDER = {"M": "male", "F": "female", "O": "other", "U": "unknown"}
# HL7 v2 table 0276 (appointment reason codes), which FHIR R4 binds appointmentType to
APPOINTMENT_TYPE = {"WALK_IN": "WALKIN", "ONLINE": "ROUTINE", "EMERGENCY": "EMERGENCY"}
V2_0276 = "http://terminology.hl7.org/CodeSystem/v2-0276"
BCP47 = "urn:ietf:bcp:47"
OUTCOME_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
                 406: "not-supported", 422: "invalid", 429: "throttled"}


def _validated(model: type[FHIRResourceModel], data: dict[str, Any]) -> dict[str, Any]:
    resource = model.model_validate(data)
    return resource.model_dump(mode="json", exclude_none=True, by_alias=True)


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def token_status_url(base_url: str) -> str:
    return f"{base_url}/fhir/r4/StructureDefinition/token-status"


def _period(row: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """start: when the consultation began, else the booked slot, else arrival; end: when it
    ended, else start + the department's (or doctor's) average consultation."""
    start = (row.get("started_at") or row.get("scheduled_time") or row.get("checked_in_at")
             or row.get("created_at"))
    end = row.get("completed_at")
    if start is not None and (end is None or end < start):
        minutes = float(row.get("avg_consultation_min") or 10)
        end = start + timedelta(minutes=minutes)
    return start, end


def appointment(row: dict[str, Any], *, hospital_code: str, base_url: str) -> dict[str, Any]:
    """A token as an Appointment. `row`: the token with patient_name, doctor_name,
    department_name, cabin_number and avg_consultation_min."""
    status = row["status"]
    start, end = _period(row)
    participants: list[dict[str, Any]] = [{
        "actor": {"reference": f"Patient/{row['patient_id']}", "display": row["patient_name"]},
        "required": "required", "status": "accepted"}]
    if row.get("doctor_id"):
        participants.append({
            "actor": {"reference": f"Practitioner/{row['doctor_id']}",
                      "display": row.get("doctor_name")},
            "required": "required", "status": "accepted"})
    if row.get("cabin_number"):
        participants.append({"actor": {"type": "Location",
                                       "display": f"Cabin {row['cabin_number']}"},
                             "required": "information-only", "status": "accepted"})
    data: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(row["id"]),
        "meta": {"lastUpdated": _iso(row.get("updated_at"))},
        "extension": [{"url": token_status_url(base_url), "valueCode": status}],
        "identifier": [{"system": f"urn:opdq:{hospital_code}:token",
                        "value": f"{row['service_date']}/{row['number']}"}],
        "status": STATUS[status],
        "appointmentType": {"coding": [{"system": V2_0276,
                                        "code": APPOINTMENT_TYPE[row["booking_type"]]}]},
        "specialty": [{"text": row.get("department_name")}],
        "start": _iso(start),
        "end": _iso(end),
        "created": _iso(row.get("created_at")),
        "participant": participants,
    }
    if status == "CANCELLED":
        data["cancelationReason"] = {"text": row.get("cancel_reason") or "cancelled"}
    elif status == "RESCHEDULED":
        data["cancelationReason"] = {"text": "rescheduled"}
    return _validated(Appointment, data)


def patient(row: dict[str, Any], *, hospital_code: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(row["id"]),
        "meta": {"lastUpdated": _iso(row.get("updated_at"))},
        "identifier": [{"use": "usual", "system": f"urn:opdq:{hospital_code}:uhid",
                        "value": row["uhid"]}],
        "active": True,
        "name": [{"text": row["name"]}],
        "telecom": [{"system": "phone", "value": row["phone"], "use": "mobile"}],
        "gender": GENDER.get(row.get("gender") or ""),
        "birthDate": _iso(row.get("date_of_birth")),
        "communication": [{"language": {"coding": [{"system": BCP47,
                                                    "code": row.get("language") or "en"}]},
                           "preferred": True}],
    }
    return _validated(Patient, data)


def searchset(resources: list[dict[str, Any]], *, self_url: str, base_url: str
              ) -> dict[str, Any]:
    return _validated(Bundle, {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [{"fullUrl": f"{base_url}/fhir/r4/{r['resourceType']}/{r['id']}",
                   "resource": r, "search": {"mode": "match"}} for r in resources],
    })


def outcome(status: int, diagnostics: str) -> dict[str, Any]:
    return _validated(OperationOutcome, {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": OUTCOME_CODES.get(status, "exception"),
                   "diagnostics": diagnostics}],
    })


def capability_statement(*, base_url: str, software_version: str, now: datetime
                         ) -> dict[str, Any]:
    return _validated(CapabilityStatement, {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.isoformat(),
        "publisher": "opdq",
        "kind": "instance",
        "software": {"name": "opdq", "version": software_version},
        "implementation": {"description": "OPD live token queue: read-only FHIR R4 API",
                           "url": f"{base_url}/fhir/r4"},
        "fhirVersion": FHIR_VERSION,
        "format": [MEDIA_TYPE],
        "rest": [{
            "mode": "server",
            "security": {"description": (
                "`Authorization: Bearer <token>`: a staff session token or an API key "
                "(ak_...) of the hospital whose records are read.")},
            "resource": [
                {"type": "Appointment",
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{
                     "name": "date", "type": "date",
                     "documentation": "The hospital-local day of the visit (YYYY-MM-DD, "
                                      "optionally prefixed `eq`); required."}]},
                {"type": "Patient", "interaction": [{"code": "read"}]},
            ],
        }],
    })
