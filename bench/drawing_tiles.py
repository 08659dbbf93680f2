"""Deep-zoom tiles of a drawing sheet (issue 13: a pyramid tile p95 ≤ 20 ms), beside reading the same files from disk.

A generated A0 drawing (``layers.drawing_review.demo_drawings.drawing_pdf``) is stored as a drawing set of a fresh
application and rendered to its pyramid at 300 dpi (14,043 × 9,933 pixels), then its tiles are fetched in random order
over real HTTP from the app under uvicorn (routing, authentication with a bearer token, the row-level-security check
of the sheet, the file response) by a design unit's account that sees only this project, one request at a time on a
kept-alive connection; the raw side opens and reads the same tile files, and ``/healthz`` on the same connection gives
the server's floor (what any request costs on this machine). Prints and returns p50/p95 of each.

    .venv/bin/python -m bench.drawing_tiles                                  # a scratch database
    .venv/bin/python -m bench.drawing_tiles --url postgresql+psycopg://…/db  # a migrated database
    .venv/bin/python -m bench.drawing_tiles --requests 50 --dpi 72           # a quick check

``measure(url, conn)`` is the same run for another bench (``bench/drawing_review.py``) on its database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection

TARGET_MS = 20.0


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def _uscc() -> str:
    from stdnum.cn import uscc

    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91330106" + "".join(secrets.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def _application(conn: Connection) -> dict:
    """A bench application (its pin, builder and design unit), written with ``conn``."""
    tag = secrets.token_hex(3)
    builder, designer = _uscc(), _uscc()
    for code, name in ((builder, f"基准测试建设单位{tag}"), (designer, f"基准测试设计院{tag}")):
        conn.execute(sa.text("INSERT INTO enterprises (uscc, name) VALUES (:u, :n)"), {"u": code, "n": name})
    pin = conn.execute(
        sa.text(
            "INSERT INTO review_projects (code, name, district, status, geom) "
            "VALUES (:c, :n, '西湖区', '审查中', ST_SetSRID(ST_MakePoint(120.13, 30.27), 4326)) RETURNING id"
        ),
        {"c": f"BENCH-{tag}", "n": f"基准测试项目{tag}"},
    ).scalar_one()
    app_id = conn.execute(
        sa.text(
            "INSERT INTO dr_applications (application_no, review_project_id, project_code, name, submission_name, "
            "builder_uscc, designer_uscc, review_category, grade, contents, district, status, round_no) "
            "VALUES (:no, :pin, :code, :name, '施工图送审', :b, :d, '房屋建筑', '一类', ARRAY['general'], '西湖区', "
            "'reviewing', 1) RETURNING id"
        ),
        {
            "no": f"BENCH-{tag}",
            "pin": pin,
            "code": f"BENCH-{tag}",
            "name": f"基准测试项目{tag}",
            "b": builder,
            "d": designer,
        },
    ).scalar_one()
    return {"id": app_id, "pin": pin, "tag": tag}


def _bearer(pin: int, tag: str) -> dict[str, str]:
    """A design unit's account granted only the bench project (row-level security on), with a bearer session."""
    from starlette.requests import Request

    from api.accounts import sessions, users
    from geo.db import transaction

    with transaction() as conn:
        uid = users.create_user(
            conn,
            f"bench-drawings-{tag}",
            "基准测试设计院",
            ["design_unit"],
            password=f"Bench-{tag}-2026",
            actor="bench",
        )
        users.grant(conn, uid, "review_projects", pin, "bench", actor="bench")
        req = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": ("127.0.0.1", 1)})
        token, _, _ = sessions.start(conn, uid, req, "bench", "bearer")
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def _server():
    import uvicorn

    from api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _use_database(url: str) -> None:
    from geo import tasks
    from geo.db import reset_engine
    from geo.settings import get_settings

    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    reset_engine()
    tasks.reset()


