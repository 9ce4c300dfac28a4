"""The doctor's live hash keeps what the ETA learned: written and read back unchanged."""

from __future__ import annotations

from server.domain.eta import ConsultStats, Learned
from server.domain.eta_today import TodayStats
from server.store.live import DoctorState


def _flat(fields: dict[str, str | int | float] | list[str | int | float]) -> list[str]:
    """As HGETALL returns a hash: field, value, ... all strings."""
    items = fields.items() if isinstance(fields, dict) else zip(fields[::2], fields[1::2],
                                                                 strict=True)
    return [str(x) for kv in items for x in kv]


def test_todays_consults_and_the_sittings_start_survive_the_hash() -> None:
    learned = Learned(ConsultStats(41, 12.25, 310.5),
                      TodayStats(4, 2.5, 1_700_000_000_000, ConsultStats(37, 11.5, 280.0)))
    state = DoctorState(name="Dr A").with_learned(learned)
    assert DoctorState.parse(_flat(state.hash_fields())).learned() == learned
    # what publish.lua writes after a consult, over a hash that held an older sitting
    stale = DoctorState.parse(_flat(DoctorState(name="Dr A").with_learned(Learned(
        ConsultStats(5, 9.0, 20.0), TodayStats(2, 2.0, 1, ConsultStats(3, 8.0, 10.0))))
        .hash_fields()))
    fields = dict(zip(_flat(stale.hash_fields())[::2], _flat(stale.hash_fields())[1::2],
                      strict=True))
    fields.update(zip(_flat(DoctorState.learned_fields(learned))[::2],
                      _flat(DoctorState.learned_fields(learned))[1::2], strict=True))
    assert DoctorState.parse(_flat(fields)).learned() == learned
    # a sitting whose start is not known (a hash written before it was kept) clears it
    unknown = Learned(learned.stats, TodayStats(1, 2.2, 5))
    fields.update(zip(_flat(DoctorState.learned_fields(unknown))[::2],
                      _flat(DoctorState.learned_fields(unknown))[1::2], strict=True))
    assert DoctorState.parse(_flat(fields)).learned() == unknown
    # a rebuild from the record starts today afresh: no sitting, no start
    assert DoctorState.parse(_flat(DoctorState(name="Dr A").hash_fields())).learned() == \
        Learned(ConsultStats(), TodayStats())
