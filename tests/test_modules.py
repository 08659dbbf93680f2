"""Modules plug in by folder: discovery, the derived lists, and a throwaway module that appears everywhere.

The acceptance test writes a whole module — a layer (grantable), its migration, a router, a demo seeder and a job —
under a temporary ``layers/`` folder (outside this repository), then runs a fresh process with that folder on
``PYTHONPATH`` against a database of its own: the module must show in the app, the OGC collections, the tiles,
the back office's grant list, the demo and the jobs without any file outside its folder being edited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from geo import modules
from geo.layer.registry import registry
from geo.settings import ROOT
from tests.conftest import SERVER_URL, _drop_database

MODULE = '''
"""A throwaway module of the test: one point layer, a router, a demo seeder and a job."""
import sqlalchemy as sa
from fastapi import APIRouter

from etl.demo import write_layer
from geo.divisions import district_attr
from geo.layer.registry import Attr, Layer, Style, register
from geo.modules import job, permissions, seeder

register(Layer(
    id="throwaway_points", title="临时测试点", module="throwaway", group="临时模块", geometry="Point",
    attrs=(Attr("code", "编号", required=True, searchable=True, max_length=20), Attr("name", "名称"), district_attr()),
    # The back office lists the layer's permissions under its group.
    style=Style(color="#ff00ff"), view="throwaway.view", edit="throwaway.edit", grantable=True,
))

permissions({"throwaway.count": "清点临时测试点"}, group="临时模块")

router = APIRouter(prefix="/api/throwaway")


@router.get("/hello")
def hello() -> dict:
    return {"module": "throwaway", "says": "你好"}


@seeder(order=99)
def seed(conn, world) -> dict:
    import shapely

    pts = [shapely.Point(120.20, 30.30), shapely.Point(120.21, 30.31), shapely.Point(119.96, 30.05)]
    res = write_layer(conn, "throwaway_points", pts, {"code": ["T1", "T2", "T3"], "name": ["甲", "乙", "丙"]},
                      world.source)
    return {"throwaway_points": res["rows"]}


@job(cron="*/5 * * * *", title="临时模块的任务")
def count_points(conn, now) -> dict:
    n = conn.execute(sa.text("SELECT count(*) FROM throwaway_points")).scalar_one()
    conn.execute(sa.text("UPDATE throwaway_points SET name = name || '·' WHERE code = 'T1'"))
    return {"points": n}
'''

MIGRATION = '''
"""The throwaway module's table: a branch of its own, after the core's scope machinery."""
from alembic import op

from geo.migrations.layer_table import create_layer_table, drop_layer_table, install_change_trigger, \\
    install_scope_policy

revision = "throwaway_0001"
down_revision = None
branch_labels = ("throwaway",)
depends_on = "0009"


def upgrade() -> None:
    create_layer_table("throwaway_points", "Point", "code text NOT NULL UNIQUE, name text, district text")
    install_change_trigger("throwaway_points")
    install_scope_policy("throwaway_points", "district", "throwaway_points", "id")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON throwaway_points TO chengjian_app")


def downgrade() -> None:
    drop_layer_table("throwaway_points")
'''

# Runs in the fresh process: everything it prints is one JSON line the test reads.
PROBE = """
import json, sys
from fastapi.testclient import TestClient

from etl.demo import build_demo
from geo import jobs, modules
from geo.migrate import upgrade

upgrade()
demo = build_demo(farmhouses=0, scale=0.02)
from api.app import create_app

out = {"modules": modules.names(), "demo": demo.get("throwaway_points"),
       "jobs": [j.id for j in modules.jobs()], "job_run": jobs.run_all(module="throwaway")}
with TestClient(create_app()) as c:
    out["hello"] = c.get("/api/throwaway/hello").json()
    out["layers"] = [l["id"] for l in c.get("/api/layers").json()["layers"]]
    out["ogc"] = [x["id"] for x in c.get("/ogc/collections").json()["collections"]]
    tile = c.get("/tiles/throwaway_points/0/0/0.mvt")
    out["tile"] = [tile.status_code, len(tile.content)]
    meta = c.get("/api/admin/meta")
    out["grant_layers"] = [g["id"] for g in meta.json()["grant_layers"]]
    perms = c.get("/api/admin/permissions").json()["items"]
    out["permissions"] = [p for p in perms if p["name"].startswith("throwaway.")]
    items = c.get("/api/layers/throwaway_points/features").json()
    out["names"] = sorted(f["properties"]["name"] for f in items["features"])
