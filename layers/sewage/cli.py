"""``chengjian sewage …``: the HJ 212 listener, the simulator, partitions; and the module's services for
``chengjian worker --services`` (``make run``): the listener, and the demo simulator when
``CHENGJIAN_HJ212_DEMO_MONITORS`` asks for one."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date

import sqlalchemy as sa

from geo.modules import command, service
from layers.sewage.settings import hj212_settings

DEMO_MN_PREFIX = "3301SW"


def demo_sims(limit: int) -> list:
    """The first ``limit`` demo monitors (their PW follows the demo rule), flow scaled to the facility."""
    from geo.db import admin_transaction
    from layers.sewage.simulator import Sim, demo_password

    with admin_transaction() as conn:
        known = conn.execute(
            sa.text("SELECT 1 FROM sewage_monitors WHERE mn LIKE :p LIMIT 1"), {"p": DEMO_MN_PREFIX + "%"}
        )
        if known.first() is None:  # a demo loaded before facilities had monitors: give them theirs
            from layers.sewage.demo import seed_monitors

            seed_monitors(conn)
        rows = conn.execute(
            sa.text(
                "SELECT m.mn, coalesce(p.capacity_t_d, 1000) AS cap FROM sewage_monitors m "
                "JOIN sewage_plants p ON p.id = m.plant_id WHERE m.mn LIKE :p AND m.active ORDER BY m.id LIMIT :n"
            ),
            {"p": DEMO_MN_PREFIX + "%", "n": limit},
        ).all()
    return [Sim(r.mn, demo_password(r.mn), r.cap * 1000 / 86400) for r in rows]


@service("hj212_listener")
async def listener_service() -> None:
    from layers.sewage.listener import listen

    await listen()


@service("demo_simulator")
async def demo_simulator_service() -> None:
    s = hj212_settings()
    if not s.demo_monitors:
        return
    from layers.sewage.simulator import simulate

    await asyncio.sleep(3)  # the listener first
    sims = await asyncio.to_thread(demo_sims, s.demo_monitors)
    logging.getLogger("chengjian.sewage").info("demo simulator: %d monitors every %s s", len(sims), s.demo_interval_s)
    await simulate("127.0.0.1", s.port, sims, s.demo_interval_s)


def _listen(args: argparse.Namespace) -> int:
    from layers.sewage.listener import listen

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(listen(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from layers.sewage.simulator import simulate

    sims = demo_sims(args.monitors)
    if len(sims) < args.monitors:
        print(f"只有 {len(sims)} 台演示监测设备（先运行 chengjian demo）", file=sys.stderr)
        if not sims:
            return 1
    s = hj212_settings()
    print(f"simulating {len(sims)} monitors every {args.interval} s to {args.host}:{args.port or s.port}")
    try:
        asyncio.run(simulate(args.host, args.port or s.port, sims, args.interval, args.seed))
    except KeyboardInterrupt:
        pass
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from geo.db import admin_transaction

    with admin_transaction() as conn:
        if args.action == "detach":
            if not args.before:
                print("chengjian sewage detach --before YYYY-MM-DD", file=sys.stderr)
                return 2
            names = conn.execute(sa.text("SELECT sewage_detach_partitions(:d)"), {"d": args.before}).scalars().all()
            print(f"detached {len(names)} partitions: {', '.join(names) or '-'} (tables kept; drop or archive them)")
        else:
            names = (
                conn.execute(sa.text("SELECT sewage_ensure_partitions(:d, :n)"), {"d": date.today(), "n": args.months})
                .scalars()
                .all()
            )
            print(f"created {len(names)} partitions: {', '.join(names) or '-'}")
    return 0


@command("sewage", help="sewage facilities: HJ 212 listener, simulator, readings' partitions")
def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sewage_command", required=True)
    listen = sub.add_parser("listen", help="run the HJ 212-2017 TCP listener")
    listen.add_argument("--host")
    listen.add_argument("--port", type=int, help="default: CHENGJIAN_HJ212_PORT (9212)")
    listen.set_defaults(func=_listen)
    sim = sub.add_parser("simulate", help="simulate the demo's online monitors over TCP")
    sim.add_argument("--monitors", type=int, default=20)
    sim.add_argument("--interval", type=float, default=10.0, help="seconds between packets of one monitor")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int)
    sim.add_argument("--seed", type=int, default=7)
    sim.set_defaults(func=_simulate)
    part = sub.add_parser("partitions", help="create monthly partitions ahead, or detach old ones")
    part.add_argument("action", choices=["create", "detach"])
    part.add_argument("--before", type=date.fromisoformat, help="detach: partitions whose month ends by this day")
    part.add_argument("--months", type=int, default=3, help="create: this month and the next ones")
    part.set_defaults(func=_partitions)
