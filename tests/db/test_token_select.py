"""TOKEN_SELECT names tokens' columns one by one (the superseded position / eta_* left out),
so a column added to the table must be added there too, or every token row lacks it."""

from __future__ import annotations

import asyncpg

from server.db.tokens import TOKEN_COLUMNS

SUPERSEDED = {"position", "eta_p50_min", "eta_p90_min", "eta_updated_at"}  # token_eta_shown


async def test_token_select_reads_every_live_column_of_tokens(pool: asyncpg.Pool) -> None:
    table = await pool.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'tokens' ORDER BY ordinal_position")
    listed = [c.strip().removeprefix("t.") for c in TOKEN_COLUMNS.split(",")]
    assert listed == [r["column_name"] for r in table if r["column_name"] not in SUPERSEDED]
