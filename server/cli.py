"""`opdq`: the operator's command line (API.md, "Command line").

Configured by the same environment as the server. `dev` starts embedded PostgreSQL and Redis
when DATABASE_URL / REDIS_URL are not set, then runs the web server and a worker together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from datetime import date

import asyncpg

from server.db import setup as setup_db
from server.db.migrate import migration_ids
from server.db.pool import init_db
from server.security.passwords import hash_password
from server.settings import Settings, get_settings

DEMO_CODE = "DEMO"


def _need_db(settings: Settings) -> str:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (`opdq dev` starts an embedded PostgreSQL)")
    return settings.database_url


def cmd_db_migrate(args: argparse.Namespace) -> None:
    """Bring the database to head (server/migrations/); `db init` is the same command."""
    applied = asyncio.run(init_db(_need_db(get_settings())))
    head = migration_ids()[-1]
    print(f"applied {', '.join(applied)}; now at {head}" if applied else f"already at {head}")


async def _create_hospital(dsn: str, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            hid = await setup_db.create_hospital(
                conn, name=args.name, code=args.code, timezone=args.timezone,
                latitude=args.lat, longitude=args.lon, radius_m=args.radius_m,
            )
            await setup_db.create_user(
                conn, hospital_id=hid, username=args.admin_username,
                password_hash=hash_password(args.admin_password), role="admin",
            )
    except asyncpg.UniqueViolationError as exc:
        raise SystemExit(f"already exists: {exc.detail}") from None
    except asyncpg.CheckViolationError as exc:
        raise SystemExit(f"invalid value ({exc.constraint_name}): {exc.detail or exc}") from None
    finally:
        await conn.close()
    print(f"hospital {args.code} created: {hid}")


def cmd_hospital_create(args: argparse.Namespace) -> None:
    dsn = _need_db(get_settings())
    asyncio.run(init_db(dsn))
    asyncio.run(_create_hospital(dsn, args))


def cmd_demo(args: argparse.Namespace) -> None:
    from server.demo import load_demo

    dsn = _need_db(get_settings())
    asyncio.run(init_db(dsn))
    created = asyncio.run(load_demo(dsn, seed=args.seed))
    print("demo hospital loaded" if created else "demo hospital already present")


def cmd_metrics_compute(args: argparse.Namespace) -> None:
    """The daily metrics job for a date range, now (server/reports.py); idempotent."""
    from server.reports import compute_hospitals

    dsn = _need_db(get_settings())
    asyncio.run(init_db(dsn))
    done = asyncio.run(compute_hospitals(dsn, args.first, args.last, args.hospital))
    print(json.dumps({"days": done.get("days", 0), "rows": done.get("rows", 0)}))


def cmd_dev(args: argparse.Namespace) -> None:
    """Supervised by server/supervisor.py; the database steps stay here with the others."""
    from server.demo import DEMO_LOGINS, load_demo
    from server.supervisor import run_dev

    raise SystemExit(run_dev(
        get_settings(), simulate=args.simulate,
        schema=lambda dsn: asyncio.run(init_db(dsn)),
        demo=lambda dsn: asyncio.run(load_demo(dsn)),
        logins=DEMO_LOGINS))


def cmd_simulate(args: argparse.Namespace) -> None:
    """Offline: score the ETA model over seeded days. Live: replay days against a server."""
    if args.live:
        from server.simulate.live import run_live

        try:
            out = asyncio.run(run_live(
                args.base_url or get_settings().base_url, speed=args.speed, seed=args.seed,
                days=1 if args.days is None else args.days, minutes=args.minutes,
                verbose=not args.quiet))
        except KeyboardInterrupt:
            return  # Ctrl-C (or `opdq dev` stopping): nothing half-done worth reporting
        print(json.dumps(out, indent=2))
        return
    from server.simulate.offline import by_position, evaluate, report
    from server.simulate.plan import ClinicConfig

    acc, scored = evaluate(args.days or 50, args.seed, ClinicConfig(doctors=args.doctors))
    print(report(acc))
    print("by position: " + ", ".join(f"{label}: MAE {a.mae:.1f} vs {a.naive_mae:.1f}, "
                                      f"after p90 {a.after_p90:.0%}"
                                      for label, a in by_position(scored)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opdq", description="OPD live queue operations")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("migrate", help="apply the schema migrations not yet applied (at start too)"
                  ).set_defaults(func=cmd_db_migrate)
    db.add_parser("init", help="the same as `db migrate`").set_defaults(func=cmd_db_migrate)

    hosp = sub.add_parser("hospital", help="hospitals").add_subparsers(dest="h_cmd", required=True)
    create = hosp.add_parser("create", help="create a hospital and its first admin")
    create.add_argument("--name", required=True)
    create.add_argument("--code", required=True)
    create.add_argument("--admin-username", required=True)
    create.add_argument("--admin-password", required=True)
    create.add_argument("--lat", type=float)
    create.add_argument("--lon", type=float)
    create.add_argument("--radius-m", type=int, default=300)
    create.add_argument("--timezone", default="Asia/Kolkata")
    create.set_defaults(func=cmd_hospital_create)

    demo = sub.add_parser("demo", help="load the demo hospital (once)")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    metrics = sub.add_parser("metrics", help="daily metrics (reports)").add_subparsers(
        dest="m_cmd", required=True)
    compute = metrics.add_parser("compute", help="compute the daily metrics of a date range")
    compute.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    compute.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    compute.add_argument("--hospital", help="a hospital's code (default: every hospital)")
    compute.set_defaults(func=cmd_metrics_compute)

    dev = sub.add_parser("dev", help="embedded services when unset, web + worker, supervised "
                                     "(restarted if they crash; SIGTERM/Ctrl-C stops all)")
    dev.add_argument("--simulate", action="store_true",
                     help="also run `opdq simulate --live --speed 60` against the demo")
    dev.set_defaults(func=cmd_dev)

    sim = sub.add_parser("simulate", help="simulated clinic days: ETA accuracy, or live traffic")
    sim.add_argument("--live", action="store_true",
                     help="drive a running server through its HTTP API (demo logins)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--days", type=int, default=None,
                     help="offline: days to score (50); live: days to play (1; 0 = forever)")
    sim.add_argument("--doctors", type=int, default=3, help="offline: doctors per department")
    sim.add_argument("--speed", type=float, default=60.0, help="live: speed-up (60 = 1 min/s)")
    sim.add_argument("--minutes", type=float, default=None,
                     help="live: stop after this many simulated minutes")
    sim.add_argument("--base-url", default=None, help="live: the server (default PORT's)")
    sim.add_argument("--quiet", action="store_true", help="live: no line per event")
    sim.set_defaults(func=cmd_simulate)

    from server.risk_cli import register as register_risk
    register_risk(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
