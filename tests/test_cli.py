"""The `chengjian` command line and the private cluster it manages."""

import subprocess
import sys

import psycopg

from etl.cli import main
from geo.cluster import Cluster, find_pg_bin, postgis_installed


def test_db_url_and_status_with_database_url(capsys, database):
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out.strip() == database
    assert main(["db", "status"]) == 0
    assert "DATABASE_URL" in capsys.readouterr().err


def test_migrate_is_idempotent(capsys, database):
    assert main(["db", "migrate"]) == 0
    assert main(["db", "migrate"]) == 0
    assert "migrations applied" in capsys.readouterr().out


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "etl.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("db", "demo", "import", "export", "user", "serve"):
        assert command in out


def test_private_cluster_lifecycle(tmp_path):
    """start → data → stop → start again keeps the data and the port; status reports each state."""
    assert postgis_installed(find_pg_bin()), "PostGIS is not installed (make test installs postgresql-15-postgis-3)"
    cluster = Cluster(tmp_path / "pg", db_name="lifecycle")
    assert cluster.status() == "not initialised"
    try:
        url = cluster.start()
        port = cluster.saved_port()
        assert cluster.status() == f"running on port {port}"
        assert cluster.start() == url  # idempotent while running
        libpq = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(libpq, autocommit=True) as conn:
            assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3")
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('数据')")
        cluster.stop()
        assert cluster.status() == "stopped"
        assert cluster.start() == url
        with psycopg.connect(libpq) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone()[0] == "数据"
    finally:
        cluster.destroy()
    assert not (tmp_path / "pg").exists()


def test_user_add_and_password_reset(capsys, client):
    assert (
        main(["user", "add", "cli-admin", "--role", "admin", "--name", "首位管理员", "--password", "First-admin-2026"])
        == 0
    )
    assert "已创建用户 cli-admin" in capsys.readouterr().out
    assert main(["user", "add", "cli-weak", "--role", "admin", "--password", "short"]) == 1
    assert "密码至少" in capsys.readouterr().err
    assert main(["user", "add", "cli-clerk", "--role", "district_staff", "--password", "First-admin-2026"]) == 1
    assert "区县" in capsys.readouterr().err
    r = client.post("/api/auth/token", json={"username": "cli-admin", "password": "First-admin-2026"})
    assert r.status_code == 200 and client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    ).json()["roles"] == ["admin"]
    assert main(["user", "passwd", "cli-admin", "--password", "Second-admin-2026"]) == 0
    assert (
        client.post("/api/auth/token", json={"username": "cli-admin", "password": "First-admin-2026"}).status_code
        == 401
    )
    assert (
        client.post("/api/auth/token", json={"username": "cli-admin", "password": "Second-admin-2026"}).status_code
        == 200
    )
    assert main(["user", "passwd", "nobody-cli", "--password", "Second-admin-2026"]) == 1


def test_demo_accounts(engine):
    from sqlalchemy import text

    from etl.accounts_cli import DEMO_ACCOUNTS, ensure_demo_accounts
    from geo.db import admin_transaction

    with admin_transaction() as conn:
        first = ensure_demo_accounts(conn)
        again = ensure_demo_accounts(conn)
    assert again == [] and set(first) <= {a[0] for a in DEMO_ACCOUNTS}
    with engine.connect() as conn:
        district = conn.execute(text("SELECT district FROM users WHERE username = 'xihu'")).scalar()
    assert district == "西湖区"
