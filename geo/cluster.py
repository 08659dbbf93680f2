"""A private PostgreSQL + PostGIS cluster under ``var/`` for development and tests.

PostgreSQL refuses to run as root, so when we are root the cluster runs as the
``postgres`` system user (created if missing). Everything is idempotent: ``start``
on a running cluster returns at once and keeps the data.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_USER = "postgres"
EXTENSIONS = ("postgis", "pg_trgm")


class ClusterError(RuntimeError):
    pass


def find_pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ClusterError("PostgreSQL server binaries not found (apt-get install postgresql-15)")


def postgis_installed(pg_bin: Path) -> bool:
    version = pg_bin.parent.name  # /usr/lib/postgresql/15/bin -> 15
    return Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            # PostgreSQL listens with SO_REUSEADDR, so a port whose old connections linger in TIME_WAIT is free to it.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise ClusterError("no free port")


def _owner() -> str | None:
    """The system user that runs the cluster, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)
    return PG_USER


def _make_traversable(path: Path) -> None:
    """Let the cluster's user reach ``path``: add o+x to ancestors that lack it."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


@dataclass
class Cluster:
    base: Path  # e.g. var/pg
    db_name: str = "chengjian"
    port: int | None = None
    fast: bool = False  # fsync off etc.: for throwaway test clusters
    bin_dir: Path | None = None  # directory of initdb/pg_ctl (CHENGJIAN_PG_BIN); None: found by find_pg_bin()

    def __post_init__(self) -> None:
        self.base = Path(self.base).resolve()
        self.pg_bin: Path = Path(self.bin_dir) if self.bin_dir else find_pg_bin()
        self.pgdata = self.base / "data"
        self.sockets = self.base / "run"
        self.logfile = self.base / "postgresql.log"
        self.owner = _owner()

    # -- helpers -------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.pg_bin / args[0]), *args[1:]]
        if self.owner:
            cmd = ["runuser", "-u", self.owner, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    @property
    def port_file(self) -> Path:
        return self.base / "port"

    def saved_port(self) -> int | None:
        return int(self.port_file.read_text()) if self.port_file.exists() else None

    def url(self, dbname: str | None = None) -> str:
        port = self.port or self.saved_port()
        if port is None:
            raise ClusterError("cluster was never started: run `chengjian db start`")
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{dbname or self.db_name}"

    # -- lifecycle -----------------------------------------------------------
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised():
            return
        if not postgis_installed(self.pg_bin):
            raise ClusterError("PostGIS is not installed: apt-get install postgresql-15-postgis-3 (make run does this)")
        self.base.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self.owner:
            _make_traversable(self.base)
            shutil.chown(self.base, self.owner)
            shutil.chown(self.sockets, self.owner)
        self._run("initdb", "-D", str(self.pgdata), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.sockets}'",
            "shared_buffers = '512MB'",
            "work_mem = '32MB'",
            "maintenance_work_mem = '256MB'",
            "max_connections = 200",
            "jit = off",
        ]
        if self.fast:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write("\n# chengjian private cluster\n" + "\n".join(conf) + "\n")

    def running(self) -> bool:
        return self.initialised() and self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self) -> str:
        self.init()
        if not self.running():
            self.port = free_port(self.port or self.saved_port() or 54329)
            self.port_file.write_text(str(self.port))
            if self.owner:
                self.logfile.touch()
                shutil.chown(self.logfile, self.owner)
            res = self._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}",
                check=False,
            )
            if res.returncode != 0:
                tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
                raise ClusterError(f"pg_ctl start failed: {res.stderr}\n{tail}")
        else:
            self.port = self.saved_port()
        self.ensure_database()
        return self.url()

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def status(self) -> str:
        if not self.initialised():
            return "not initialised"
        return f"running on port {self.saved_port()}" if self.running() else "stopped"

    def ensure_database(self) -> None:
        ensure_database(self.url())


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` (if missing) and its extensions."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = u.set(database="postgres").render_as_string(hide_password=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(_libpq(admin), autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{u.database}"')
    with psycopg.connect(_libpq(u.render_as_string(hide_password=False)), autocommit=True) as conn:
        for ext in EXTENSIONS:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
