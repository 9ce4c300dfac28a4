"""Live alerts for the people running the OPD (cron, every minute): the rules of
server/domain/alerts.py over each hospital's live state (server/alert_events.py applies and
announces them). Not the Prometheus alerts of docs/operations.md, which are for whoever runs
the servers. Raised once while the condition holds (a key per alert, unique while open: two
runs racing insert one row, and the loser announces nothing); resolved when it ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from server import alert_events
from server.db import alerts as db

log = structlog.get_logger("alerts")


async def check_alerts(ctx: dict[str, Any]) -> int:
    """Every hospital's alerts against its live state now; returns the alerts raised."""
    now = ctx.get("now", lambda: datetime.now(UTC))()   # a clock tests can set
    svc = ctx["notify_queue"]
    n = 0
    for h in await db.hospital_ids(ctx["pool"]):
        try:
            plan = await alert_events.check_hospital(ctx["pool"], svc.live, h, now,
                                                     svc.rebuild_hospital)
        except Exception as exc:  # one hospital's trouble does not hold up the others
            log.warning("alert check failed", hospital_id=str(h), error=type(exc).__name__)
            continue
        n += len(plan.raise_)
    return n
