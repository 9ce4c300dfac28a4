"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document describing every /api/v1 route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from server import openapi
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
    # and nothing is described that the app does not serve
    assert sorted(described - ops) == []


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
                         "reschedule", "transfer", "priority"}
    query = doc["paths"]["/api/v1/patients"]["get"]["parameters"]
    assert {p["name"] for p in query} == {"phone", "uhid"}


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
