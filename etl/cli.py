"""The ``chengjian`` command line: the same steps ``make run`` takes, one by one."""

from __future__ import annotations

import argparse
import json
import sys


def _db(args: argparse.Namespace) -> int:
    from geo.db import database_url, private_cluster
    from geo.settings import get_settings

    if args.file and args.action not in ("backup", "restore"):
        print(f"chengjian db {args.action} takes no file", file=sys.stderr)
        return 2
    if args.action == "migrate":
        from geo.migrate import assert_leakproof, upgrade

        upgrade()
        print("migrations applied")
        line, ok = assert_leakproof()
        print(line, file=sys.stdout if ok else sys.stderr)
        return 0
    if args.action in ("backup", "restore"):
        return _backup(args)
    if get_settings().database_url:
        if args.action == "url":
            print(database_url())
            return 0
        print("DATABASE_URL is set: the private cluster is not used", file=sys.stderr)
        return 0 if args.action in ("status", "start", "stop") else 1
    cluster = private_cluster()
    if args.action == "start":
        print(cluster.start())
    elif args.action == "stop":
        cluster.stop()
        print("stopped")
    elif args.action == "status":
        print(cluster.status())
    elif args.action == "url":
        print(cluster.url())
    return 0


def _backup(args: argparse.Namespace) -> int:
    import psycopg

    from geo.backup import BackupError, backup, restore
    from geo.cluster import ClusterError

    if not args.file:
        print(f"chengjian db {args.action} FILE: the archive file is missing", file=sys.stderr)
        return 2
    try:
        if args.action == "backup":
            m = backup(args.file)
            print(
                f"backup written to {args.file}: database {m['database']} ({len(m['tables'])} tables, "
                f"{sum(m['tables'].values())} rows), {len(m['files'])} files"
            )
            return 0
        r = restore(args.file)
    except (BackupError, ClusterError, psycopg.Error) as e:
        print(f"{args.action} failed: {e}", file=sys.stderr)
        return 1
    if r["role"]:
        print(r["role"])
    print(
        f"restored {args.file} (made {r['backup_created_at']}) into database {r['database']}: {r['tables']} tables, "
        f"{r['rows']} rows and {r['files']} files, all matching the manifest"
    )
    print(r["leakproof"], file=sys.stdout if r["leakproof_ok"] else sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from etl.accounts_cli import demo_password, ensure_demo_accounts
    from etl.demo import DemoError, build_demo
    from geo.db import admin_transaction

    try:
        counts = build_demo(
            farmhouses=args.farmhouses, seed=args.seed, if_empty=args.if_empty, reset=args.reset, scale=args.scale
        )
    except DemoError as e:
        print(f"演示数据未加载：{e}", file=sys.stderr)
        return 1
    print(json.dumps(counts, ensure_ascii=False))
    with admin_transaction() as conn:
        made = ensure_demo_accounts(conn)
    if made:
        print(f"演示账号：{', '.join(made)}（密码 {demo_password()}，仅用于演示环境）", file=sys.stderr)
    return 0


def _user(args: argparse.Namespace) -> int:
    from etl.accounts_cli import add_user, reset_password

    if args.action == "add":
        return add_user(args.username, args.name, args.role, args.district, args.password, args.phone)
    return reset_password(args.username, args.password)


def _import(args: argparse.Namespace) -> int:
    from etl.transfer_cli import import_file_cli

    return import_file_cli(
        args.file,
        args.layer,
        commit=not args.dry_run,
        crs=args.crs,
        actor=args.user,
        lon=args.lon_column,
        lat=args.lat_column,
        repair=args.repair,
    )


def _export(args: argparse.Namespace) -> int:
    from etl.transfer_cli import export_cli

    return export_cli(args.layer, args.format, args.output, filters=dict(kv.split("=", 1) for kv in args.filter))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from geo.settings import get_settings

    s = get_settings()
    uvicorn.run(
        "api.app:create_app", factory=True, host=args.host or s.host, port=args.port or s.port, workers=args.workers
    )
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from geo import jobs

    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"--now 格式不正确：{args.now}（应为 ISO 时间，如 2026-12-01T09:00:00+08:00）", file=sys.stderr)
            return 2
        now = now if now.tzinfo else now.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    print(json.dumps(jobs.run_all(now), ensure_ascii=False, default=str))
    return 0


