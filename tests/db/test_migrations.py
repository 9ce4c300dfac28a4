"""Migrations: every way a database reaches head gives exactly the schema schema.sql gives.

The comparison is `pg_dump --schema-only` of scratch databases on the suite's server, with
only what is not schema dropped (comments, SET lines, yoyo's own tables). A change to
schema.sql without its migration in server/migrations/ fails here (docs/migrations.md).
"""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from yoyo import get_backend

from server.db import migrate
from server.db.pool import apply_schema
from tests.conftest import Services

ROOT = Path(__file__).resolve().parents[2]
# What installed hospitals have: schema.sql applied directly at every start, as of the first
# release (6859706, the baseline verbatim) or of the last release before migrations (574a97a:
# the baseline plus 0002, which is the lines schema.sql gained in between). Later migrations
# need not be idempotent: no database made without migrations can be past 0002.
LEGACY = {
    "first release": ["0001_baseline"],
    "last release before migrations": ["0001_baseline", "0002_announce_after_commit"],
}

Scratch = Callable[[], Awaitable[str]]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def scratch(services: Services) -> AsyncIterator[Scratch]:
    """Makes empty databases on the suite's server; drops them afterwards."""
    admin = await asyncpg.connect(services.database_url)
    names: list[str] = []

    async def make() -> str:
        name = f"opdq_mig_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return _with_database(services.database_url, name)

    try:
        yield make
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _major(version_text: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version_text)
    assert match, version_text
    return int(match.group(1))


def _pg_dump_for(server_major: int) -> str:
    """A pg_dump at least as new as the server: pgserver's own (16), the system's, or any
    /usr/lib/postgresql/N. pg_dump refuses a server newer than itself."""
    spec = importlib.util.find_spec("pgserver")
    candidates = []
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump")
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)
    candidates += [Path(p) for p in [shutil.which("pg_dump")] if p]
    found = []
    for path in candidates:
        if path.is_file():
            out = subprocess.run([str(path), "--version"], capture_output=True, text=True)
            found.append(f"{path}: {out.stdout.strip()}")
            if out.returncode == 0 and _major(out.stdout.split(")")[-1]) >= server_major:
                return str(path)
    raise AssertionError(f"no pg_dump for PostgreSQL {server_major}; found {found}")


