"""Notification outcomes an operator can graph and alert on: counted by the worker that
sends (and served on its own port), delivery reports counted by the web process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import httpx
from prometheus_client import REGISTRY

from server.embedded import free_port
from tests.conftest import Services
from tests.queue.conftest import World
from tests.workers.conftest import issue_token
from tests.workers.fake_twilio import FakeTwilio
from tests.workers.test_webhooks import callback, sent_message
from workers.notify import send_notification


def count(channel: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(
        "opdq_notifications_total", {"channel": channel, "outcome": outcome}) or 0.0


async def test_sent_failed_and_delivered_are_counted_by_channel(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World,
        fake_twilio: FakeTwilio) -> None:
    before = {o: count("sms", o) for o in ("sent", "failed", "delivered", "undelivered")}
    _, sid = await sent_message(ctx, world, fake_twilio, patient=0)
    tok = await issue_token(ctx, world, 1)
    fake_twilio.fail_next("21211")  # not a valid phone number: permanent
    assert await send_notification(ctx, str(world.hospital_id), str(tok["id"]),
                                   "TOKEN_CREATED") == "failed"
    assert (await callback(client, sid, "delivered")).status_code == 204
    assert (await callback(client, sid, "delivered")).status_code == 204  # a repeat: once
    after = {o: count("sms", o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {
        "sent": 1, "failed": 1, "delivered": 1, "undelivered": 0}


def test_the_worker_serves_its_figures_on_its_metrics_port(services: Services,
                                                           schema_ready: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(DATABASE_URL=services.database_url, REDIS_URL=services.redis_url,
               SECRET_KEY="test-secret-key-not-for-production", LOG_LEVEL="WARNING",
               WORKER_METRICS_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "workers.run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, text = time.monotonic() + 20, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert "# TYPE opdq_notifications_total counter" in text
        assert "# TYPE opdq_queue_rebuilds_total counter" in text
    finally:
        proc.terminate()
        proc.wait(15)