def _worker(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import api.tasks  # noqa: F401 - the web layer's tasks (exports, imports) are declared there
    from geo import tasks

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    queues = [q.strip() for q in ",".join(args.queues or []).split(",") if q.strip()] or None
    worker = tasks.run_worker(queues=queues, concurrency=args.concurrency, name=args.name)
    if not args.services:
        asyncio.run(worker)
        return 0
    from geo import modules

    async def guarded(s: modules.Service) -> None:
        log = logging.getLogger("chengjian")
        log.info("service %s.%s started", s.module, s.name)
        try:
            await s.run()
        except Exception:  # one service failing (a port in use) is logged; the worker and the others go on
            log.exception("service %s.%s stopped", s.module, s.name)

    async def everything() -> None:
        running = [asyncio.ensure_future(guarded(s)) for s in modules.services()]
        try:
            await worker
        finally:
            for t in running:
                t.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    asyncio.run(everything())
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chengjian", description="城建 GIS 平台命令行")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="private PostGIS cluster, migrations, backup and restore")
    db.add_argument("action", choices=["start", "stop", "status", "url", "migrate", "backup", "restore"])
    db.add_argument("file", nargs="?", help="backup/restore: the archive (database dump + uploaded files)")
    db.set_defaults(func=_db)

    demo = sub.add_parser("demo", help="load the Hangzhou demo data set")
    demo.add_argument("--farmhouses", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=20261125)
    demo.add_argument("--if-empty", action="store_true", help="do nothing when data is already loaded")
    demo.add_argument("--reset", action="store_true", help="delete the business layers first")
    demo.add_argument("--scale", type=float, default=1.0, help="of the registers' city volumes (tests load less)")
    demo.set_defaults(func=_demo)

    imp = sub.add_parser("import", help="import a file into a layer (dry run report, then commit)")
    imp.add_argument("file")
    imp.add_argument("--layer", required=True)
    imp.add_argument("--crs", default="EPSG:4326", help="EPSG:4326, EPSG:4490, EPSG:4549 or GCJ02")
    imp.add_argument("--dry-run", action="store_true", help="report only, store nothing")
    imp.add_argument("--user", default="cli")
    imp.add_argument("--lon-column")
    imp.add_argument("--lat-column")
    imp.add_argument(
        "--make-valid",
        "--repair",
        dest="repair",
        action="store_true",
        help="repair invalid geometries (make_valid, keeping the layer's geometry type) and report each repaired row",
    )
    imp.set_defaults(func=_import)

    exp = sub.add_parser("export", help="export a layer")
    exp.add_argument("--layer", required=True)
    exp.add_argument("--format", required=True, choices=["geojson", "gpkg", "shp", "kml", "csv", "xlsx"])
    exp.add_argument("--output", "-o", help="file to write (default: <layer>.<ext>)")
    exp.add_argument("--filter", action="append", default=[], help="attribute=value, repeatable")
    exp.set_defaults(func=_export)

    user = sub.add_parser("user", help="accounts: add a user (e.g. the first administrator), reset a password")
    user.add_argument("action", choices=["add", "passwd"])
    user.add_argument("username")
    user.add_argument("--role", action="append", default=[], help="role name, repeatable (add)")
    user.add_argument("--name", help="display name (add)")
    user.add_argument("--district", help="district of district/county staff (add)")
    user.add_argument("--phone", help="mobile number (add)")
    user.add_argument("--password", help="the password (asked for when omitted)")
    user.set_defaults(func=_user)

    jobs = sub.add_parser("jobs", help="scheduled jobs (SMS reminders before review deadlines)")
    jobs.add_argument("action", choices=["run"])
    jobs.add_argument("--now", help="run as of this time (ISO 8601; Beijing time when no offset is given)")
    jobs.set_defaults(func=_jobs)

    worker = sub.add_parser("worker", help="run a task-queue worker: scheduled jobs, exports, imports (Ctrl-C stops)")
    worker.add_argument("--concurrency", type=int, help="jobs run at once (default: CHENGJIAN_WORKER_CONCURRENCY)")
    worker.add_argument(
        "--queues", action="append", help="queues to take jobs from, comma-separated (default: all; jobs, default)"
    )
    worker.add_argument("--name", help="worker name in the logs and the queue's worker table")
    worker.add_argument("--verbose", "-v", action="store_true", help="log the queue's own debug messages")
    worker.add_argument(
        "--services", action="store_true", help="also run the modules' long-running services (the HJ 212 listener …)"
    )
    worker.set_defaults(func=_worker)

    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)

    from geo import modules

    for c in modules.commands():  # the modules' own commands (geo.modules.command)
        if c.name in sub.choices:
            p.error(f"module {c.module} declares the command {c.name!r}, which is taken")
        c.configure(sub.add_parser(c.name, help=c.help))

    args = p.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
