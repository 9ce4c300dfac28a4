"""`opdq history import` and `opdq risk train`: bring a hospital's past appointments in from
another system, and train its no-show model now (API.md, "No-show prevention").

Both print one JSON line, so a script can read what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from server.db import history as history_db
from server.db.pool import create_pool, init_db
from server.risk import history_import
from server.settings import get_settings


def _dsn() -> str:
    dsn = get_settings().database_url
    if not dsn:
        raise SystemExit("DATABASE_URL is not set (`opdq dev` starts an embedded PostgreSQL)")
    return dsn


async def _hospital(conn: asyncpg.Connection, code: str) -> tuple[Any, str]:
    row = await conn.fetchrow("SELECT id, timezone FROM hospitals WHERE code = $1", code.upper())
    if row is None:
        raise SystemExit(f"no hospital with code {code!r}")
    return row["id"], row["timezone"]


async def import_file(dsn: str, code: str, path: Path) -> dict[str, Any]:
    """Check the whole file, then write it in one transaction (nothing if a line is bad)."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        hid, tz = await _hospital(conn, code)
        with path.open(newline="", encoding="utf-8-sig") as f:
            try:
                parsed = history_import.parse(f, ZoneInfo(tz))
            except history_import.HeaderError as exc:
                raise SystemExit(str(exc)) from None
        if parsed.n_errors:
            for line, msg in parsed.errors:
                print(f"{path.name}:{line}: {msg}", file=sys.stderr)
            more = parsed.n_errors - len(parsed.errors)
            raise SystemExit(f"{parsed.n_errors} bad line(s)"
                             f"{f' ({more} not shown)' if more else ''}; nothing imported")
        async with conn.transaction():
            res = await history_db.import_rows(conn, hid, parsed.rows)
    finally:
        await conn.close()
    return {"rows": len(parsed.rows), "inserted": res.inserted, "updated": res.updated,
            "unchanged": res.unchanged, "repeated_lines": parsed.duplicates,
            "departments_created": res.departments_created,
            "seconds": round(time.monotonic() - started, 2)}


async def train_now(dsn: str, code: str) -> dict[str, Any]:
    from workers.risk import train_hospital

    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            hid, _ = await _hospital(conn, code)
        res = await train_hospital(pool, hid)
    finally:
        await pool.close()
    if res is None:
        raise SystemExit("another training of this hospital is running; try again")
    return {"model_version": res["version"], "auc": res["auc"], "brier": res["brier"],
            "ece": res["calibration_error"], "n_train": res["n_train"],
            "n_test": res["n_holdout"]}


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(float(v), 4) if isinstance(v, float) else v for k, v in d.items()}


def cmd_history_import(args: argparse.Namespace) -> None:
    dsn = _dsn()
    asyncio.run(init_db(dsn))
    print(json.dumps(asyncio.run(import_file(dsn, args.hospital, Path(args.file)))))


def cmd_risk_train(args: argparse.Namespace) -> None:
    dsn = _dsn()
    asyncio.run(init_db(dsn))
    print(json.dumps(_rounded(asyncio.run(train_now(dsn, args.hospital)))))


def register(sub: Any) -> None:
    """Add `history import` and `risk train` to opdq's subcommands."""
    hist = sub.add_parser("history", help="past appointments from another system"
                          ).add_subparsers(dest="hist_cmd", required=True)
    imp = hist.add_parser("import", help="import a CSV of past appointments (idempotent)")
    imp.add_argument("--hospital", required=True, help="the hospital's code")
    imp.add_argument("file", help="CSV: " + ",".join(history_import.HEADER))
    imp.set_defaults(func=cmd_history_import)

    risk = sub.add_parser("risk", help="the no-show model").add_subparsers(
        dest="risk_cmd", required=True)
    train = risk.add_parser("train", help="train now; prints the hold-out metrics as JSON")
    train.add_argument("--hospital", required=True, help="the hospital's code")
    train.set_defaults(func=cmd_risk_train)
