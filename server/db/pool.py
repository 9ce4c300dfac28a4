"""The asyncpg pool, and the schema brought to head at start (server/db/migrate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from server.db import migrate

# the readable whole schema, at the repository's top: tests and tools read it, the server
# does not (an installed package carries server/migrations/ instead)
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema.sql"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection returned to the pool needs besides the rollback asyncpg always does:
    nothing. The server keeps no session state on pooled connections (its locks are
    transaction-scoped, settings SET LOCAL, no LISTEN, cursors only inside transactions), so
    the default reset query (unlock all, CLOSE ALL, UNLISTEN *, RESET ALL) would be one more
    round trip on every release for nothing; a connection that may hold session state is
    terminated instead of released (integrations.abdm)."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10,
                      application_name: str = "opdq") -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        reset=_keep_session, command_timeout=30,
        server_settings={"application_name": application_name},
    )
    assert pool is not None
    return pool


async def apply_schema(conn: asyncpg.Connection, sql: str | None = None) -> None:
    """schema.sql (or `sql`) applied directly, as releases before migrations did."""
    sql = sql if sql is not None else SCHEMA_PATH.read_text()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", migrate.MIGRATION_LOCK)
        await conn.execute("SET LOCAL client_min_messages = warning")
        await conn.execute(sql)


async def init_db(dsn: str) -> list[str]:
    """The schema at head before anything uses it; returns the migrations applied."""
    return await migrate.upgrade(dsn)
