"""The schema's versions: server/migrations/*.sql, applied forward-only by yoyo-migrations.

schema.sql is the readable whole schema; the migrations are how a running hospital's database
gets there (docs/migrations.md). Every start (web, worker, `opdq db migrate`) calls `upgrade`:
one query when the database is already at head, else yoyo applies what is missing.

Two processes starting at once take turns on a PostgreSQL advisory lock held by the session,
so a migrator that dies releases it with its connection; yoyo's own lock row, which a killed
process would leave behind, is therefore stale whenever we hold ours, and is cleared.

A database made by applying schema.sql directly (every install before migrations) has tables
but no record of the baseline: it is adopted, the baseline marked applied without running,
and the later migrations (written to be idempotent up to the first one after adoption
existed) bring it to head.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger("db")
# yoyo logs each statement of each migration at info; our one line per start says enough
logging.getLogger("yoyo").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
BASELINE = "0001_baseline"
# yoyo's bookkeeping tables (its migration table name is yoyo's default)
YOYO_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")
# the key `apply_schema` takes too: a migrator and an older release applying schema.sql at
# start (during a rolling upgrade) take turns
MIGRATION_LOCK = 0x0DB_1417
# a table every released schema has: its presence without a baseline row means "adopt"
_SENTINEL_TABLE = "hospitals"


def migration_ids() -> list[str]:
    """Every migration shipped with this release, oldest first."""
    return sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql") if not p.stem.endswith(
        ".rollback"))


def yoyo_uri(dsn: str) -> str:
    """DATABASE_URL (an asyncpg/libpq URI) as yoyo's URI for its psycopg 3 backend."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must be a postgresql:// URI")
    return f"postgresql+psycopg://{rest}"


async def applied_ids(conn: asyncpg.Connection) -> set[str]:
    """The migrations this database records as applied (none before its first migration)."""
    if not await conn.fetchval("SELECT to_regclass('_yoyo_migration') IS NOT NULL"):
        return set()
    return {r[0] for r in await conn.fetch("SELECT migration_id FROM _yoyo_migration")}


async def upgrade(dsn: str) -> list[str]:
    """Bring the database to head; returns the ids applied (none when it already was).

    The check runs on asyncpg, so "PostgreSQL is down" raises what the callers already wait
    out; yoyo (synchronous) runs in a thread, off the event loop."""
    conn = await asyncpg.connect(dsn)
    try:
        if set(migration_ids()) <= await applied_ids(conn):
            return []
    finally:
        await conn.close()
    applied = await asyncio.to_thread(apply, dsn)
    if applied:
        log.info("database schema migrated", applied=applied, head=migration_ids()[-1])
    return applied


def apply(dsn: str) -> list[str]:
    """Synchronous: adopt a database made from schema.sql if need be, then apply what is
    missing. psycopg's connection errors surface as ConnectionError, an outage to callers."""
    import psycopg  # imported here: a start with nothing to migrate never needs them (~0.3 s)
    from yoyo import get_backend, read_migrations

    try:
        backend = get_backend(yoyo_uri(dsn))
    except psycopg.OperationalError as exc:
        raise ConnectionError(f"PostgreSQL: {exc}") from exc
    try:
        # held by the session: released when the connection closes (below, or by its death)
        backend.execute("SELECT pg_advisory_lock(:key)", {"key": MIGRATION_LOCK})
        backend.break_lock()  # only a dead migrator's row can be there while we hold ours
        with backend.lock():
            migrations = read_migrations(str(MIGRATIONS_DIR))
            _adopt_if_made_from_schema_sql(backend, migrations)
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
            return [m.id for m in pending]
    except psycopg.OperationalError as exc:
        raise ConnectionError(f"PostgreSQL: {exc}") from exc
    finally:
        backend.connection.close()


def _adopt_if_made_from_schema_sql(backend: Any, migrations: Any) -> None:
    baseline = migrations.filter(lambda m: m.id == BASELINE)
    if not backend.to_apply(baseline):
        return
    exists = backend.execute("SELECT to_regclass(:t) IS NOT NULL", {"t": _SENTINEL_TABLE})
    if exists.fetchone()[0]:
        log.info("database made from schema.sql: adopted, its baseline marked applied",
                 baseline=BASELINE)
        backend.mark_migrations(baseline)
