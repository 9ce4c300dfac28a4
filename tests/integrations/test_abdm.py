"""ABDM Scan & Share against a local fake gateway, real PostgreSQL and Redis: a share
registers or finds the patient, issues a walk-in token of the counter's department, and the
on-share callback carries its number; a retried share answers the same token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from server.app import create_app
from tests.conftest import Services
from tests.integrations.conftest import integration_settings
from tests.integrations.fake_abdm import FakeGateway
from tests.queue.conftest import World

SHARE = "/api/v1/abdm/v1.0/patients/profile/share"
GATEWAY = {"Authorization": "Bearer gw-secret"}


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    g = FakeGateway()
    await g.start()
    yield g
    await g.stop()


@pytest.fixture
async def abdm_client(services: Services, pool: asyncpg.Pool, world: World,
                      gateway: FakeGateway) -> AsyncIterator[httpx.AsyncClient]:
    settings = integration_settings(
        services, abdm_gateway_url=gateway.url, abdm_gateway_token="gw-secret",
        abdm_hip_token="hip-secret", abdm_counters={"HIP-CITY/OPD-1": "CITY/CARD"})
    app = create_app(settings)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


def share(request_id: str, patient: dict[str, Any], counter: str = "OPD-1") -> dict[str, Any]:
    """The v1.0 shape (healthId, hipCode); the newer names are read too."""
    return {"requestId": request_id, "timestamp": "2026-11-26T04:50:00.000Z",
            "profile": {"hipCode": "HIP-CITY", "context": counter, "patient": patient}}


ASHA = {"healthId": "asha.rao@sbx", "healthIdNumber": "91-1234-5678-9012", "name": "Asha Rao",
        "gender": "F", "yearOfBirth": 1980,
        "identifiers": [{"type": "MOBILE", "value": "9812345678"}]}


async def test_a_share_gets_a_walk_in_token_and_a_retry_the_same(
        abdm_client: httpx.AsyncClient, gateway: FakeGateway, pool: asyncpg.Pool,
        world: World) -> None:
    r = await abdm_client.post(SHARE, json=share("req-1", ASHA))
    assert r.status_code == 401                 # not the gateway
    r = await abdm_client.post(SHARE, json=share("req-1", ASHA), headers=GATEWAY)
    assert r.status_code == 202, r.text
    number = r.json()["acknowledgement"]["tokenNumber"]
    assert number.startswith("CARD-")
    [callback] = await gateway.wait_for(1)
    headers, _ = gateway.callbacks[0]
    assert headers["Authorization"] == "Bearer hip-secret"
    assert callback["resp"] == {"requestId": "req-1"}
    assert callback["acknowledgement"]["tokenNumber"] == number
    assert callback["acknowledgement"]["status"] == "SUCCESS" and callback["error"] is None
    patient = await pool.fetchrow(
        "SELECT * FROM patients WHERE hospital_id = $1 AND abha_number = '91123456789012'",
        world.hospital_id)
    assert (patient["name"], patient["phone"], patient["gender"], patient["abha_address"]) == (
        "Asha Rao", "+919812345678", "F", "asha.rao@sbx")
    token = await pool.fetchrow("SELECT * FROM tokens WHERE patient_id = $1", patient["id"])
    assert (token["number"], token["booking_type"], token["department_id"]) == (
        number, "WALK_IN", world.department_id)

    # the gateway retries the same request: the same token, nothing new
    r = await abdm_client.post(SHARE, json=share("req-1", ASHA), headers=GATEWAY)
    assert r.json()["acknowledgement"]["tokenNumber"] == number
    # scanning again (a new request) finds the patient by ABHA and answers the token they hold
    again = {**ASHA, "identifiers": []}
    r = await abdm_client.post(SHARE, json=share("req-2", again), headers=GATEWAY)
    assert r.json()["acknowledgement"]["tokenNumber"] == number
    bodies = await gateway.wait_for(3)
    assert [b["acknowledgement"]["tokenNumber"] for b in bodies] == [number] * 3
    assert await pool.fetchval("SELECT count(*) FROM tokens WHERE patient_id = $1",
                               patient["id"]) == 1
    assert await pool.fetchval("SELECT count(*) FROM patients WHERE hospital_id = $1 AND "
                               "name = 'Asha Rao'", world.hospital_id) == 1


async def test_a_desk_patient_is_found_by_phone_and_name(
        abdm_client: httpx.AsyncClient, gateway: FakeGateway, pool: asyncpg.Pool,
        world: World) -> None:
    gateway.fail_next = 1                       # the first callback is refused, then retried
    # the newer field names: metaData.hipId / context, abhaAddress, abhaNumber, phoneNumber
    body = {"requestId": "req-9", "metaData": {"hipId": "HIP-CITY", "context": "OPD-1"},
            "profile": {"patient": {"abhaAddress": "p3@abdm", "abhaNumber": "12345678901234",
                                    "name": "patient3  KUMAR", "gender": "M",
                                    "phoneNumber": "+91 98765 00003"}}}
    r = await abdm_client.post(SHARE, json=body, headers=GATEWAY)
    assert r.status_code == 202, r.text
    [callback] = await gateway.wait_for(1)
    number = callback["acknowledgement"]["tokenNumber"]
    row = await pool.fetchrow(
        """SELECT p.abha_address, p.abha_number, t.number FROM patients p
           JOIN tokens t ON t.patient_id = p.id WHERE p.id = $1""", world.patients[3])
    assert dict(row) == {"abha_address": "p3@abdm", "abha_number": "12345678901234",
                         "number": number}


async def test_an_unknown_counter_is_answered_with_an_error(
        abdm_client: httpx.AsyncClient, gateway: FakeGateway, pool: asyncpg.Pool) -> None:
    r = await abdm_client.post(SHARE, json=share("req-x", ASHA, counter="NOWHERE"),
                               headers={"Authorization": "Bearer gw-secret"})
    assert r.status_code == 202
    [callback] = await gateway.wait_for(1)
    assert callback["acknowledgement"] is None
    assert callback["error"]["message"] == "unknown HIP or counter"
    assert await pool.fetchval("SELECT count(*) FROM abdm_shares") == 0
    r = await abdm_client.post(SHARE, json={"requestId": "req-y"}, headers=GATEWAY)
    assert r.status_code == 422


async def test_off_unless_configured(client: httpx.AsyncClient) -> None:
    r = await client.post(SHARE, json=share("req-1", ASHA), headers=GATEWAY)
    assert r.status_code == 404
