"""ABDM Scan & Share: a patient scans the counter's QR in an ABHA app, the ABDM gateway sends
us their profile, we answer with a walk-in token number.

The gateway calls `<bridge URL>/v1.0/patients/profile/share` (the route in
server/routes/abdm.py); we answer 202 at once and send the result to the gateway's
`/v1.0/patients/profile/on-share`, whose acknowledgement carries `tokenNumber`. The shapes
are written from memory of ABDM's v1.0/v3 HIP API (the specification is not reachable from
here): both the older field names (healthId, healthIdNumber, hipCode) and the newer ones
(abhaAddress, abhaNumber, metaData.hipId, metaData.context) are read. Check them against the
sandbox before going live (docs/integrations.md).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import structlog
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from server.db import patients as patients_db
from server.domain.names import search_key
from server.errors import DuplicateToken, InvalidInput
from server.queue import Actor, QueueService
from server.settings import Settings

log = structlog.get_logger("abdm")

SHARE_PATH = "/v1.0/patients/profile/share"
ON_SHARE_PATH = "/v1.0/patients/profile/on-share"
CALLBACK_ATTEMPTS = 4
CALLBACK_BACKOFF_S = 0.5
UHID_ATTEMPTS = 20
GENDERS = {"M": "M", "F": "F", "O": "O", "U": "U", "MALE": "M", "FEMALE": "F", "OTHER": "O"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Identifier(_Lenient):
    type: str = ""
    value: str = ""


class SharedPatient(_Lenient):
    abha_address: str | None = Field(
        None, validation_alias=AliasChoices("abhaAddress", "healthId"), max_length=100)
    abha_number: str | None = Field(
        None, validation_alias=AliasChoices("abhaNumber", "healthIdNumber"), max_length=40)
    name: str = Field(min_length=1, max_length=200)
    gender: str | None = Field(None, max_length=10)
    year_of_birth: int | None = Field(None, validation_alias="yearOfBirth", ge=1880, le=2200)
    month_of_birth: int | None = Field(None, validation_alias="monthOfBirth", ge=1, le=12)
    day_of_birth: int | None = Field(None, validation_alias="dayOfBirth", ge=1, le=31)
    phone: str | None = Field(
        None, validation_alias=AliasChoices("phoneNumber", "mobile"), max_length=20)
    identifiers: list[Identifier] = Field(default_factory=list, max_length=20)


class Profile(_Lenient):
    hip_code: str | None = Field(None, validation_alias=AliasChoices("hipCode", "hipId"),
                                 max_length=50)
    context: str | None = Field(None, max_length=50)        # the counter
    patient: SharedPatient


class MetaData(_Lenient):
    hip_id: str | None = Field(None, validation_alias=AliasChoices("hipId", "hipCode"),
                               max_length=50)
    context: str | None = Field(None, max_length=50)


class ShareRequest(_Lenient):
    """What the gateway posts to SHARE_PATH."""

    request_id: str = Field(validation_alias="requestId", min_length=1, max_length=100)
    timestamp: str | None = None
    metadata: MetaData | None = Field(None, validation_alias=AliasChoices("metaData", "metadata"))
    profile: Profile

    @property
    def hip_id(self) -> str | None:
        return (self.metadata and self.metadata.hip_id) or self.profile.hip_code

    @property
    def counter(self) -> str | None:
        return (self.metadata and self.metadata.context) or self.profile.context


@dataclass(frozen=True)
class Counter:
    hospital_code: str
    department_code: str


def enabled(settings: Settings) -> bool:
    return bool(settings.abdm_gateway_url and settings.abdm_gateway_token
                and settings.abdm_hip_token and settings.abdm_counters)


def gateway_allowed(settings: Settings, authorization: str | None) -> bool:
    """The gateway's bearer, compared in constant time."""
    expected = settings.abdm_gateway_token
    if expected is None or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[7:].encode(), expected.get_secret_value().encode())


def parse_share(body: Any) -> ShareRequest:
    try:
        return ShareRequest.model_validate(body)
    except ValidationError as e:
        raise InvalidInput("not an ABDM profile share", errors=[
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in e.errors()[:10]]) from None


