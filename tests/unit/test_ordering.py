"""Queue order: effective time, priority credits, skip/hold placement and Redis-like ties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.ordering import (
    EMERGENCY_OFFSET_S,
    QueuePolicy,
    order,
    queue_score,
    skip_score,
)

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
POLICY = QueuePolicy()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def score(
    booking_type: str = "WALK_IN",
    priority: int = 1,
    arrived: float = 0,
    slot: float | None = None,
    policy: QueuePolicy = POLICY,
) -> float:
    return queue_score(
        booking_type=booking_type,
        priority=priority,
        arrived_at=at(arrived),
        scheduled_time=None if slot is None else at(slot),
        policy=policy,
    )


def test_policy_defaults() -> None:
    assert (POLICY.booked_grace_min, POLICY.senior_credit_min, POLICY.skip_places) == (15, 20, 3)


# (case, kwargs, expected effective minutes after T0 before any credit)
EFFECTIVE_CASES = [
    ("walk-in uses arrival", {"arrived": 7}, 7),
    ("online early uses slot", {"booking_type": "ONLINE", "arrived": -30, "slot": 10}, 10),
    ("online on time uses slot", {"booking_type": "ONLINE", "arrived": 10, "slot": 10}, 10),
    ("online within grace uses slot", {"booking_type": "ONLINE", "arrived": 24, "slot": 10}, 10),
    ("online at grace edge uses slot", {"booking_type": "ONLINE", "arrived": 25, "slot": 10}, 10),
    (
        "online late beyond grace uses arrival",
        {"booking_type": "ONLINE", "arrived": 26, "slot": 10},
        26,
    ),
    ("online without slot uses arrival", {"booking_type": "ONLINE", "arrived": 5}, 5),
    ("walk-in ignores a slot", {"booking_type": "WALK_IN", "arrived": 30, "slot": 0}, 30),
    ("senior credit", {"priority": 2, "arrived": 30}, 10),
    (
        "senior online on time",
        {"booking_type": "ONLINE", "priority": 2, "arrived": 0, "slot": 5},
        -15,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "minutes"), [c[1:] for c in EFFECTIVE_CASES], ids=[c[0] for c in EFFECTIVE_CASES]
)
def test_effective_time(kwargs: dict[str, object], minutes: float) -> None:
    assert score(**kwargs) == pytest.approx(at(minutes).timestamp(), abs=1e-6)  # type: ignore[arg-type]


def test_custom_grace() -> None:
    tight = QueuePolicy(booked_grace_min=5)
    assert score("ONLINE", arrived=16, slot=10, policy=tight) == at(16).timestamp()
    assert score("ONLINE", arrived=15, slot=10, policy=tight) == at(10).timestamp()


@pytest.mark.parametrize(
    ("normal_arrived", "senior_first"),
    [
        (-10, True),  # normal came 10 min earlier: the 20 min credit wins
        (-19, True),
        (-21, False),
        (-30, False),  # normal came 30 min earlier: still ahead, seniors never starve others
    ],
)
def test_senior_credit(normal_arrived: float, senior_first: bool) -> None:
    senior = score(priority=2, arrived=0)
    normal = score(priority=1, arrived=normal_arrived)
    assert (senior < normal) is senior_first
    assert (order([("n", normal), ("s", senior)])[0] == "s") is senior_first


def test_emergency_ahead_of_everyone_fifo_among_themselves() -> None:
    scores = {
        "early-normal": score(arrived=-600),
        "senior": score(priority=2, arrived=-300),
        "online": score("ONLINE", arrived=-100, slot=-120),
        "emergency-late": score("EMERGENCY", priority=3, arrived=30),
        "emergency-early": score("EMERGENCY", arrived=10),
        "priority3-walkin": score(priority=3, arrived=20),
    }
    assert order(scores.items())[:3] == ["emergency-early", "priority3-walkin", "emergency-late"]
    assert score("EMERGENCY", arrived=0) == pytest.approx(at(0).timestamp() - EMERGENCY_OFFSET_S)


def test_timezones_compare_by_instant() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    a = queue_score(
        booking_type="WALK_IN",
        priority=1,
        arrived_at=T0.astimezone(ist),
        scheduled_time=None,
        policy=POLICY,
    )
    assert a == score(arrived=0)


@pytest.mark.parametrize(
    ("arrived", "slot"),
    [
        (datetime(2025, 3, 10, 9, 0), None),
        (datetime(2025, 3, 10, 9, 0), T0),
        (T0, datetime(2025, 3, 10, 9, 0)),
    ],
)
def test_naive_datetimes_rejected(arrived: datetime, slot: datetime | None) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        queue_score(
            booking_type="ONLINE",
            priority=1,
            arrived_at=arrived,
            scheduled_time=slot,
            policy=POLICY,
        )


SKIP_CASES = [
    # (waiting scores, places, now_score, expected)
    ([], 3, 42.0, 42.0),
    ([10.0], 3, 42.0, 11.0),
    ([10.0, 20.0, 30.0], 3, 42.0, 31.0),
    ([10.0, 20.0, 30.0, 40.0], 3, 42.0, 35.0),
    ([10.0, 20.0, 30.0, 40.0, 50.0], 3, 42.0, 35.0),
    ([50.0, 10.0, 40.0, 30.0, 20.0], 3, 42.0, 35.0),  # unsorted input is sorted first
    ([10.0, 20.0], 1, 0.0, 15.0),
    ([10.0], 1, 0.0, 11.0),
    ([10.0, 20.0, 20.0, 30.0], 2, 0.0, 20.0),  # tie: Redis breaks it by member id
]


@pytest.mark.parametrize(("scores", "places", "now", "expected"), SKIP_CASES)
def test_skip_score(scores: list[float], places: int, now: float, expected: float) -> None:
    assert skip_score(scores, places, now) == expected


def test_skip_score_places_behind_exactly_n() -> None:
    waiting = {f"t{i}": score(arrived=i) for i in range(6)}
    skipped = skip_score(sorted(waiting.values()), 3, now_score=score(arrived=60))
    assert order([*waiting.items(), ("skipped", skipped)]) == [
        "t0",
        "t1",
        "t2",
        "skipped",
        "t3",
        "t4",
        "t5",
    ]


def test_skip_score_rejects_zero_places() -> None:
    with pytest.raises(ValueError):
        skip_score([1.0], 0, 0.0)


def test_order_ties_by_member_bytes() -> None:
    assert order([("b", 1.0), ("a", 1.0), ("c", 0.5), ("B", 1.0)]) == ["c", "B", "a", "b"]
    assert order([("10", 1.0), ("9", 1.0)]) == ["10", "9"]  # lexicographic, not numeric
    assert order([]) == []


def test_order_rejects_nan() -> None:
    with pytest.raises(ValueError):
        order([("a", float("nan"))])


finite = st.floats(min_value=-1e10, max_value=1e10, allow_nan=False)


@given(st.lists(finite, max_size=30), st.integers(min_value=1, max_value=6), finite)
def test_skip_score_lands_after_places(scores: list[float], places: int, now: float) -> None:
    r = skip_score(scores, places, now)
    if not scores:
        assert r == now
        return
    before = sum(s < r for s in scores)
    at_or_before = sum(s <= r for s in scores)
    # Exactly min(places, n) tokens go first; ties with r are decided by member id.
    assert before <= min(places, len(scores)) <= at_or_before


@given(st.lists(st.tuples(st.text(max_size=4), finite), unique_by=lambda e: e[0]))
def test_order_matches_redis_rule(entries: list[tuple[str, float]]) -> None:
    result = order(entries)
    assert sorted(result) == sorted(e[0] for e in entries)
    expected = sorted(entries, key=lambda e: (e[1], e[0].encode("utf-8", "surrogatepass")))
    assert result == [e[0] for e in expected]


@given(st.integers(min_value=-24 * 60, max_value=24 * 60), st.sampled_from([1, 2]))
def test_emergency_beats_any_realistic_non_emergency(arrived: int, priority: int) -> None:
    # Even an emergency arriving 10 hours later goes first.
    emergency = score("EMERGENCY", arrived=arrived + 600)
    assert emergency < score(priority=priority, arrived=arrived)
    assert emergency < score("ONLINE", priority=priority, arrived=arrived, slot=arrived)