def measure(
    url: str, conn: Connection | None = None, requests: int = 500, dpi: int = 300, size: str = "A0", seed: int = 1
) -> dict:
    """Tile p50/p95 through the HTTP route and reading the same files, for one sheet rendered at ``dpi``.

    ``url`` is the database to work in (migrated); ``conn``, when given, writes the bench's application (committed
    by its owner before the tiles are fetched: pass an autocommit connection or commit it), else the app's own
    transaction does. Tiles are the top three levels' (what a reviewer zooms through), ``requests`` of them."""
    import httpx

    from geo.db import transaction
    from layers.drawing_review import drawings, pyramid
    from layers.drawing_review.demo_drawings import drawing_pdf

    os.environ.setdefault("CHENGJIAN_FILES_DIR", tempfile.mkdtemp(prefix="bench-drawings-"))
    _use_database(url)
    if conn is not None:
        app = _application(conn)
        if conn.in_transaction():
            conn.commit()
    else:
        with transaction() as own:
            app = _application(own)
    started = time.perf_counter()
    with transaction() as own:
        made = drawings.add_set(own, "bench", app["id"], 1, None, "architecture", "基准测试.pdf", drawing_pdf(1, size))
    rendered = pyramid.render_set(made["id"], dpi=dpi)
    render_s = time.perf_counter() - started
    assert rendered["status"] == "ready", rendered
    with transaction() as own:
        sheet = pyramid.sheets_of(own, made["id"])[0]
    top = pyramid.Pyramid(sheet["pyramid"], sheet["width_px"], sheet["height_px"], dpi).levels - 1
    folder = pyramid.pyramid_dir(sheet["pyramid"]) / "pyr_files"
    tiles = [(lv, p.stem) for lv in (top - 2, top - 1, top) for p in (folder / str(lv)).glob("*.jpg")]
    rng = random.Random(seed)
    picks = [tiles[rng.randrange(len(tiles))] for _ in range(requests)]
    headers = _bearer(app["pin"], app["tag"])

    route: list[float] = []
    raw: list[float] = []
    floor: list[float] = []
    with _server() as base, httpx.Client(base_url=base, headers=headers) as client:
        for lv, name in picks[: min(20, len(picks))]:  # warm-up: connections, caches
            client.get(f"/api/review/sheets/{sheet['id']}/tiles/{lv}/{name}.jpg")
        for lv, name in picks:
            t0 = time.perf_counter()
            r = client.get(f"/api/review/sheets/{sheet['id']}/tiles/{lv}/{name}.jpg")
            route.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", (r.status_code, r.text[:200])
            t0 = time.perf_counter()
            Path(folder / str(lv) / f"{name}.jpg").read_bytes()
            raw.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            client.get("/healthz")
            floor.append((time.perf_counter() - t0) * 1000)
    return {
        "sheet": f"{size} at {dpi} dpi: {sheet['width_px']}×{sheet['height_px']} px, {len(tiles)} tiles in the top 3 levels",
        "render_s": round(render_s, 1),
        "requests": requests,
        "route_p50_ms": round(pct(route, 50), 2),
        "route_p95_ms": round(pct(route, 95), 2),
        "file_p50_ms": round(pct(raw, 50), 3),
        "file_p95_ms": round(pct(raw, 95), 3),
        "healthz_p50_ms": round(pct(floor, 50), 2),
        "healthz_p95_ms": round(pct(floor, 95), 2),
        "target_p95_ms": TARGET_MS,
        "met": pct(route, 95) <= TARGET_MS,
    }


def report(out: dict) -> None:
    print(f"drawing tiles — {out['sheet']} (rendered in {out['render_s']} s), {out['requests']} requests")
    print(
        f"  HTTP route   p50 {out['route_p50_ms']:7.2f} ms   p95 {out['route_p95_ms']:7.2f} ms   target ≤ {TARGET_MS:g} ms"
    )
    print(f"  file read    p50 {out['file_p50_ms']:7.3f} ms   p95 {out['file_p95_ms']:7.3f} ms")
    print(
        f"  /healthz     p50 {out['healthz_p50_ms']:7.2f} ms   p95 {out['healthz_p95_ms']:7.2f} ms   (the server's floor)"
    )
    print("  target met" if out["met"] else "  TARGET MISSED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a migrated database (default: a scratch database, dropped afterwards)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--size", choices=("A0", "A1"), default="A0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-drawings-") as files_dir:
        os.environ["CHENGJIAN_FILES_DIR"] = files_dir
        if args.url:
            report(measure(args.url, requests=args.requests, dpi=args.dpi, size=args.size))
        else:
            from bench.common import scratch_database

            with scratch_database("bench_drawings") as url:
                report(measure(url, requests=args.requests, dpi=args.dpi, size=args.size))
                from geo.db import reset_engine

                reset_engine()


if __name__ == "__main__":
    main()
