"""The task queue: real ``chengjian worker`` processes against the test database run a user's export (progress and
file through the API, invisible to another user), the modules' scheduled jobs once per period with two workers,
retries, and a module's own task; the migration installs procrastinate's schema idempotently and drops it."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import make_url

from geo import modules, tasks
from geo.settings import ROOT
from tests.conftest import ADMIN, LEADER, SERVER_URL, TEST_URL, _drop_database, make_user
from tests.test_import_export import FARM, FARM_ROWS, csv_bytes, load

DEADLINE_S = 120  # how long a test waits for a worker before failing (not a timing assertion)


def wait_for(what: str, check, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def worker(tmp_path: Path, name: str, *args: str, pythonpath: list[str] = (), env: dict | None = None):
    """A ``chengjian worker`` subprocess on the test database; yields its log file; stopped with SIGINT."""
    log = tmp_path / f"{name}.log"
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *pythonpath]),
        "DATABASE_URL": TEST_URL,
        **(env or {}),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "etl.cli", "worker", "--name", name, *args],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]


@pytest.fixture()
def queue(engine):
    """An empty queue (jobs, periodic defers, runs) before the test."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE procrastinate_jobs, procrastinate_periodic_defers, task_runs CASCADE"))
    yield


def run_of(client, run_id, headers):
    r = client.get(f"/api/tasks/{run_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_export_runs_in_a_worker_as_its_owner(client, engine, clean, queue, tmp_path):
    load(engine, FARM, FARM_ROWS)  # FH-001 lies in 西湖区, the two others elsewhere
    staff = make_user("task-staff-xihu", ["district_staff"], district="西湖区")
    other = make_user("task-staff-other", ["district_staff"], district="西湖区")

    r = client.post("/api/layers/farmhouses/export-jobs", params={"format": "geojson"}, headers=staff)
    assert r.status_code == 202, r.text
    run = r.json()
    assert r.headers["location"] == f"/api/tasks/{run['id']}"
    assert run["status"] == "queued" and run["status_text"] == "排队中" and run["download"] is None
    assert run["title"] == "导出「农房」（GEOJSON）" and run["progress"] == {"done": 0, "total": None, "percent": 0}
    # Not started yet: no worker runs.
    assert client.get(f"/api/tasks/{run['id']}/result", headers=staff).status_code == 409

    # Another user sees nothing of it; an administrator sees it among everyone's.
    assert client.get(f"/api/tasks/{run['id']}", headers=other).status_code == 404
    assert client.get(f"/api/tasks/{run['id']}/result", headers=other).status_code == 404
    assert [t["id"] for t in client.get("/api/tasks", headers=other).json()["tasks"]] == []
    assert client.get("/api/tasks", params={"all": "true"}, headers=other).status_code == 403
    assert run["id"] in [
        t["id"] for t in client.get("/api/tasks", params={"all": "true"}, headers=ADMIN).json()["tasks"]
    ]
    assert client.get("/api/tasks").status_code == 401
    shp = client.post("/api/layers/farmhouses/export-jobs", params={"format": "shp"}, headers=staff).json()

    with worker(tmp_path, "w-export", "--queues", "default") as log:
        done = wait_for(
            "the export", lambda: (x := run_of(client, run["id"], staff))["status"] in ("done", "failed") and x
        )
        shp = wait_for(
            "the shapefile export",
            lambda: (x := run_of(client, shp["id"], staff))["status"] in ("done", "failed") and x,
        )
    assert done["status"] == "done", (done, log.read_text(errors="replace")[-3000:])
    # The worker read with the owner's data scope: only 西湖区's farmhouse.
    assert done["result"] == {"layer": "farmhouses", "format": "geojson", "rows": 1}
    assert done["progress"] == {"done": 1, "total": 1, "percent": 100}
    assert done["started_at"] and done["finished_at"] and done["download"] == f"/api/tasks/{run['id']}/result"
    mine = client.get("/api/tasks", headers=staff).json()["tasks"]
    assert sorted(t["id"] for t in mine) == sorted([run["id"], shp["id"]])
    # What the Shapefile had to cut is said in the run's result (「我的任务」 shows it) and in the zip.
    assert shp["status"] == "done" and shp["result"]["rows"] == 1
    assert any("字段名超过 10 个字符" in n for n in shp["result"]["notes"]), shp["result"]
    assert any("GeoPackage" in n for n in shp["result"]["notes"])

    f = client.get(done["download"], headers=staff)
    assert f.status_code == 200 and f.headers["content-type"].startswith("application/geo+json")
    assert "filename*=UTF-8''" in f.headers["content-disposition"]
    assert [x["properties"]["code"] for x in f.json()["features"]] == ["FH-001"]
    assert client.get(done["download"], headers=other).status_code == 404
    assert client.get(done["download"], headers=ADMIN).status_code == 200
    with engine.connect() as conn:
        audited = conn.execute(text("SELECT actor, after FROM audit_log WHERE action = 'export'")).all()
        status = conn.execute(text("SELECT status FROM procrastinate_jobs WHERE task_name = 'layer_export'")).scalars()
    assert sorted((a, e["format"], e["rows"]) for a, e in audited) == [
        ("task-staff-xihu", "geojson", 1),
        ("task-staff-xihu", "shp", 1),
    ]
    assert set(status) == {"succeeded"}


def test_export_reports_progress_batch_by_batch(engine, clean):
    """An export with a progress callback counts the selection, then reports after every batch it reads."""
    import numpy as np

    from geo.layer import exporter, store

    n = exporter.BATCH + 1234
    rng = np.random.default_rng(7)
    rows = [((120.10 + x, 30.25 + y), {"code": f"P-{i}"}) for i, (x, y) in enumerate(rng.uniform(0, 0.05, (n, 2)))]
    load(engine, FARM, rows)
    seen = []
    with engine.begin() as conn:
        out = exporter.export(conn, FARM, store.Query(), "csv", "test", progress=lambda d, t: seen.append((d, t)))
    assert out.rows == n and seen == [(0, n), (exporter.BATCH, n), (n, n)]


def test_export_job_checks_like_the_synchronous_route(client, queue):
    r = client.post("/api/layers/farmhouses/export-jobs", params={"format": "dxf"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "invalid_format"
    r = client.post("/api/layers/farmhouses/export-jobs", params={"owner_name": "张三"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "not_filterable"
    public = make_user("task-public", ["public"])
    assert client.post("/api/layers/farmhouses/export-jobs", headers=public).status_code == 403
    assert client.post("/api/layers/farmhouses/export-jobs").status_code == 401
    with sa.create_engine(TEST_URL).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM task_runs")).scalar() == 0


def test_import_commit_runs_in_a_worker(client, engine, clean, queue, tmp_path):
    good = csv_bytes(
        ["农房编号,户主姓名,经度,纬度", "N-1,王五,120.1234567,30.2598765", "N-2,赵六,120.1701234,30.2801111"]
    )
    bad = csv_bytes(["农房编号,户主姓名,经度,纬度", "N-3,孙七,120.1234567,30.2598765", "N-4,周八,200,30.28"])
    ids = []
    for name, data in (("好.csv", good), ("坏.csv", bad)):
        r = client.post("/api/layers/farmhouses/import-jobs", headers=ADMIN, files={"file": (name, data, "text/csv")})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    assert (
        client.post(
            "/api/layers/farmhouses/import-jobs", headers=LEADER, files={"file": ("x.csv", good, "text/csv")}
        ).status_code
        == 403
    )  # leaders read and export, they do not edit
    with worker(tmp_path, "w-import"):
        ok, rejected = (
            wait_for("the imports", lambda i=i: (x := run_of(client, i, ADMIN))["status"] in ("done", "failed") and x)
            for i in ids
        )
    assert ok["status"] == "done" and ok["result"]["committed"]["rows"] == 2, ok
    assert ok["progress"] == {"done": 2, "total": 2, "percent": 100} and ok["download"] is None
    assert rejected["status"] == "failed" and "未导入任何数据" in rejected["error"]
    assert rejected["result"]["rejected"] == 1 and rejected["result"]["errors"][0]["row"] == 3
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT code FROM farmhouses ORDER BY code")).scalars().all()
        inputs = conn.execute(text("SELECT count(*) FROM task_runs WHERE input IS NOT NULL")).scalar()
    assert codes == ["N-1", "N-2"] and inputs == 1  # a finished run drops its upload; the failed one keeps it


def test_every_job_is_a_periodic_task():
    app = tasks.app()
    periodic = {(p.task.name, p.periodic_id, p.cron) for p in app.periodic_registry.periodic_tasks.values()}
    declared = modules.jobs()
    assert declared  # the site module's reminders and overdue statuses at least
    for job in declared:
        assert (f"job:{job.id}", job.id, job.cron) in periodic
        t = app.tasks[f"job:{job.id}"]
        assert t.queue == tasks.JOBS_QUEUE and t.lock == f"job:{job.id}"
    assert {"layer_export", "layer_import"} <= set(app.tasks)  # the web layer's tasks, declared before the app
    assert tasks.conninfo("postgresql+psycopg://u:p%40ss@h:5/db") == "postgresql://u:p%40ss@h:5/db"
    # The queue's connections act as the app role (which migration 0010 grants the queue's objects).
    connector = tasks._opened().connector.get_sync_connector()
    assert connector.execute_query_one("SELECT current_user AS u")["u"] == "chengjian_app"


def test_cleanup_drops_old_finished_runs_and_jobs(engine, queue):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO task_runs (owner, kind, title, status, finished_at, file) VALUES "
                "('a', 'layer_export', '旧', 'done', now() - interval '8 days', 'x'), "
                "('a', 'layer_export', '新', 'done', now() - interval '6 days', 'x'), "
                "('a', 'layer_export', '排队', 'queued', NULL, NULL)"
            )
        )
        old, new, todo = (
            conn.execute(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                    "SELECT 'default', 'x', '{}' FROM generate_series(1, 3) RETURNING id"
                )
            )
            .scalars()
            .all()
        )
        for job_id, end in ((old, "succeeded"), (new, "failed")):  # as a worker moves them (the events follow)
            for status in ("doing", end):
                conn.execute(
                    text("UPDATE procrastinate_jobs SET status = :s WHERE id = :j"), {"s": status, "j": job_id}
                )
        conn.execute(
            text("UPDATE procrastinate_events SET at = now() - interval '8 days' WHERE job_id = :j"), {"j": old}
        )
    assert tasks.cleanup(0) == {"task_runs": 1, "queue_jobs": 1}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM task_runs ORDER BY id")).scalars().all() == ["新", "排队"]
        assert conn.execute(text("SELECT id FROM procrastinate_jobs ORDER BY id")).scalars().all() == [new, todo]


FLAKY = '''
"""A throwaway module: a job that fails on its first try of each period, and a task of its own."""
import os
from pathlib import Path

from geo.modules import job
from geo.tasks import task

LOG = Path(os.environ["FLAKY_LOG"])


@job(cron="* * * * *", title="偶尔失败的任务", retry=2)
def flaky(conn, now) -> dict:
    tries = [line for line in (LOG.read_text().splitlines() if LOG.exists() else []) if line == now.isoformat()]
    with LOG.open("a") as f:
        f.write(now.isoformat() + "\\n")
    if not tries:
        raise RuntimeError("first try fails")
    return {"tries": len(tries) + 1}


@task(name="flaky.echo")
def echo(text: str) -> None:
    with LOG.open("a") as f:
        f.write("echo " + text + "\\n")
'''

ATTEMPT = re.compile(r"Periodic job (job:[\w.]+)\[(?:\d+|None)\]\(timestamp=(\d+)\) (deferred|skipped) for timestamp")


def attempts(log: Path) -> set[tuple[str, int, str]]:
    return {(m[1], int(m[2]), m[3]) for m in ATTEMPT.finditer(log.read_text(errors="replace"))}


def test_two_workers_run_each_period_once_and_retry(engine, queue, tmp_path):
    pkg = tmp_path / "mods" / "layers" / "flaky"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(FLAKY))
    flaky_log = tmp_path / "flaky.log"
    env = {"FLAKY_LOG": str(flaky_log)}
    # The jobs due every minute (a daily job, such as the credit rescoring, has no period inside the test's minutes).
    ids = [f"job:{j.id}" for j in modules.jobs() if j.cron == "* * * * *"] + ["job:flaky.flaky"]
    common = dict(pythonpath=[str(tmp_path / "mods")], env=env)
    with worker(tmp_path, "w-a", "-v", **common) as log_a, worker(tmp_path, "w-b", "-v", **common) as log_b:

        def both_tried():
            # A period every job was offered to the database by both workers' deferrers.
            a, b = attempts(log_a), attempts(log_b)
            out = {}
            for name in ids:
                common_ts = {t for n, t, _ in a if n == name} & {t for n, t, _ in b if n == name}
                if not common_ts:
                    return None
                out[name] = max(common_ts)
            return out

        period = wait_for("both workers' deferrers", both_tried)

        def finished():
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT task_name, (args->>'timestamp')::bigint AS ts, status, attempts "
                        "FROM procrastinate_jobs WHERE task_name LIKE 'job:%'"
                    )
                ).all()
            mine = [r for r in rows if period.get(r.task_name) == r.ts]
            return rows if len(mine) >= len(ids) and all(r.status == "succeeded" for r in mine) else None

        rows = wait_for("the period's jobs", finished)
        job_id = tasks.defer("flaky.echo", text="你好")
        wait_for("the module's own task", lambda: "echo 你好" in (flaky_log.read_text() if flaky_log.exists() else ""))

    # Each job ran once for the period although both workers deferred it: one job row, one "deferred".
    for name, ts in period.items():
        mine = [r for r in rows if r.task_name == name and r.ts == ts]
        assert len(mine) == 1, (name, mine)
        said = [
            (w, kind) for w, log in (("a", log_a), ("b", log_b)) for n, t, kind in attempts(log) if (n, t) == (name, ts)
        ]
        assert sorted(kind for _, kind in said) == ["deferred", "skipped"], (name, said)
    # The flaky job failed once and was retried: two tries of that period, the job succeeded on its second attempt.
    (flaky_row,) = [r for r in rows if r.task_name == "job:flaky.flaky" and r.ts == period["job:flaky.flaky"]]
    tries = flaky_log.read_text().splitlines()
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(period["job:flaky.flaky"], UTC).isoformat()
    assert tries.count(iso) == 2 and flaky_row.attempts == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM procrastinate_jobs WHERE id = :i"), {"i": job_id}).scalar() == (
            "succeeded"
        )


