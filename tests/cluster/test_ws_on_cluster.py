"""The cross-process websocket tests (tests/ws/test_protocol.py), unchanged, with both web
processes on the Redis Cluster (the fixtures of tests/cluster/conftest.py)."""

from __future__ import annotations

import pytest

from tests.ws.test_protocol import (  # noqa: F401  (collected here, on the cluster)
    test_a_board_on_process_b_sees_a_call_made_through_process_a,
    test_a_since_the_server_cannot_honour_gets_a_snapshot,
    test_a_snapshot_taken_while_the_queue_moves_misses_no_event,
    test_a_stalled_client_is_dropped_and_the_others_keep_up,
    test_an_idle_socket_gets_heartbeats_with_its_last_seq,
    test_boards_get_the_head_of_a_queue_and_no_token_updates,
    test_doctor_socket_starts_with_the_queue_snapshot,
    test_events_arrive_in_sequence_order,
    test_patient_gets_position_updates,
    test_patient_socket_sees_only_its_own_token,
    test_resume_from_a_forgotten_point_gets_a_snapshot,
    test_resume_with_since_replays_exactly_what_was_missed,
    test_revoking_a_display_key_closes_its_board,
    w,
)

pytestmark = pytest.mark.cluster
