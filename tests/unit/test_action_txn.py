"""An action's COMMIT round trip is one simple query (no parameters): what it writes is turned
into SQL text here, and anything that is not a UUID, an integer or an aware time is refused
before a byte is sent."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from server.db.action_txn import Shown, commit_action

AT = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


def test_a_commit_without_a_live_change_is_a_bare_commit() -> None:
    assert commit_action(None, uuid4()) == "COMMIT"


def test_the_shown_places_and_the_marker_come_before_the_commit() -> None:
    action, h, t = uuid4(), uuid4(), uuid4()
    sql = commit_action(action, h, {t: Shown(3, 12, 25, AT)})
    shown, marker, commit = sql.split("; ")
    assert shown.startswith("INSERT INTO token_eta_shown")
    assert (f"unnest('{{{t}}}'::uuid[], '{{3}}'::int[], '{{12}}'::int[], '{{25}}'::int[], "
            "'{2026-11-26T09:30:15.123456+00:00}'::timestamptz[])") in shown
    assert "ON CONFLICT (token_id) DO UPDATE" in shown
    assert marker == (f"INSERT INTO live_actions (id, hospital_id) "
                      f"VALUES ('{action}'::uuid, '{h}'::uuid)")
    assert commit == "COMMIT"


@pytest.mark.parametrize("shown", [
    {"x'); DROP TABLE tokens; --": Shown(1, 1, 1, AT)},
    {uuid4(): Shown(1.5, 1, 1, AT)},                          # type: ignore[arg-type]
    {uuid4(): Shown(1, "1); DROP TABLE tokens; --", 1, AT)},  # type: ignore[arg-type]
    {uuid4(): Shown(1, 1, 1, datetime(2026, 11, 26, 9, 30))},  # naive: whose clock?
    {uuid4(): Shown(1, 1, 1, "2026-11-26")},                  # type: ignore[arg-type]
])
def test_anything_but_uuids_integers_and_aware_times_is_refused(
        shown: dict[UUID, Shown]) -> None:
    with pytest.raises(TypeError):
        commit_action(uuid4(), uuid4(), shown)
