"""Filling freed slots: when a booked token is cancelled, rescheduled or missed, offer its
slot to the department's waitlist; the first offeree to accept gets it.

A slot is offered to OFFER_FANOUT entries at a time (default 1: the best match), for the
hospital's offer window (outreach policy, 30 min by default, never past the slot); an offer
declined or lapsed passes the slot to the next entry (workers/outreach.py, every minute).
Every offer is recorded in waitlist_offers, so an entry is offered one slot once.
Acceptance is atomic: the freed token's row is locked, the offer is claimed by a conditional
UPDATE, and the new BOOKED token is issued (through QueueService.issue, on its own
connection) before that lock is released; a second acceptance waits on the lock, then finds
the slot taken and gets 409.

Offer codes are not stored: `<entry id + slot token id, base64url>.<HMAC>` under the server
secret, so a code names exactly one offer of one slot and cannot be forged or guessed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server.db import waitlist as wl_db
from server.errors import Conflict, InvalidInput, NotFound
from server.queue import Actor, QueueService

OFFER_FANOUT = 1
OFFER_TTL = timedelta(minutes=30)
MIN_OFFER_WINDOW = timedelta(minutes=10)
LATE_GRACE = timedelta(minutes=30)
"""A slot is still worth offering until 30 min past its time (the doctor is still there)."""
MAC_CHARS = 16
OFFER_INVALID = "this offer link is not valid"


@dataclass(frozen=True)
class Offer:
    entry_id: UUID
    patient_id: UUID
    token_id: UUID
    code: str
    expires_at: datetime


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, f"waitlist|{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def offer_code(secret: bytes, entry_id: UUID, token_id: UUID) -> str:
    payload = base64.urlsafe_b64encode(entry_id.bytes + token_id.bytes).decode().rstrip("=")
    return f"{payload}.{_mac(secret, payload)}"


def parse_offer_code(secret: bytes, code: str) -> tuple[UUID, UUID] | None:
    """(entry id, slot token id) of a genuine code, else None."""
    if len(code) > 80 or "." not in code:
        return None
    payload, _, mac = code.rpartition(".")
    # as bytes: compare_digest raises TypeError on a non-ASCII str
    if not hmac.compare_digest(_mac(secret, payload).encode(),
                               mac.encode("utf-8", "backslashreplace")):
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except ValueError:
        return None
    if len(raw) != 32:
        return None
    return UUID(bytes=raw[:16]), UUID(bytes=raw[16:])


def offer_url(base_url: str, code: str) -> str:
    """The link an offer SMS carries (the page there POSTs .../public/waitlist/<code>/accept)."""
    return f"{base_url}/w/{code}"


def offer_window(now: datetime, slot: datetime, ttl: timedelta = OFFER_TTL) -> datetime:
    """Until the slot (at most ttl away), never less than MIN_OFFER_WINDOW."""
    return max(now + MIN_OFFER_WINDOW, min(now + ttl, slot))


def freed(slot: dict[str, Any], now: datetime) -> bool:
    """A booked slot that was cancelled or missed before check-in, still in the future
    (or only just past)."""
    return (slot["booking_type"] == "ONLINE" and slot["scheduled_time"] is not None
            and slot["status"] in ("CANCELLED", "NO_SHOW", "RESCHEDULED")
            and slot["freed_from"] == "BOOKED"
            and slot["scheduled_time"] + LATE_GRACE > now)


# ------------------------------------------------------------------------------ use-cases
async def add(pool: asyncpg.Pool, hospital_id: UUID, *, patient_id: UUID, department_id: UUID,
              preferred_doctor_id: UUID | None, desired_date: date, today: date,
              urgency: int = 0) -> dict[str, Any]:
    if desired_date < today:
        raise InvalidInput.field("desired_date", "is in a past day")
    async with pool.acquire() as conn, conn.transaction():
        await _check_refs(conn, hospital_id, patient_id, department_id, preferred_doctor_id)
        if await wl_db.open_entry_exists(conn, hospital_id, department_id, patient_id,
                                         desired_date):
            raise Conflict("the patient is already on this department's waitlist for that day")
        entry_id = await wl_db.insert_entry(
            conn, hospital_id=hospital_id, department_id=department_id, patient_id=patient_id,
            preferred_doctor_id=preferred_doctor_id, desired_date=desired_date, urgency=urgency)
        row = await wl_db.entry(conn, hospital_id, entry_id)
    assert row
    return row


async def update(pool: asyncpg.Pool, hospital_id: UUID, entry_id: UUID,
                 changes: dict[str, Any], today: date) -> dict[str, Any]:
    """Staff manage an entry: take it off the list (CANCELLED), put it back (WAITING), change
    its urgency, preferred doctor or day. An entry with an open offer keeps it."""
    async with pool.acquire() as conn, conn.transaction():
        row = await wl_db.entry(conn, hospital_id, entry_id)
        if not row:
            raise NotFound("no such waitlist entry")
        if row["status"] == "ACCEPTED":
            raise Conflict("this entry already has its slot")
        if changes.get("desired_date") and changes["desired_date"] < today:
            raise InvalidInput.field("desired_date", "is in a past day")
        if "preferred_doctor_id" in changes:
            await _check_refs(conn, hospital_id, row["patient_id"], row["department_id"],
                              changes["preferred_doctor_id"])
        if changes.get("status") == "WAITING" and row["status"] == "OFFERED":
            changes = {k: v for k, v in changes.items() if k != "status"}
        await wl_db.update_entry(conn, hospital_id, entry_id, changes)
        new = await wl_db.entry(conn, hospital_id, entry_id)
    assert new
    return new


async def _check_refs(conn: asyncpg.Connection, h: UUID, patient_id: UUID, department_id: UUID,
                      doctor_id: UUID | None) -> None:
    """Every id must belong to the caller's hospital: 422 naming the field, never a 500."""
    if not await conn.fetchval("SELECT 1 FROM patients WHERE hospital_id = $1 AND id = $2",
                               h, patient_id):
        raise InvalidInput.field("patient_id", "no such patient")
    if not await conn.fetchval("SELECT 1 FROM departments WHERE hospital_id = $1 AND id = $2",
                               h, department_id):
        raise InvalidInput.field("department_id", "no such department")
    if doctor_id and not await conn.fetchval(
            "SELECT 1 FROM doctors WHERE hospital_id = $1 AND id = $2 AND department_id = $3",
            h, doctor_id, department_id):
        raise InvalidInput.field("preferred_doctor_id", "no such doctor in that department")


