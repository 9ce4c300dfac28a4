"""Job ids: the formats are a contract between releases (a job enqueued by the previous
release must be found under the same id), so each one is pinned here, written out."""

from __future__ import annotations

import pytest

from workers import job_ids


@pytest.mark.parametrize(("built", "expected"), [
    (job_ids.send_notification("t1", "CALL_NOW"), "notify:t1:CALL_NOW"),
    (job_ids.send_notification("t1", "CALL_NOW", "sms"), "notify:t1:CALL_NOW:sms"),
    (job_ids.notify_ahead("h1", 9), "ahead:h1:9"),
    (job_ids.doctor_delay("d1", 11), "delay:d1:11"),
    (job_ids.late_start("d1", 5_800_000), "late:d1:5800000"),
    (job_ids.pause_over("d1", 12), "resumed:d1:12"),
    (job_ids.long_pause("d1", 29_000_000), "pause:d1:29000000"),
    (job_ids.sweep_row("r1", 2, 1_700_000_000_000), "sweep:r1:2:1700000000000"),
    (job_ids.sweep_unannounced("t1", "TOKEN_CREATED"), "sweep:t1:TOKEN_CREATED"),
    (job_ids.score_token("t1"), "risk-score:t1"),
    (job_ids.offer_freed_slot("t1"), "waitlist-offer:t1"),
    (job_ids.explain_risk(42), "explain:42"),
    (job_ids.reconcile_resume(1_700_000_000_000), "reconcile_queues:resume:1700000000000"),
    (job_ids.webhook_record("h1", 9), "webhooks:record:h1:9"),
    (job_ids.webhook_deliver("s1", "t1700000000000"), "webhooks:deliver:s1:t1700000000000"),
])
def test_job_id_formats(built: str, expected: str) -> None:
    assert built == expected