async def _schema_dump(url: str) -> list[str]:
    """The database's schema as pg_dump prints it, one statement per item, minus what is
    not schema: comments, SET lines, psql meta-commands, yoyo's bookkeeping tables."""
    conn = await asyncpg.connect(url)
    try:
        server_major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    out = await asyncio.to_thread(
        subprocess.run, [_pg_dump_for(server_major), "--schema-only", "--no-owner",
                         "--no-privileges", f"--dbname={url}"],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    statements, current = [], []
    for line in out.stdout.splitlines():
        if not line.strip() or line.startswith(("--", "\\")):  # \restrict keys differ per run
            continue
        current.append(line)
        if line.endswith(";"):
            statements.append("\n".join(current))
            current = []
    return [s for s in statements
            if not s.startswith(("SET ", "SELECT pg_catalog.set_config")) and "yoyo" not in s
            and not _STAMP.fullmatch(s)]


# a patched PostgreSQL 15 seen on a development machine stamps every column with this option,
# a different number per database: not schema (stock PostgreSQL has no such option)
_STAMP = re.compile(r"ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \(pg_attver=\d+\);")


async def _reference(scratch: Scratch) -> list[str]:
    """What schema.sql alone gives."""
    url = await scratch()
    conn = await asyncpg.connect(url)
    try:
        await apply_schema(conn)
    finally:
        await conn.close()
    return await _schema_dump(url)


def _assert_same_schema(got: list[str], want: list[str]) -> None:
    if got != want:
        diff = "\n".join(difflib.unified_diff(
            "\n".join(want).splitlines(), "\n".join(got).splitlines(),
            "schema.sql", "server/migrations/", lineterm=""))
        raise AssertionError("migrating to head does not give schema.sql's schema; each change "
                             "to schema.sql needs its migration (docs/migrations.md):\n" + diff)


async def _applied(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return sorted(await migrate.applied_ids(conn))
    finally:
        await conn.close()


async def test_an_empty_database_migrated_to_head_is_schema_sql(scratch: Scratch) -> None:
    want = await _reference(scratch)
    url = await scratch()
    assert await migrate.upgrade(url) == migrate.migration_ids()
    got = await _schema_dump(url)
    assert len(got) > 100 and any("CREATE TABLE public.tokens" in s for s in got)
    _assert_same_schema(got, want)


async def test_head_applied_again_changes_nothing(scratch: Scratch) -> None:
    url = await scratch()
    await migrate.upgrade(url)
    before = await _schema_dump(url)
    assert await migrate.upgrade(url) == []
    # and yoyo itself, past the quick "already at head" check, finds nothing to do
    assert await asyncio.to_thread(migrate.apply, url) == []
    assert await _schema_dump(url) == before
    assert await _applied(url) == migrate.migration_ids()


@pytest.mark.parametrize("legacy", LEGACY)
async def test_a_database_made_from_schema_sql_is_adopted_with_its_rows(
    scratch: Scratch, legacy: str
) -> None:
    want = await _reference(scratch)
    url = await scratch()
    conn = await asyncpg.connect(url)
    try:
        for version in LEGACY[legacy]:
            await apply_schema(conn, (migrate.MIGRATIONS_DIR / f"{version}.sql").read_text())
        hid = await conn.fetchval(
            "INSERT INTO hospitals (name, code) VALUES ('Civil', 'CIVIL') RETURNING id")
        await conn.execute(
            """INSERT INTO idempotency_records (scope, key, request_hash, status_code)
               VALUES ('u:1', 'k-1', '\\x00', 201)""")
    finally:
        await conn.close()

    applied = await migrate.upgrade(url)

    assert applied == migrate.migration_ids()[1:]  # the baseline is marked, not run
    assert await _applied(url) == migrate.migration_ids()
    _assert_same_schema(await _schema_dump(url), want)
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT code FROM hospitals WHERE id = $1", hid) == "CIVIL"
        assert await conn.fetchval(
            "SELECT unanswered FROM idempotency_records WHERE key = 'k-1'") is False
    finally:
        await conn.close()


async def test_two_processes_starting_at_once_apply_each_migration_once(
    scratch: Scratch,
) -> None:
    url = await scratch()
    results = await asyncio.gather(*(asyncio.to_thread(migrate.apply, url) for _ in range(2)))
    assert sorted(results) == [[], migrate.migration_ids()]
    assert await _applied(url) == migrate.migration_ids()


async def test_a_lock_left_by_a_killed_migrator_does_not_block_the_next_start(
    scratch: Scratch,
) -> None:
    url = await scratch()
    backend = get_backend(migrate.yoyo_uri(url))  # creates yoyo's lock table
    try:  # what a migrator killed with SIGKILL leaves behind
        backend.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    finally:
        backend.connection.close()
    started = time.monotonic()
    assert await migrate.upgrade(url) == migrate.migration_ids()
    assert time.monotonic() - started < 5  # yoyo alone would wait 10 s, then refuse


async def test_opdq_db_migrate_reports_what_it_applied(scratch: Scratch) -> None:
    url = await scratch()
    env = {**os.environ, "DATABASE_URL": url}
    head = migrate.migration_ids()[-1]

    def opdq(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]  # the answer, after the log's lines

    first = await asyncio.to_thread(opdq, "db", "migrate")
    assert first == f"applied {', '.join(migrate.migration_ids())}; now at {head}"
    assert await asyncio.to_thread(opdq, "db", "init") == f"already at {head}"


async def test_0015_copies_what_todays_waiting_patients_were_shown(scratch: Scratch) -> None:
    """Upgrading in the middle of a day keeps the long-wait alert's input: the position and
    ETA each waiting patient was shown move to token_eta_shown; other tokens are not copied."""
    url = await scratch()
    conn = await asyncpg.connect(url)
    try:
        for version in migrate.migration_ids():
            if version.startswith("0015"):
                break
            await apply_schema(conn, (migrate.MIGRATIONS_DIR / f"{version}.sql").read_text())
        h = await conn.fetchval(
            "INSERT INTO hospitals (name, code) VALUES ('Civil', 'CIVIL') RETURNING id")
        dep = await conn.fetchval("INSERT INTO departments (hospital_id, name, code) "
                                  "VALUES ($1, 'Cardiology', 'CARD') RETURNING id", h)
        pat = await conn.fetchval("INSERT INTO patients (hospital_id, uhid, name, phone) "
                                  "VALUES ($1, 'UH001', 'A B', '+919876500001') RETURNING id", h)
        shown_at = await conn.fetchval("SELECT date_trunc('second', now())")
        ids = {}
        for seq, status, pos in ((1, "WAITING", 2), (2, "COMPLETED", 1), (3, "WAITING", None)):
            ids[seq] = await conn.fetchval(
                """INSERT INTO tokens (hospital_id, department_id, patient_id, service_date,
                       seq, number, booking_type, status, public_code, position, eta_p50_min,
                       eta_p90_min, eta_updated_at)
                   VALUES ($1, $2, $3, current_date, $4::int, 'CARD-00' || $4::text,
                           'WALK_IN', $5, 'code' || $4::text, $6, 12, 30, $7) RETURNING id""",
                h, dep, pat, seq, status, pos, shown_at)
        await apply_schema(conn, (migrate.MIGRATIONS_DIR / "0015_eta_shown.sql").read_text())
        rows = await conn.fetch("SELECT * FROM token_eta_shown")
        assert [dict(r) for r in rows] == [{
            "token_id": ids[1], "position": 2, "eta_p50_min": 12, "eta_p90_min": 30,
            "shown_at": shown_at}]
    finally:
        await conn.close()
