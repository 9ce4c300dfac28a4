"""Who sees what of an event: one class per kind of websocket (board, doctor console, desk,
patient phone, admin alert strip), filed by the hub (server.realtime.Hub) under its
department or doctor and turning each event into the message that client gets, or None.

A board sees its department (names already masked in the events), a doctor console its
doctor's queue, a patient their own token, reshaped to the public view and sent only when its
status, position or ETA (by a minute) changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from server.auth import token_rules
from server.domain.eta import Eta, should_push
from server.views import board_cabin_of_event
from server.ws_out import Outlet


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def encode(message: dict[str, Any]) -> str:
    """A live message's JSON text, compact (orjson): a phone's own message is encoded per
    socket, on every change of its queue (5.6 us with json.dumps, 0.7 here)."""
    return orjson.dumps(message).decode()


@dataclass(eq=False, slots=True)
class Subscriber:
    """One websocket. `accept` turns an event into the message this client gets, or None.
    Until it is `live` (its snapshot or replay sent), its messages are `held`."""

    hospital_id: str
    held_max: int = 256
    outlet: Outlet | None = None
    sent_seq: int = 0
    closed: bool = False
    live: bool = False
    held: list[tuple[int | None, str]] | None = field(default_factory=list)
    last_sent: float = field(default_factory=time.monotonic)
    # subscribers with the same audience get the same message of an event (accept depends on
    # the event and these fields only): the hub asks one of them; None: ask each
    audience: tuple[str, ...] | None = field(default=None, init=False)
    # the flock it is written with once caught up (server.flock), and its slot there
    flock: Any = field(default=None, init=False, repr=False)
    flock_slot: int = field(default=-1, init=False, repr=False)

    kind = "base"

    def routes(self) -> tuple[str, str]:
        """(index, id) this subscriber is filed under in the hub: department or doctor."""
        raise NotImplementedError

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        raise NotImplementedError


def department_of(data: dict[str, Any]) -> str | None:
    token = data.get("token") or {}
    return data.get("department_id") or token.get("department_id")


@dataclass(eq=False, slots=True)
class BoardSubscriber(Subscriber):
    department_id: str = ""
    display_key_id: str | None = None
    names: bool = True  # False: the department's boards show no names (views.board_shows_names)
    kind = "board"

    def __post_init__(self) -> None:
        self.audience = ("board", self.department_id, "names" if self.names else "")

    def routes(self) -> tuple[str, str]:
        return ("department", self.department_id)

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        # events reach boards already masked: the live token JSON holds display names only
        if department_of(event.get("data") or {}) != self.department_id:
            return None
        etype = event.get("type")
        if etype == "token.updated":
            return None  # the queue.updated that follows every change carries it
        if etype == "queue.updated":
            return board_queue_message(event, self.names)
        if not self.names and (event.get("data") or {}).get("token"):
            return _nameless(event)
        return raw


def _nameless(event: dict[str, Any]) -> str:
    """An event whose token is shown without its masked name (encoded once per event)."""
    cached = event.get("_nameless")
    if cached is None:
        data = event.get("data") or {}
        public = {k: v for k, v in event.items() if not k.startswith("_")}
        cached = encode({**public, "data": {
            **data, "token": {**data["token"], "display_name": ""}}})
        event["_nameless"] = cached
    return cached  # type: ignore[no-any-return]


def waiting_by_id(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A queue.updated's waiting entries by token id, built once per event for every patient
    socket of that queue (not a scan of the queue per socket)."""
    index = event.get("_waiting")
    if index is None:
        index = {e.get("id"): e for e in (event.get("data") or {}).get("waiting") or []}
        event["_waiting"] = index
    return index  # type: ignore[no-any-return]


def board_queue_message(event: dict[str, Any], names: bool = True) -> str:
    """A board needs one cabin of its department, not the whole queue: the queue.updated's
    data reshaped to the board snapshot's cabin (views.board_cabin), encoded once per event
    (and per names shown or not), then shared by every board of the department: the same
    shape as a cabin of the board snapshot, nothing more."""
    cache = "_board" if names else "_board_nameless"
    cached = event.get(cache)
    if cached is None:
        data = event.get("data") or {}
        cabin = board_cabin_of_event(data, names)
        public = {k: v for k, v in event.items() if not k.startswith("_")}  # not the caches
        cached = encode({**public, "data": {
            "doctor_id": data.get("doctor_id"), "department_id": data.get("department_id"),
            **cabin}})
        event[cache] = cached
    return cached  # type: ignore[no-any-return]


@dataclass(eq=False, slots=True)
class DoctorSubscriber(Subscriber):
    doctor_id: str = ""
    kind = "doctor"

    def __post_init__(self) -> None:
        self.audience = ("doctor", self.doctor_id)

    def routes(self) -> tuple[str, str]:
        return ("doctor", self.doctor_id)

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        data = event.get("data") or {}
        return raw if self.doctor_id in (data.get("doctor_id"), data.get("from_doctor_id")) \
            else None