def counter_of(settings: Settings, share: ShareRequest) -> Counter | None:
    """The department behind the scanned QR: "<hip>/<counter>" first, then "<hip>"."""
    hip = share.hip_id or ""
    keys = [f"{hip}/{share.counter}"] if share.counter else []
    for key in [*keys, hip]:
        if (target := settings.abdm_counters.get(key)) and "/" in target:
            hospital, department = target.split("/", 1)
            return Counter(hospital, department)
    return None


def e164(phone: str | None) -> str | None:
    """ABDM's mobile numbers are Indian 10-digit numbers, sometimes with +91 or 0."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 12 and digits.startswith("91"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    return f"+91{digits}" if re.fullmatch(r"[6-9][0-9]{9}", digits) else None


def phone_of(p: SharedPatient) -> str | None:
    mobiles = [i.value for i in p.identifiers if i.type.upper() in ("MOBILE", "PHONE")]
    return e164(p.phone) or next((n for m in mobiles if (n := e164(m))), None)


def abha_number(p: SharedPatient) -> str | None:
    digits = re.sub(r"\D", "", p.abha_number or "")
    return digits if len(digits) == 14 else None


def birth_date(p: SharedPatient) -> date | None:
    """Only a whole date: a year alone is not made into a birthday."""
    if p.year_of_birth and p.month_of_birth and p.day_of_birth:
        try:
            return date(p.year_of_birth, p.month_of_birth, p.day_of_birth)
        except ValueError:
            return None
    return None


async def _find_patient(conn: asyncpg.Connection, h: UUID, p: SharedPatient,
                        phone: str | None) -> UUID | None:
    number, address = abha_number(p), (p.abha_address or None)
    found = await conn.fetchval(
        """SELECT id FROM patients WHERE hospital_id = $1
             AND ((abha_number IS NOT NULL AND abha_number = $2)
               OR (abha_address IS NOT NULL AND lower(abha_address) = lower($3)))
           ORDER BY created_at LIMIT 1""", h, number, address)
    if found is None and phone:
        # registered at the desk before: the same phone and the same name
        key = search_key(p.name)
        rows = await conn.fetch("""SELECT id, name FROM patients WHERE hospital_id = $1
                                   AND phone = $2 ORDER BY created_at""", h, phone)
        found = next((r["id"] for r in rows if search_key(r["name"]) == key), None)
    if found is not None:
        # remember the ABHA for the next scan (unless another record of ours holds it)
        try:
            async with conn.transaction():
                await conn.execute(
                    """UPDATE patients SET abha_number = coalesce(abha_number, $3),
                              abha_address = coalesce(abha_address, $4), updated_at = now()
                       WHERE hospital_id = $1 AND id = $2""", h, found, number, address)
        except asyncpg.UniqueViolationError:
            pass
    return found


async def _register(conn: asyncpg.Connection, h: UUID, p: SharedPatient, phone: str) -> UUID:
    fields: dict[str, Any] = {"name": p.name.strip(), "phone": phone,
                              "gender": GENDERS.get((p.gender or "").upper()),
                              "date_of_birth": birth_date(p), "abha_number": abha_number(p),
                              "abha_address": p.abha_address or None}
    fields = {k: v for k, v in fields.items() if v is not None}
    first = int((await patients_db.next_uhid(conn, h))[2:])
    for attempt in range(UHID_ATTEMPTS):
        try:
            async with conn.transaction():
                row = await patients_db.create(conn, h, uhid=f"UH{first + attempt:06d}",
                                               **fields)
            return UUID(str(row["id"]))
        except asyncpg.UniqueViolationError:
            continue
    raise RuntimeError("no free UHID")


async def share(pool: asyncpg.Pool, queue: QueueService, settings: Settings,
                req: ShareRequest) -> dict[str, Any]:
    """Find or register the patient and issue their walk-in token; the same request id
    always answers the same token. Returns the on-share acknowledgement (or error)."""
    counter = counter_of(settings, req)
    if counter is None:
        return {"error": {"code": 1404, "message": "unknown HIP or counter"}}
    async with pool.acquire() as lock:
        # one share per request id at a time: a retry waits for the first, then reads it
        await lock.execute("SELECT pg_advisory_lock(hashtextextended($1, 20))", req.request_id)
        try:
            return await _share_locked(pool, queue, counter, req)
        finally:
            try:
                await lock.execute("SELECT pg_advisory_unlock(hashtextextended($1, 20))",
                                   req.request_id)
            except BaseException:
                lock.terminate()  # never back to the pool holding the session lock (db.pool)
                raise


async def _share_locked(pool: asyncpg.Pool, queue: QueueService, counter: Counter,
                        req: ShareRequest) -> dict[str, Any]:
    done = await pool.fetchrow(
        """SELECT t.number FROM abdm_shares s JOIN tokens t ON t.id = s.token_id
           WHERE s.request_id = $1""", req.request_id)
    if done is not None:
        return _ack(req, done["number"])
    place = await pool.fetchrow(
        """SELECT h.id AS hospital_id, d.id AS department_id FROM hospitals h
           JOIN departments d ON d.hospital_id = h.id AND d.code = $2 WHERE h.code = $1""",
        counter.hospital_code, counter.department_code)
    if place is None:
        return {"error": {"code": 1404, "message": "the counter's department is not set up"}}
    h = place["hospital_id"]
    patient = req.profile.patient
    phone = phone_of(patient)
    async with pool.acquire() as conn, conn.transaction():
        pid = await _find_patient(conn, h, patient, phone)
        if pid is None:
            if phone is None:
                return {"error": {"code": 1422, "message": "a mobile number is needed"}}
            pid = await _register(conn, h, patient, phone)
    try:
        token = await queue.issue(h, Actor("system"), patient_id=pid, booking_type="WALK_IN",
                                  priority=1, doctor_id=None,
                                  department_id=place["department_id"], scheduled_time=None,
                                  visit_reason="ABDM Scan & Share")
        token_id = token["id"]
    except DuplicateToken as dup:
        token_id = dup.existing_token_id    # already holds today's token: answer that one
    await pool.execute(
        """INSERT INTO abdm_shares (request_id, hospital_id, patient_id, token_id)
           VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING""",
        req.request_id, h, pid, token_id)
    number = await pool.fetchval("SELECT number FROM tokens WHERE id = $1", token_id)
    log.info("abdm share answered", hospital_id=str(h), token_id=str(token_id))
    return _ack(req, number)


def _ack(req: ShareRequest, number: str) -> dict[str, Any]:
    return {"acknowledgement": {
        "status": "SUCCESS", "healthId": req.profile.patient.abha_address,
        "abhaAddress": req.profile.patient.abha_address, "tokenNumber": number,
        "context": req.counter}}


def on_share_body(req: ShareRequest, outcome: dict[str, Any]) -> dict[str, Any]:
    return {"requestId": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "acknowledgement": outcome.get("acknowledgement"),
            "error": outcome.get("error"),
            "resp": {"requestId": req.request_id}}


async def send_on_share(settings: Settings, body: dict[str, Any]) -> bool:
    """POST the result to the gateway, retried a few times; never raises."""
    assert settings.abdm_gateway_url is not None and settings.abdm_hip_token is not None
    url = str(settings.abdm_gateway_url).rstrip("/") + ON_SHARE_PATH
    headers = {"Authorization": f"Bearer {settings.abdm_hip_token.get_secret_value()}",
               "X-CM-ID": settings.abdm_cm_id, "REQUEST-ID": body["requestId"],
               "TIMESTAMP": body["timestamp"]}
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        for attempt in range(CALLBACK_ATTEMPTS):
            try:
                r = await client.post(url, json=body, headers=headers)
                if r.status_code < 300:
                    return True
                log.warning("abdm on-share refused", status=r.status_code, attempt=attempt)
            except httpx.HTTPError as e:
                log.warning("abdm on-share failed", error=type(e).__name__, attempt=attempt)
            await asyncio.sleep(CALLBACK_BACKOFF_S * 2 ** attempt)
    return False
