"""The asyncpg pool and the idempotent schema apply."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema.sql"
SCHEMA_SQL = SCHEMA_PATH.read_text()  # read once at import: no file I/O on the event loop
# one arbitrary constant: concurrent `db init` runs (two web processes starting) take turns
_SCHEMA_LOCK = 0x0DB_1417


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10,
                      application_name: str = "opdq") -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        command_timeout=30, server_settings={"application_name": application_name},
    )
    assert pool is not None
    return pool


async def apply_schema(conn: asyncpg.Connection, sql: str = SCHEMA_SQL) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute("SET LOCAL client_min_messages = warning")
        await conn.execute(sql)


async def init_db(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_schema(conn)
    finally:
        await conn.close()
