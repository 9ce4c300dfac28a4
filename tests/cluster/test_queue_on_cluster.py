"""Queue actions, the live view's rebuild and the throttles, unchanged, on the Redis Cluster:
every script a hospital's action runs must stay on its slot (the cluster refuses one that
does not: CROSSSLOT, or redis-py's "all keys must map to the same key slot")."""

from __future__ import annotations

import pytest

from tests.api.test_auth import test_rate_limit_keys_expire  # noqa: F401
from tests.api.test_login_throttle import (  # noqa: F401
    server,
    test_the_delay_doubles_and_caps,
)
from tests.queue.test_actions import (  # noqa: F401
    test_action,
    test_each_action_changes_what_it_should,
    test_transfer_to_another_department_is_refused_naming_doctor_id,
)
from tests.queue.test_concurrency import test_two_tablets_press_next_at_the_same_instant  # noqa: F401
from tests.queue.test_doctor_status import (  # noqa: F401
    test_learned_consult_times_move_the_eta,
    test_next_is_refused_while_paused,
    test_pause_and_resume,
)
from tests.queue.test_flow import (  # noqa: F401
    test_next_calls_in_order_then_completes,
    test_start_then_complete,
    test_walk_in_token_is_numbered_queued_and_linked,
)
from tests.queue.test_public import test_public_endpoints_are_rate_limited  # noqa: F401
from tests.queue.test_recovery import (  # noqa: F401
    test_a_record_failure_after_the_live_change_is_repaired,
    test_an_action_after_flushall_rebuilds_first,
    test_flushall_mid_day_rebuilds_every_queue_in_the_same_order,
)

pytestmark = pytest.mark.cluster
