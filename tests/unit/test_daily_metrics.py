"""The daily figures of one doctor's day (server/domain/daily_metrics.py), case by case."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from server.domain import daily_metrics as dm

TZ = ZoneInfo("Asia/Kolkata")
DAY0 = datetime(2026, 3, 10, tzinfo=TZ)
END = DAY0 + timedelta(days=1)
AFTER = END + timedelta(hours=2)        # the day is over when computed


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return DAY0 + timedelta(hours=int(h), minutes=int(m))


def walk_in(arrived: str, *steps: tuple[str, str, str], status: str) -> tuple[
        dm.TokenFacts, list[dm.Step]]:
    """A walk-in and its history: steps of (time, from, to)."""
    tid = uuid4()
    times = {to: at(t) for t, _, to in steps}
    token = dm.TokenFacts(
        id=tid, status=status, booking_type="WALK_IN", created_at=at(arrived),
        checked_in_at=at(arrived), called_at=times.get("CALLED"),
        started_at=times.get("IN_CONSULTATION"), completed_at=times.get("COMPLETED"),
        no_show_at=times.get("NO_SHOW"))
    history = [dm.Step(tid, None, "WAITING", at(arrived))]
    history += [dm.Step(tid, frm, to, at(t)) for t, frm, to in steps]
    return token, history


def day(*tokens: tuple[dm.TokenFacts, list[dm.Step]], shifts: tuple[str, str] = ("09:00", "13:00"),
        pauses: tuple[tuple[str, str | None], ...] = (), now: datetime = AFTER) -> dm.DayFigures:
    return dm.compute(dm.DayInput(
        day_start=DAY0, day_end=END, shifts=[(at(shifts[0]), at(shifts[1]))],
        pauses=[(at(a), at(b) if b else None) for a, b in pauses],
        tokens=[t for t, _ in tokens], history=[s for _, h in tokens for s in h],
        late_start_min=15, now=now))


def seen(arrived: str, called: str, started: str, done: str) -> tuple[
        dm.TokenFacts, list[dm.Step]]:
    return walk_in(arrived, (called, "WAITING", "CALLED"), (started, "CALLED", "IN_CONSULTATION"),
                   (done, "IN_CONSULTATION", "COMPLETED"), status="COMPLETED")


def test_a_plain_morning() -> None:
    f = day(seen("08:50", "09:05", "09:06", "09:20"), seen("09:00", "09:20", "09:21", "09:41"),
            walk_in("09:30", ("09:41", "WAITING", "CALLED"), ("09:45", "CALLED", "NO_SHOW"),
                    status="NO_SHOW"))
    assert (f.tokens_total, f.tokens_completed, f.tokens_no_show) == (3, 2, 1)
    assert f.wait_samples_min == [11.0, 15.0, 20.0]          # 09:30->09:41, 08:50->09:05, ...
    assert f.avg_wait_min == pytest.approx(46 / 3, abs=0.01)
    assert f.wait_p50_min == 15.0
    assert f.avg_consultation_min == 17.0                     # 14 and 20 minutes
    assert f.first_call_delay_min == 5                        # shift at 9, first call 09:05
    assert not f.late_start
    assert f.busy_min == 40 and f.last_patient_at == at("09:45")
    assert f.shift_min == 240 and f.idle_min == 200 and f.overtime_min == 0
    assert f.utilisation == pytest.approx(40 / 240, abs=0.001)


def test_nobody_waiting_is_not_a_late_start_and_a_late_one_is() -> None:
    quiet = day(seen("09:40", "09:42", "09:43", "09:50"))
    assert quiet.first_call_delay_min == 2 and not quiet.late_start
    late = day(seen("08:30", "09:40", "09:41", "09:50"))
    assert late.first_call_delay_min == 40 and late.late_start
    early = day(seen("08:30", "08:50", "08:51", "09:05"))
    assert early.first_call_delay_min == -10
    assert early.busy_min == 15 and early.utilisation == pytest.approx(5 / 240, abs=0.001)


def test_a_skipped_patient_waits_until_the_first_call_and_busy_counts_both_spells() -> None:
    f = day(walk_in("09:00", ("09:10", "WAITING", "CALLED"), ("09:13", "CALLED", "WAITING"),
                    ("09:30", "WAITING", "CALLED"), ("09:31", "CALLED", "IN_CONSULTATION"),
                    ("09:40", "IN_CONSULTATION", "COMPLETED"), status="COMPLETED"))
    assert f.wait_samples_min == [10.0]
    assert f.busy_min == 3 + 10
    assert f.avg_consultation_min == 9.0


def test_pauses_count_inside_the_shift_only_and_leave_utilisation_alone() -> None:
    f = day(seen("09:00", "09:00", "09:00", "11:00"),
            pauses=(("11:00", "12:00"), ("12:30", None)))   # the last one never resumed
    assert f.pause_min == 60 + 30
    assert f.idle_min == 240 - 120 - 90
    assert f.utilisation == pytest.approx(120 / 150, abs=0.001)


def test_the_day_end_close_ends_nothing_at_midnight() -> None:
    """A consult the day-end close completed: busy until the shift's end, no consult time."""
    tid = uuid4()
    closed = END + timedelta(minutes=10)
    token = dm.TokenFacts(tid, "COMPLETED", "WALK_IN", at("12:00"), at("12:00"), at("12:30"),
                          at("12:31"), closed, None)
    history = [dm.Step(tid, None, "WAITING", at("12:00")),
               dm.Step(tid, "WAITING", "CALLED", at("12:30")),
               dm.Step(tid, "CALLED", "IN_CONSULTATION", at("12:31")),
               dm.Step(tid, "IN_CONSULTATION", "COMPLETED", closed)]
    f = day((token, history))
    assert f.busy_min == 30 and f.last_patient_at == at("13:00")
    assert f.avg_consultation_min is None and f.overtime_min == 0


def test_a_running_day_counts_up_to_now() -> None:
    f = day(walk_in("09:00", ("09:10", "WAITING", "CALLED"), status="CALLED"),
            now=at("09:25"))
    assert f.busy_min == 15 and f.tokens_completed == 0


def test_overtime_is_the_last_attendance_past_the_shift() -> None:
    f = day(seen("12:30", "12:50", "12:51", "13:25"))
    assert f.overtime_min == 25 and f.last_patient_at == at("13:25")
    assert f.utilisation == pytest.approx(10 / 240, abs=0.001)


def test_no_patients_all_idle() -> None:
    f = day()
    assert (f.tokens_total, f.busy_min, f.idle_min, f.utilisation) == (0, 0, 240, 0.0)
    assert f.wait_p50_min is None and f.first_call_delay_min is None and f.overtime_min is None


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37])
def test_percentiles_agree_with_numpy(n: int) -> None:
    values = list(np.random.default_rng(n).gamma(2.0, 12.0, size=n))
    for q in (0.5, 0.9):
        assert dm.percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))


def test_merge_and_intersect() -> None:
    a = [(at("09:00"), at("10:00")), (at("09:30"), at("10:30")), (at("11:00"), at("11:00"))]
    assert dm.merge(a) == [(at("09:00"), at("10:30"))]
    assert dm.total_min(dm.intersect(a, [(at("10:00"), at("12:00"))])) == 30
