"""The live alert rules (server/domain/alerts.py), on hand-made snapshots."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from server.domain import alerts as rules
from server.domain.alerts import Department, Doctor, Snapshot, Thresholds, WaitingToken

NOW = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
DEP = Department(uuid.UUID(int=1), "Cardiology")
A, B = uuid.UUID(int=11), uuid.UUID(int=12)


def doctor(id_: uuid.UUID, name: str, **kw: object) -> Doctor:
    base: dict[str, object] = {"on_shift": True, "shift_start": NOW - timedelta(hours=1),
                               "called_since_shift_start": True,
                               "last_activity_at": NOW - timedelta(minutes=1)}
    return Doctor(id_, name, DEP.id, **(base | kw))  # type: ignore[arg-type]


def waiting(n: int, doctor_id: uuid.UUID, *, eta_at: datetime = NOW, p90: int = 20,
            start: int = 0, **kw: object) -> list[WaitingToken]:
    return [WaitingToken(uuid.UUID(int=1000 + start + i), f"CARD-{start + i:03d}", DEP.id,
                         doctor_id, kw.get("priority", 1),  # type: ignore[arg-type]
                         kw.get("booking_type", "WALK_IN"),  # type: ignore[arg-type]
                         NOW - timedelta(minutes=30), p90, eta_at, float(start + i))
            for i in range(n)]


def snap(docs: list[Doctor], toks: list[WaitingToken], th: Thresholds | None = None,
         **kw: object) -> Snapshot:
    return Snapshot(NOW, th or Thresholds(), [DEP], docs, toks, **kw)  # type: ignore[arg-type]


def kinds(s: Snapshot) -> list[str]:
    return sorted(c.kind for c in rules.evaluate(s))


@pytest.mark.parametrize(("eta_age_min", "p90", "expected"), [
    (34, 20, []),                     # expected 14 min ago: inside the 15 min grace
    (35, 20, ["LONG_WAIT"]),          # 15 min past the expected call
    (90, 80, []),                     # a long wait the ETA foretold is not late
])
def test_long_wait_counts_from_the_latest_eta(eta_age_min: int, p90: int,
                                              expected: list[str]) -> None:
    toks = waiting(1, A, eta_at=NOW - timedelta(minutes=eta_age_min), p90=p90)
    assert kinds(snap([doctor(A, "Dr. A")], toks)) == expected


def test_a_department_over_its_waiting_threshold_is_a_bottleneck() -> None:
    th = Thresholds(bottleneck_waiting=5)
    docs = [doctor(A, "Dr. A"), doctor(B, "Dr. B")]
    c = rules.evaluate(snap(docs, waiting(3, A) + waiting(2, B, start=3), th))
    assert [(x.kind, x.entity_type) for x in c] == [("BOTTLENECK", "DEPARTMENT")]
    assert "5 waiting" in c[0].message


def test_a_long_p90_is_a_bottleneck() -> None:
    toks = waiting(2, A, p90=130)
    assert kinds(snap([doctor(A, "Dr. A")], toks)) == ["BOTTLENECK"]


def test_an_unbalanced_department_suggests_moving_walk_ins_from_the_back() -> None:
    docs = [doctor(A, "Dr. A"), doctor(B, "Dr. Bose")]
    toks = waiting(9, A) + waiting(1, B, start=50)
    toks[8] = toks[8].__class__(**{**toks[8].__dict__, "priority": 3})  # an emergency stays
    [c] = rules.evaluate(snap(docs, toks))
    s = c.details["suggestion"]
    assert c.kind == "BOTTLENECK" and c.entity_id == A
    assert s["to_doctor_id"] == str(B) and s["count"] == 4 and s["label"] == "Move 4 to Dr. Bose"
    assert s["numbers"] == ["CARD-007", "CARD-006", "CARD-005", "CARD-004"]


@pytest.mark.parametrize(("long", "short", "paused", "alerted"), [
    (7, 1, False, True),
    (6, 1, False, False),             # a gap of 5 < 6
    (11, 6, False, False),            # not twice as long
    (9, 0, True, False),              # the short queue's doctor is paused: nobody to take them
])
def test_imbalance_needs_a_gap_a_ratio_and_an_available_colleague(
        long: int, short: int, paused: bool, alerted: bool) -> None:
    docs = [doctor(A, "Dr. A"), doctor(B, "Dr. B", paused=paused)]
    toks = waiting(long, A) + waiting(short, B, start=100)
    assert (kinds(snap(docs, toks)) == ["BOTTLENECK"]) is alerted


@pytest.mark.parametrize(("kw", "expected"), [
    ({"last_activity_at": NOW - timedelta(minutes=10)}, ["DOCTOR_IDLE"]),
    ({"last_activity_at": NOW - timedelta(minutes=9)}, []),
    ({"last_activity_at": NOW - timedelta(minutes=30), "has_current": True}, []),
    ({"last_activity_at": NOW - timedelta(minutes=30), "paused": True}, []),
    ({"called_since_shift_start": False}, ["DOCTOR_LATE_START"]),
    ({"called_since_shift_start": False, "shift_start": NOW - timedelta(minutes=15)}, []),
    ({"called_since_shift_start": False, "on_shift": False}, []),
])
def test_idle_and_late_doctors(kw: dict[str, object], expected: list[str]) -> None:
    assert kinds(snap([doctor(A, "Dr. A", **kw)], waiting(1, A))) == expected


@pytest.mark.parametrize(("kw", "expected"), [
    ({"shift_start": NOW - timedelta(minutes=9)}, []),
    ({"shift_start": NOW - timedelta(minutes=10)}, ["DOCTOR_IDLE"]),    # idle since the start
    ({"shift_start": NOW - timedelta(minutes=40)}, ["DOCTOR_IDLE"]),    # never late
    ({"shift_start": NOW - timedelta(minutes=40),
      "last_activity_at": NOW - timedelta(minutes=5)}, []),             # a pause just ended
])
def test_an_all_day_entry_is_never_a_late_start_but_can_be_idle(
        kw: dict[str, object], expected: list[str]) -> None:
    """A shift from local 00:00 (00:00-23:59): its doctor, who has called nobody, has no
    start to be late for, but is idle since the last activity, else since the start."""
    base: dict[str, object] = {"all_day": True, "called_since_shift_start": False,
                               "last_activity_at": None}
    d = doctor(A, "Dr. A", **(base | kw))
    conditions = rules.evaluate(snap([d], waiting(1, A)))
    assert sorted(c.kind for c in conditions) == expected
    if expected and d.last_activity_at is None:
        assert d.shift_start is not None
        assert conditions[0].details["idle_since"] == d.shift_start.isoformat()


def test_a_doctor_with_nobody_waiting_is_never_idle_nor_late() -> None:
    d = doctor(A, "Dr. A", called_since_shift_start=False, last_activity_at=None)
    assert kinds(snap([d], [])) == []


@pytest.mark.parametrize(("done", "failed", "expected"), [
    (5, 1, ["MESSAGES_FAILING"]), (4, 4, []), (10, 1, []), (0, 0, [])])
def test_failing_messages(done: int, failed: int, expected: list[str]) -> None:
    assert kinds(snap([], [], messages_done=done, messages_failed=failed)) == expected


def test_thresholds_ignore_what_is_out_of_bounds() -> None:
    th = Thresholds.from_settings({"idle_min": 20, "bottleneck_waiting": 0, "junk": 3,
                                   "long_wait_over_eta_min": True, "messages_fail_pct": "9"})
    assert th == Thresholds(idle_min=20)


def test_the_plan_raises_once_resolves_and_forgets_held_alerts() -> None:
    docs = [doctor(A, "Dr. A", last_activity_at=NOW - timedelta(minutes=12))]
    [idle] = rules.evaluate(snap(docs, waiting(1, A)))
    first = rules.plan([idle], {}, {})
    assert first.raise_ == [idle] and not first.resolve
    open_ = {idle.key: rules.OpenAlert(uuid.UUID(int=5), idle.details)}
    assert not rules.plan([idle], open_, {})                # holds: nothing to do
    assert rules.plan([], open_, {}).resolve == [uuid.UUID(int=5)]
    held = {idle.key: uuid.UUID(int=5)}                      # a person resolved it
    assert not rules.plan([idle], {}, held)                 # not raised again while it holds
    assert rules.plan([], {}, held).clear == [uuid.UUID(int=5)]