DESK_EVENTS = frozenset({"token.created", "token.updated", "token.called", "queue.updated",
                         "doctor.status"})


@dataclass(eq=False, slots=True)
class DeskSubscriber(Subscriber):
    """The reception desk's list of the day: every token event of the hospital (or of one
    department). Events carry masked names only; the desk's full rows come from the API."""

    department_id: str | None = None
    kind = "desk"

    def __post_init__(self) -> None:
        self.audience = ("desk", self.department_id or "")

    def routes(self) -> tuple[str, str]:
        return ("desk", "")

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        if event.get("type") not in DESK_EVENTS:
            return None
        if self.department_id and department_of(event.get("data") or {}) != self.department_id:
            return None
        return raw


@dataclass(eq=False, slots=True)
class TokenSubscriber(Subscriber):
    """A patient's phone: only their token, as the public view (no other patient's data)."""

    token_id: str = ""
    doctor_id: str = ""
    view: dict[str, Any] = field(default_factory=dict)
    kind = "token"
    on_move: Callable[[TokenSubscriber, str], None] | None = None

    def routes(self) -> tuple[str, str]:
        return ("doctor", self.doctor_id)

    def _message(self, etype: str, seq: int, data: dict[str, Any]) -> str:
        return encode({"type": etype, "seq": seq, "ts": now_iso(), "data": data})

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        data, etype, seq = event.get("data") or {}, event.get("type"), event.get("seq", 0)
        token = data.get("token") or {}
        if token.get("id") == self.token_id:
            moved_to = data.get("doctor_id")
            if moved_to and moved_to != self.doctor_id and self.on_move:
                self.on_move(self, moved_to)
                self.view["moved_from_doctor"] = (data.get("from_doctor_name")
                                                  or self.view.get("doctor_name"))
                self.view["doctor_name"] = data.get("doctor_name")
            self.view["status"] = token.get("status", self.view.get("status"))
            if token.get("cabin"):
                self.view["cabin"] = token["cabin"]
            if self.view["status"] != "WAITING":
                self.view["position"] = None
                self.view["eta"] = None
            self.view["can_check_in"] = self.view["status"] == "BOOKED"
            if "late_count" in token:
                self.view["late_count"] = token["late_count"]
            day = date.fromisoformat(self.view["service_date"])  # a live link is of today
            self.view["allowed_actions"] = token_rules.patient_actions(
                {"status": self.view["status"], "service_date": day,
                 "late_count": self.view.get("late_count", 0)}, day)
            if token.get("called_at"):
                self.view["called_at"] = token["called_at"]
            if data.get("note"):
                self.view["note"] = data["note"]
            if etype == "token.called":
                doctor = data.get("doctor") or {}
                return self._message("token.called", seq, {
                    "number": token.get("number", self.view.get("number")),
                    "cabin": data.get("cabin") or self.view.get("cabin"),
                    "doctor_name": doctor.get("name") or self.view.get("doctor_name"),
                    "recall": bool(data.get("recall")),
                })
            return self._message("token.updated", seq, dict(self.view))
        if etype == "queue.updated" and data.get("doctor_id") == self.doctor_id:
            entry = waiting_by_id(event).get(self.token_id)
            if entry is not None:
                eta = entry.get("eta") or {}
                new = Eta(int(eta.get("p50_min", 0)), int(eta.get("p90_min", 0)),
                          int(eta.get("p10_min", 0)))
                old_view = self.view.get("eta")
                old = Eta(old_view["p50_min"], old_view["p90_min"],
                          old_view.get("p10_min") or 0) if old_view else None
                if not should_push(old, new, self.view.get("position"), entry.get("position")):
                    return None
                self.view["position"] = entry.get("position")
                self.view["eta"] = {"p10_min": new.p10_min, "p50_min": new.p50_min,
                                    "p90_min": new.p90_min, "updated_at": event.get("ts")}
                return self._message("token.updated", seq, dict(self.view))
        return None


ADMIN_ONLY_ALERTS = frozenset({"LOGIN_THROTTLED"})


@dataclass(eq=False, slots=True)
class AdminSubscriber(Subscriber):
    """The admin page's alert strip: alert.raised / alert.resolved of the hospital; a nurse's
    socket only those of their department and the hospital-wide ones."""

    department_id: str | None = None   # a nurse's department; None for an admin
    kind = "admin"

    def __post_init__(self) -> None:
        self.audience = ("admin", self.department_id or "")

    def routes(self) -> tuple[str, str]:
        return ("admin", "")

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        if not str(event.get("type", "")).startswith("alert."):
            return None
        alert = (event.get("data") or {}).get("alert") or {}
        if self.department_id is not None and (
                alert.get("kind") in ADMIN_ONLY_ALERTS
                or alert.get("department_id") not in (None, self.department_id)):
            return None
        return raw
