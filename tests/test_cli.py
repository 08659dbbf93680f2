"""The `chengjian` command line and the private cluster it manages."""
import subprocess
import sys

import psycopg
import pytest

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
    for command in ("db", "demo", "import", "export", "serve"):
        assert command in out


@pytest.mark.skipif(not postgis_installed(find_pg_bin()), reason="PostGIS not installed on this machine")
def test_private_cluster_lifecycle(tmp_path):
    """start → data → stop → start again keeps the data and the port; status reports each state."""
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