async def offer_slot(pool: asyncpg.Pool, token_id: UUID, now: datetime, secret: bytes,
                     fanout: int = OFFER_FANOUT, ttl: timedelta = OFFER_TTL) -> list[Offer]:
    """Offer a freed slot to the best waitlist entries; [] when there is nothing to offer
    or it has an open offer or a taker already (a re-run job changes nothing)."""
    async with pool.acquire() as conn, conn.transaction():
        slot = await wl_db.lock_slot(conn, token_id)
        if not slot or not freed(slot, now) or await wl_db.already_offered(conn, token_id):
            return []
        picked = await wl_db.candidates(
            conn, hospital_id=slot["hospital_id"], department_id=slot["department_id"],
            day=slot["service_date"], doctor_id=slot["doctor_id"],
            exclude_patient=slot["patient_id"], now=now, limit=fanout, token_id=token_id)
        if not picked:
            return []
        expires = offer_window(now, slot["scheduled_time"], ttl)
        await wl_db.mark_offered(conn, [c["id"] for c in picked], token_id, now, expires)
    return [Offer(c["id"], c["patient_id"], token_id, offer_code(secret, c["id"], token_id),
                  expires) for c in picked]


async def decline(pool: asyncpg.Pool, secret: bytes, code: str, now: datetime) -> UUID:
    """The patient does not want the slot: the offer closes (the next entry is offered the
    slot within a minute) and the entry stays on the list for another one. 404 for a bad
    code, 409 when the offer is no longer open."""
    parsed = parse_offer_code(secret, code)
    if not parsed:
        raise NotFound(OFFER_INVALID)
    entry_id, slot_id = parsed
    async with pool.acquire() as conn, conn.transaction():
        if not await wl_db.lock_slot(conn, slot_id):
            raise NotFound(OFFER_INVALID)
        if not await wl_db.close_offer(conn, entry_id, slot_id, "DECLINED", now):
            raise Conflict("this offer is no longer open")
    return slot_id


async def offer_view(pool: asyncpg.Pool, secret: bytes, code: str) -> dict[str, Any]:
    """What the /w/<code> page shows: the slot, the department, until when, the state."""
    parsed = parse_offer_code(secret, code)
    if not parsed:
        raise NotFound(OFFER_INVALID)
    info = await wl_db.offer_message_context(pool, *parsed)
    if not info:
        raise NotFound(OFFER_INVALID)
    return info


async def accept(svc: QueueService, secret: bytes, code: str) -> dict[str, Any]:
    """Accept an offer: the new BOOKED token's row; 404 for a bad code, 409 when the slot is
    taken or the offer has lapsed."""
    parsed = parse_offer_code(secret, code)
    if not parsed:
        raise NotFound(OFFER_INVALID)
    entry_id, slot_id = parsed
    async with svc.pool.acquire() as conn, conn.transaction():
        slot = await wl_db.lock_slot(conn, slot_id)
        if not slot:
            raise NotFound(OFFER_INVALID)
        if await wl_db.slot_taken(conn, slot_id):
            raise Conflict("this slot has already been taken by another patient")
        claimed = await wl_db.claim(conn, entry_id, slot_id, svc.now())
        if not claimed:
            raise Conflict("this offer is no longer open")
        # issued while the slot's row stays locked: a second acceptance cannot slip in, and a
        # failed issue rolls the claim back
        row = await svc.issue(
            slot["hospital_id"], Actor("patient"), patient_id=claimed["patient_id"],
            booking_type="ONLINE", priority=1, doctor_id=slot["doctor_id"],
            department_id=slot["department_id"], scheduled_time=slot["scheduled_time"],
            visit_reason="slot from the waitlist")
        await wl_db.release_others(conn, slot_id, entry_id)
    return row
