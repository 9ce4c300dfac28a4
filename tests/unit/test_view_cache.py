"""The view cache's rules, without services: an answer is reused only under the version it was
read at and for ttl_s on the given clock; the oldest go first when it is full."""

from __future__ import annotations

from server.view_cache import ViewCache

V1 = ("41", None)
V2 = ("42", None)


def test_an_answer_is_reused_only_under_the_version_it_was_read_at() -> None:
    cache = ViewCache(ttl_s=2.0)
    cache.put("k", V1, b"one", now=100.0)
    assert cache.get("k", V1, now=101.0) == b"one"
    assert cache.get("k", V2, now=101.0) is None          # an event since: read afresh
    assert cache.get("k", V1, now=101.0) is None          # and the stale answer is gone
    cache.put("k", ("41", "1"), b"two", now=100.0)
    assert cache.get("k", ("41", "2"), now=100.0) is None  # a change without an event


def test_an_answer_lasts_ttl_s_on_the_callers_clock() -> None:
    cache = ViewCache(ttl_s=2.0)
    cache.put("k", V1, b"one", now=100.0)
    assert cache.get("k", V1, now=101.99) == b"one"
    assert cache.get("k", V1, now=102.0) is None
    cache.put("k", V1, b"one", now=100.0)
    assert cache.get("k", V1, now=99.0) is None           # a clock set back: not trusted


def test_keys_are_apart_and_the_oldest_go_first_when_full() -> None:
    cache = ViewCache(ttl_s=60.0, max_bytes=30)
    for i in range(4):
        cache.put(i, V1, bytes([48 + i]) * 10, now=100.0)
    assert len(cache) == 3
    assert cache.get(0, V1, now=100.0) is None
    assert [cache.get(i, V1, now=100.0) for i in (1, 2, 3)] == [b"1" * 10, b"2" * 10, b"3" * 10]
    cache.put(2, V1, b"x" * 20, now=100.0)            # replaced: its old bytes count no more
    assert [cache.get(i, V1, now=100.0) for i in (1, 3)] == [None, b"3" * 10]
    cache.put("big", V1, b"x" * 31, now=100.0)        # larger than the whole bound: not kept
    assert cache.get("big", V1, now=100.0) is None and len(cache) == 2


def test_no_time_to_live_keeps_nothing() -> None:
    cache = ViewCache(ttl_s=0)
    cache.put("k", V1, b"one", now=100.0)
    assert len(cache) == 0 and cache.get("k", V1, now=100.0) is None


def test_forgetting_a_hospital_drops_its_answers_only() -> None:
    cache = ViewCache(ttl_s=60.0)
    cache.put(("h1", "d1"), V1, b"a", now=100.0)
    cache.put(("h1", "d2"), V1, b"b", now=100.0)
    cache.put(("h2", "d1"), V1, b"c", now=100.0)
    cache.forget("h1")
    assert len(cache) == 1 and cache.get(("h2", "d1"), V1, now=100.0) == b"c"