def test_migration_installs_the_queue_idempotently_and_drops_it():
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from procrastinate.schema import SchemaManager

    from geo.cluster import ensure_database
    from geo.migrate import upgrade

    url = make_url(SERVER_URL).set(database=f"chengjian_q_{uuid.uuid4().hex[:8]}").render_as_string(False)
    mig = importlib.import_module("geo.migrations.versions.0010_task_queue")
    ensure_database(url)
    eng = sa.create_engine(url)
    try:
        upgrade(url)

        def objects(conn):
            return conn.execute(text(mig._OBJECTS)).all()

        with eng.begin() as conn:
            installed = objects(conn)
            assert ("TABLE", "procrastinate_jobs") in installed and len(installed) > 20
            conn.execute(text("SET LOCAL ROLE chengjian_app"))  # the app role may use the queue
            conn.execute(text("SELECT procrastinate_register_worker_v1()"))
            conn.execute(text("SELECT count(*) FROM task_runs"))
        with eng.begin() as conn:
            with Operations.context(MigrationContext.configure(conn)):
                mig.downgrade()
            assert objects(conn) == [] and conn.execute(text("SELECT to_regclass('task_runs')")).scalar() is None
        # A database whose queue schema someone installed already (``procrastinate schema --apply``) keeps it.
        with eng.begin() as conn:
            conn.connection.driver_connection.execute(SchemaManager.get_schema())
            conn.execute(text("INSERT INTO procrastinate_jobs (queue_name, task_name, args) VALUES ('q', 't', '{}')"))
            with Operations.context(MigrationContext.configure(conn)):
                mig.upgrade()
            assert conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 1
            assert sorted(objects(conn)) == sorted(installed)
    finally:
        eng.dispose()
        _drop_database(url)


def test_settings_and_cli_know_the_worker(capsys):
    from etl.cli import main

    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    out = capsys.readouterr().out
    assert "--concurrency" in out and "--queues" in out
