"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document describing every /api/v1 route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from server import openapi
from server.models import dates
from server.models import queue as q

URL = "/api/v1/openapi.json"


@pytest.fixture
async def doc(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get(URL)          # no login needed
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return dict(r.json())


def app_operations(app: Any) -> set[tuple[str, str]]:
    return {(method, route.path) for route in app.routes
            if isinstance(route, Route) and route.path.startswith("/api/v1/")
            for method in (route.methods or set()) - {"HEAD"}}


async def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "http://testserver"}]
    validate(doc)


async def test_every_api_route_of_the_app_is_described(app: Any, doc: dict[str, Any]) -> None:
    ops = app_operations(app)
    assert ("GET", URL) in ops and ("POST", "/api/v1/tokens/{token_id}/{action}") in ops
    described = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    assert sorted(ops - described) == []
    assert openapi.missing(app) == []
    # and nothing is described that the app does not serve: a concrete path (an action with a
    # body of its own) is served by the app's template
    routes = [r for r in app.routes if isinstance(r, Route)]
    served = {(m, path) for m, path in described - ops
              if any(m in (r.methods or ()) and r.path_regex.match(path) for r in routes)}
    assert served == {("POST", "/api/v1/tokens/{token_id}/transfer"),
                      ("POST", "/api/v1/tokens/{token_id}/priority")}
    assert sorted(described - ops - served) == []


async def test_request_bodies_are_the_models_the_routes_validate_with(
        doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]

    def body(path: str, method: str = "post") -> dict[str, Any]:
        ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        return dict(schemas[ref["$ref"].rsplit("/", 1)[1]])

    for path, model in (("/api/v1/patients", q.PatientCreate), ("/api/v1/tokens", q.TokenCreate),
                        ("/api/v1/doctors/{doctor_id}/leave", q.LeaveBody),
                        ("/api/v1/public/tokens/{code}/check-in", q.GeoBody)):
        got = body(path)
        assert set(got["properties"]) == set(model.model_fields), path
        assert set(got.get("required", [])) == {
            name for name, f in model.model_fields.items() if f.is_required()}, path
    assert set(body("/api/v1/tokens")["required"]) == {"patient_id", "booking_type"}
    assert body("/api/v1/tokens")["additionalProperties"] is False
    actions = doc["paths"]["/api/v1/tokens/{token_id}/{action}"]["post"]
    enum = next(p for p in actions["parameters"] if p["name"] == "action")["schema"]["enum"]
    assert set(enum) == {"check-in", "start", "complete", "recall", "skip", "no-show", "cancel",
                         "reschedule", "reinstate"}
    # the actions with a body of their own, each at its own path with that body
    for action, model in (("transfer", q.TransferBody), ("priority", q.PriorityBody)):
        got = body(f"/api/v1/tokens/{{token_id}}/{action}")
        assert set(got["required"]) == {n for n, f in model.model_fields.items()
                                        if f.is_required()}
    query = doc["paths"]["/api/v1/patients"]["get"]["parameters"]
    assert {p["name"] for p in query} == {"q", "phone", "uhid"}


@pytest.mark.parametrize(("method", "path", "public"), [
    ("get", "/api/v1/public/tokens/{code}", True),
    ("post", "/api/v1/auth/login", True),
    ("get", "/api/v1/openapi.json", True),
    ("get", "/api/v1/tokens/{token_id}", False),
    ("post", "/api/v1/doctors/{doctor_id}/leave", False),
])
async def test_auth_and_errors_are_described(doc: dict[str, Any], method: str, path: str,
                                             public: bool) -> None:
    op = doc["paths"][path][method]
    assert op["summary"] and op["description"] and op["responses"]
    assert (op.get("security") == []) is public
    if not public:
        assert {"401", "403"} <= set(op["responses"])
    for code, response in op["responses"].items():
        assert response["description"], code
        if code.startswith(("4", "5")):
            assert "application/problem+json" in response["content"]
    if "{" in path:
        params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert params and all("{" + p + "}" in path for p in params)
        assert "404" in op["responses"]


async def test_the_token_answer_is_described(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/api/v1/tokens"]["post"]
    ref = op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    token = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"id", "number", "status", "priority", "booking_type", "patient", "position", "eta",
            "risk", "patient_link"} <= set(token["properties"])


def _props(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(doc["components"]["schemas"][name]["properties"])


async def test_the_rules_a_client_can_know_are_stated(doc: dict[str, Any]) -> None:
    """What the models refuse, the document says, so a client built from it is not refused."""
    schemas = doc["components"]["schemas"]
    phone = _props(doc, "PatientCreate")["phone"]
    assert phone["pattern"] == "^\\+[1-9][0-9]{6,14}$" and phone["format"] == "phone"
    assert "libphonenumber" in phone["description"]
    # dates: a range as a pattern beside the format, and in words
    dob = _props(doc, "PatientCreate")["date_of_birth"]["anyOf"][0]
    assert dob["format"] == "date" and dob["pattern"].startswith("^(?:19")
    assert "1900-01-01 and today" in dob["description"]
    slot = _props(doc, "TokenCreate")["scheduled_time"]["anyOf"][0]
    assert slot["format"] == "date-time" and "180 days" in slot["description"]
    assert _props(doc, "LeaveBody")["start"]["pattern"].startswith("^20[0-9][0-9]-")
    assert _props(doc, "ShiftCreate")["start"]["pattern"].startswith("^(?:[01][0-9]|2[0-3])")
    # cross-field rules
    token = schemas["TokenCreate"]
    assert {"required": ["doctor_id"], "properties": {"doctor_id": {"type": "string"}}} in (
        token["allOf"][0]["anyOf"])
    assert token["allOf"][1]["if"] == {"properties": {"booking_type": {"const": "ONLINE"}}}
    assert schemas["UserCreate"]["allOf"] and schemas["UserPatch"]["dependentRequired"]
    # patches: at least one field, null only where a column may be empty
    assert schemas["DepartmentPatch"]["minProperties"] == 1
    assert _props(doc, "DepartmentPatch")["name"]["type"] == "string"
    assert {"type": "null"} in _props(doc, "DepartmentPatch")["daily_cap"]["anyOf"]
    # numbers and integers; text without control characters
    assert _props(doc, "PauseBody")["minutes"]["anyOf"][0] == {
        "type": "integer", "minimum": 1, "maximum": 600}
    assert _props(doc, "DepartmentCreate")["avg_consultation_min"]["type"] == "number"
    assert "\\x00-" in _props(doc, "PatientCreate")["name"]["pattern"]
    assert "\\x00-" in _props(doc, "LoginBody")["password"]["pattern"]
    # link codes
    params = doc["paths"]["/api/v1/public/tokens/{code}"]["get"]["parameters"]
    assert params[0]["schema"]["pattern"].startswith("^[A-Za-z0-9_-]")


async def test_bodies_may_be_refused_as_not_json(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                assert {"400", "413", "415", "422"} <= set(op["responses"]), (method, path)


def test_the_document_follows_the_day() -> None:
    """Ranges relative to today move with it: the document is built again the next day."""
    tomorrow = dates.key(datetime.now(UTC) + timedelta(days=1))
    assert dates.key() != tomorrow
    assert openapi.document() is openapi.document()
    assert openapi._document(tomorrow) is not openapi.document()