print(json.dumps(out, ensure_ascii=False))
"""


def test_the_modules_are_discovered_not_listed():
    assert modules.names() == [
        "credit",
        "divisions",
        "drawing_review",
        "enterprises",
        "greenways",
        "matters",
        "persons",
        "projects",
        "sewage",
        "sites",
        "standard_sites",
        "thematic",
        "villages",
    ]
    owners = {lyr.id: lyr.module for lyr in registry.all()}
    assert owners["sites"] == "sites" and owners["review_projects"] == "drawing_review"
    assert [lyr.id for lyr in registry.grantable()] == ["sites", "review_projects"]
    assert [s.module for s in modules.seeders()] == [
        "enterprises",
        "persons",
        "sites",
        "enterprises",
        "projects",
        "standard_sites",
        "drawing_review",  # the agencies (demo, order 19)
        "drawing_review",  # the lottery's qualifications and ratio tables (demo_lottery, order 20)
        "drawing_review",  # the applications (demo, order 21)
        "drawing_review",  # evaluations (order 23)
        "drawing_review",  # drawings with comments (demo_drawings, order 24)
        "villages",
        "villages",  # houses under construction with their inspections (demo_construction, order 31)
        "villages",  # the archives' gallery and report requests (demo_archives, order 32)
        "villages",  # craftsmen (demo_craftsmen, order 33)
        "villages",  # the dangerous houses (demo_dangerous, order 34)
        "sewage",
        "greenways",
        "credit",
        "thematic",
    ]
    assert {j.id for j in modules.jobs()} == {
        "standard_sites.review_reminders",
        "standard_sites.overdue_site_statuses",
        "credit.rescore_daily",
        "sewage.ensure_partitions",
        "sewage.refresh_status",
        "sewage.refresh_month_values",
        "sewage.evaluate_alarms",
        "sewage.generate_monthly_reports",
        "drawing_review.overdue_pins",
        "villages.monthly_briefs",
    }


def test_the_api_names_no_module():
    from api import app

    assert not any("st_" in name or "mobile" in name for name in app.API_ROUTERS)
    text = (ROOT / "api" / "app.py").read_text() + (ROOT / "etl" / "cli.py").read_text()
    assert "layers." not in text and "standard_sites" not in text


def test_a_throwaway_module_appears_everywhere(tmp_path: Path):
    pkg = tmp_path / "layers" / "throwaway"
    (pkg / "migrations").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(MODULE))
    (pkg / "migrations" / "throwaway_0001.py").write_text(textwrap.dedent(MIGRATION))
    db = f"chengjian_mod_{uuid.uuid4().hex[:8]}"
    url = make_url(SERVER_URL).set(database=db).render_as_string(hide_password=False)
    from geo.cluster import ensure_database

    ensure_database(url)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
        "DATABASE_URL": url,
        "CHENGJIAN_ANONYMOUS_ROLES": "admin",
    }
    try:
        run = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
    finally:
        _drop_database(url)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "throwaway" in out["modules"]
    assert out["hello"] == {"module": "throwaway", "says": "你好"}
    assert "throwaway_points" in out["layers"] and "throwaway_points" in out["ogc"]
    assert out["tile"][0] == 200 and out["tile"][1] > 0
    assert out["grant_layers"] == ["sites", "review_projects", "throwaway_points"]
    assert out["demo"] == 3
    assert {(p["name"], p["title"], p["group"]) for p in out["permissions"]} == {
        ("throwaway.count", "清点临时测试点", "临时模块"),
        ("throwaway.view", "查看临时测试点", "临时模块"),
        ("throwaway.edit", "编辑临时测试点", "临时模块"),
        ("throwaway.import", "导入临时测试点", "临时模块"),
        ("throwaway.export", "导出临时测试点", "临时模块"),
    }
    assert "throwaway.count_points" in out["jobs"] and out["job_run"]["throwaway.count_points"] == {"points": 3}
    assert out["names"] == ["丙", "乙", "甲·"]
    # Nothing of the throwaway module is in this process's registry (it lived in its folder only).
    assert registry.get("throwaway_points") is None


def test_case_declarations_match_the_schema(engine):
    """Every declared case type names columns its table has (a declaration that drifts from the migrations fails)."""
    from sqlalchemy import text

    from geo import cases

    types = cases.all_types()
    assert {c.kind for c in types} >= {
        "st_report",
        "st_bonus",
        "st_evaluation",
        "st_deduction",
        "st_stage",
        "st_notice",
    }
    with engine.connect() as conn:
        for case in types:
            have = set(
                conn.execute(
                    text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"), {"t": case.table}
                ).scalars()
            )
            declared = {c.name for c in case.sa_table.columns}
            assert declared <= have, (case.kind, sorted(declared - have))
            for lk in case.lookups:
                assert lk.key in declared, (case.kind, lk.key)
