"""The desk's day at 300 tokens: what the list and its search cost, as ratios to the bare
SQL of the same rows measured in the same run.

    python -m bench.desk_list [--tokens 300] [--repeat 25]

One hospital, six doctors on shift, `tokens` walk-ins waiting (bench.realtime.seed_hospital).
The app runs in this process (httpx's ASGI transport: no network, no uvicorn), so the figure
is the server's own work per request: the query, the live positions (one queue read per
doctor), the risk join, the JSON. The baseline is `tokens_db.day_list` alone on the same
pool. Services as in bench/realtime.py (BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.realtime import RESULTS, seed_hospital, services
from server.app import create_app
from server.db import tokens as tokens_db
from server.settings import Settings


async def _median_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await call()  # warm: the first read builds the live view from the record
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def run(database_url: str, redis_url: str, tokens: int, repeat: int) -> dict[str, Any]:
    doctors = 6
    hosp = await seed_hospital(database_url, doctors=doctors, per_doctor=tokens // doctors)
    settings = Settings(database_url=database_url, redis_url=redis_url, log_level="warning")
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {hosp.admin_token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            async def listing(**params: Any) -> int:
                r = await c.get("/api/v1/tokens", params=params, headers=headers)
                assert r.status_code == 200, r.text
                return len(r.json()["items"])

            shown = await listing(limit=500)
            pool = app.state.opdq.pool
            today, _ = await app.state.opdq.queue.today(hosp.id)

            async def bare() -> None:
                await tokens_db.day_list(pool, hosp.id, today, limit=500)

            results = {
                "tokens": shown,
                "sql_ms": await _median_ms(bare, repeat),
                "list_ms": await _median_ms(lambda: listing(limit=500), repeat),
                "search_name_ms": await _median_ms(lambda: listing(q="patient 12"), repeat),
                "search_phone_ms": await _median_ms(lambda: listing(q="984500012"), repeat),
                "csv_ms": await _median_ms(lambda: c.get(
                    "/api/v1/tokens", params={"format": "csv", "limit": 500},
                    headers=headers), repeat),
            }
    results["list_vs_sql"] = results["list_ms"] / results["sql_ms"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--write", action="store_true",
                        help="accepted from bench.run; the figures are quoted in docs/api.md")
    args = parser.parse_args()
    with services() as svc:
        out = asyncio.run(run(svc.database_url, svc.redis_url, args.tokens, args.repeat))
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "desk_list.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
