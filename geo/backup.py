"""Backup and restore: the database (``pg_dump`` custom format) and the uploaded files, in one archive.

The archive is a tar file holding

- ``manifest.json``: when, from which database, the PostgreSQL / PostGIS / pg_dump versions, the Alembic
  revisions, the number of rows of every table and the SHA-256 of every uploaded file;
- ``database.dump``: ``pg_dump --format=custom`` of the database, taken in the same snapshot as the row counts
  (``pg_export_snapshot``), so the counts are exactly what the dump holds;
- ``files/<path>``: the files directory (``CHENGJIAN_FILES_DIR``: uploads and their thumbnails).

``pg_dump``/``pg_restore`` are those of the server's major version (``CHENGJIAN_PG_BIN``, then Debian's
``/usr/lib/postgresql/<major>/bin``, then the ``PATH``); another version is refused.

Restore goes into an EMPTY database only (missing: created, with its extensions; one holding any table is refused,
nothing is changed): ``pg_restore --single-transaction --no-owner``, so it loads whole or not at all and the
restoring user owns what it loads. Roles are global, not in a dump: the app role ``chengjian_app`` must exist on the
target server; restore creates it (as migration 0005 does) when the user may create roles, else refuses saying what
an administrator runs. The default privileges that migration 0005 gave (as the user who migrated) are given again for
the restoring user. Then the files are written (each replaced atomically; other files in the directory are left),
LEAKPROOF is declared again (pg_dump does not carry it; ``geo/leakproof.py``), the tables are analysed, and the
manifest is checked: the same row count in every table and the same checksum of every file, else
:class:`BackupError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import psycopg
from sqlalchemy.engine import URL, make_url

from geo import cluster
from geo.files import files_root
from geo.settings import get_settings

FORMAT = "chengjian-backup/1"
APP_ROLE = "chengjian_app"

# Every table of the database except the system's and the extensions' own (spatial_ref_sys comes with PostGIS).
TABLES_SQL = r"""
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
    ORDER BY 1, 2"""
# Relations that make a database non-empty (the same filter, any kind but indexes and TOAST).
RELATIONS_SQL = TABLES_SQL.replace("c.relkind IN ('r', 'p')", "c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')")


# Extensions' configuration tables (spatial_ref_sys) and the condition of the rows pg_dump dumps from them (the
# rows added after the extension was created).
EXTCONFIG_SQL = """
    SELECT n.nspname, c.relname, coalesce(e.extcondition[array_position(e.extconfig, c.oid)], '')
    FROM pg_extension e CROSS JOIN LATERAL unnest(e.extconfig) AS cfg (oid)
    JOIN pg_class c ON c.oid = cfg.oid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' ORDER BY 1, 2"""
TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ")
# ``ALTER DEFAULT PRIVILEGES FOR ROLE <who made them> …`` -> for the current (restoring) user.
DEFAULT_ACL_ROLE = re.compile(r'^ALTER DEFAULT PRIVILEGES FOR ROLE (?:"(?:[^"]|"")*"|[^\s"]+) ')


class BackupError(RuntimeError):
    """A backup or restore that cannot be done, or a restore that does not match its manifest."""


# -- connections and programs -----------------------------------------------------------------------------------
def _libpq(url: str, tmp: Path) -> str:
    """A libpq URI for pg_dump/pg_restore without the password (a command line is visible to every local user):
    the password goes to a private password file in ``tmp`` that the URI names."""
    u = make_url(url)
    bare = URL.create("postgresql", u.username, None, u.host, u.port, u.database, u.query)  # set() keeps a None
    uri = bare.render_as_string(hide_password=False)
    if not u.password:
        return uri
    passfile = tmp / "pgpass"
    passfile.touch(mode=0o600)
    escaped = str(u.password).replace("\\", "\\\\").replace(":", "\\:")
    passfile.write_text(f"*:*:*:*:{escaped}\n")
    return uri + ("&" if "?" in uri else "?") + "passfile=" + quote(str(passfile), safe="/")


def _connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    u = make_url(url).set(drivername="postgresql")
    return psycopg.connect(u.render_as_string(hide_password=False), autocommit=autocommit)


def _major(version_num: int | str) -> int:
    return int(version_num) // 10000


def pg_program(name: str, server_major: int) -> Path:
    """``pg_dump``/``pg_restore`` of the server's major version."""
    s = get_settings()
    candidates: list[Path] = []
    if s.pg_bin:
        candidates.append(Path(s.pg_bin) / name)
    candidates.append(Path(f"/usr/lib/postgresql/{server_major}/bin/{name}"))
    if found := shutil.which(name):
        candidates.append(Path(found))
    seen = []
    for path in candidates:
        if not path.is_file():
            continue
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True).stdout
        m = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
        major = int(m.group(1)) if m else None
        if major == server_major:
            return path
        seen.append(f"{path} ({out.strip()})")
    raise BackupError(
        f"no {name} of PostgreSQL {server_major} (the server's version) found"
        + (f"; found only {', '.join(seen)}" if seen else "")
        + f": apt-get install postgresql-client-{server_major}, or set CHENGJIAN_PG_BIN to its bin directory"
    )


def _run(cmd: list[str], what: str) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BackupError(f"{what} failed (exit {res.returncode}): {res.stderr.strip()[-3000:]}")
    return res.stdout


# -- what a database and a files directory hold ----------------------------------------------------------------
def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    # row_security off: a count that row-level security would cut short fails instead (as pg_dump does).
    conn.execute("SET LOCAL row_security = off")
    counts = {}
    for schema, table in conn.execute(TABLES_SQL).fetchall():
        n = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
        counts[f"{schema}.{table}"] = int(n[0]) if n else 0
    return counts


def _extension_rows(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of the extensions' configuration tables that pg_dump dumps (those added after CREATE EXTENSION)."""
    out = {}
    for schema, table, condition in conn.execute(EXTCONFIG_SQL).fetchall():
        n = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}" {condition}'.encode()).fetchone()
        out[f"{schema}.{table}"] = int(n[0]) if n else 0
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_checksums(root: Path) -> dict[str, str]:
    """``relative/path -> sha256`` of every file under ``root`` (half-written ``.tmp-*`` files left out)."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): _sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".tmp-")
    }


# -- backup --------------------------------------------------------------------------------------------------------
def backup(target: Path, url: str | None = None, files: Path | None = None) -> dict[str, Any]:
    """Write the archive to ``target`` (replaced whole, never left half-written); returns its manifest."""
    from geo.db import database_url

    url = url or database_url()
    files = Path(files or files_root())
    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="chengjian-backup-") as tmp:
        dump, uri = Path(tmp) / "database.dump", _libpq(url, Path(tmp))
        with _connect(url) as conn:
            # Count in the snapshot pg_dump dumps: the transaction stays open until pg_dump is done.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
            info = conn.execute(
                "SELECT current_setting('server_version_num'), current_setting('server_version'), "
                "current_database(), current_user, to_regproc('postgis_lib_version') IS NOT NULL"
            ).fetchone()
            assert info is not None
            version_num, server_version, dbname, user, has_postgis = info
            postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0] if has_postgis else None  # type: ignore[index]
            revisions = []
            if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0]:  # type: ignore[index]
                revisions = sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
            from geo import leakproof

            overlaps = conn.execute(leakproof.LEAKPROOF_SQL).fetchone()[0]  # type: ignore[index]
            counts = _row_counts(conn)
            extension_rows = _extension_rows(conn)
            pg_dump = pg_program("pg_dump", _major(version_num))
            _run(
                [str(pg_dump), "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", f"--dbname={uri}"],
                "pg_dump",
            )
            conn.execute("ROLLBACK")
        checksums = file_checksums(files)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "database": dbname,
            "user": user,
            "postgresql": server_version,
            "postgis": postgis,
            "pg_dump": _run([str(pg_dump), "--version"], "pg_dump --version").strip(),
            "alembic": revisions,
            "leakproof": overlaps,
            "tables": counts,
            "extension_rows": extension_rows,
            "files": checksums,
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        try:
            with tarfile.open(part, "w") as tar:
                data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                member = tarfile.TarInfo("manifest.json")
                member.size, member.mtime, member.mode = len(data), int(datetime.now(UTC).timestamp()), 0o644
                tar.addfile(member, io.BytesIO(data))
                tar.add(dump, "database.dump")
                for rel in checksums:
                    tar.add(files / rel, f"files/{rel}")
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
    return manifest


# -- restore -------------------------------------------------------------------------------------------------------
def _safe_rel(name: str) -> str | None:
    """``files/<relative path>`` of a member, or None for a name that would leave the files directory."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or len(p.parts) < 2 or p.parts[0] != "files":
        return None
    return PurePosixPath(*p.parts[1:]).as_posix()


def read_manifest(tar: tarfile.TarFile, source: Path) -> dict[str, Any]:
    try:
        member = tar.extractfile("manifest.json")
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError) as e:
        raise BackupError(f"{source} is not a chengjian backup (no readable manifest.json: {e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is not a chengjian backup of format {FORMAT}")
    return manifest


def _ensure_app_role(conn: psycopg.Connection) -> str | None:
    """Make sure ``chengjian_app`` exists and the user may SET ROLE to it; returns what was done."""
    row = conn.execute(
        "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user",
    ).fetchone()
    superuser, createrole = row if row else (False, False)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
    done = None
    if not exists:
        if not (superuser or createrole):
            user = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
            raise BackupError(
                f"role {APP_ROLE} does not exist on the target server (roles are global; a dump does not carry "
                f"them) and {user} may not create roles: an administrator runs "
                f"CREATE ROLE {APP_ROLE} NOLOGIN; GRANT {APP_ROLE} TO {user}; (migration 0005 does the same)"
            )
        conn.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
        done = f"created role {APP_ROLE}"
    if not conn.execute(f"SELECT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER')").fetchone()[0]:  # type: ignore[index]
        conn.execute(f"GRANT {APP_ROLE} TO current_user")
    return done


def _skip_data(line: str, manifest: dict[str, Any]) -> bool:
    """An extension's configuration table (spatial_ref_sys) to which the backup added no row: its TABLE DATA entry
    is left out (loading nothing into it would still need a right on it that only its owner has)."""
    m = TABLE_DATA.match(line)
    return m is not None and manifest.get("extension_rows", {}).get(f"{m.group(1)}.{m.group(2)}") == 0


def _check_extension_rows(conn: psycopg.Connection, manifest: dict[str, Any]) -> None:
    """Refuse, before anything is loaded, rows added to an extension's table that this user may not insert."""
    for table, n in manifest.get("extension_rows", {}).items():
        if n and not conn.execute("SELECT has_table_privilege(%s, 'INSERT')", (table,)).fetchone()[0]:  # type: ignore[index]
            raise BackupError(
                f"the backup holds {n} rows added to {table} (an extension's table) that this user may not insert: "
                "restore as a superuser"
            )


def restore(source: Path, url: str | None = None, files: Path | None = None) -> dict[str, Any]:
    """Restore the archive ``source`` into the (empty) database and the files directory; returns what was done.
    Raises :class:`BackupError` before changing anything when the archive, the tools, the role or the target do
    not fit, and after, when the result does not match the manifest."""
    from geo import leakproof
    from geo.db import database_url

    url = url or database_url()
    files = Path(files or files_root())
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    dbname = make_url(url).database
    try:
        tar = tarfile.open(source, "r:")
    except tarfile.TarError as e:
        raise BackupError(f"{source} is not a chengjian backup (not a tar file: {e})") from e
    with tar, tempfile.TemporaryDirectory(prefix="chengjian-restore-") as tmp:
        manifest = read_manifest(tar, source)
        members = {m.name: m for m in tar.getmembers()}
        dump_member = members.get("database.dump")
        if dump_member is None or not dump_member.isfile():
            raise BackupError(f"{source} holds no database.dump")
        file_members = {}
        for name, m in members.items():
            if name.startswith("files/") and m.isfile():
                rel = _safe_rel(name)
                if rel is None:
                    raise BackupError(f"{source}: refusing the member {name!r} (outside the files directory)")
                file_members[rel] = m
        if missing := sorted(set(manifest["files"]) - set(file_members)):
            raise BackupError(f"{source} lacks {len(missing)} files its manifest lists, e.g. {missing[0]}")

        # The target: created if missing, refused unless empty.
        cluster.ensure_database(url)
        with _connect(url) as conn:
            version_num = conn.execute("SELECT current_setting('server_version_num')").fetchone()[0]  # type: ignore[index]
            held = conn.execute(RELATIONS_SQL).fetchall()
            if held:
                names = ", ".join(f"{s}.{t}" for s, t in held[:5])
                raise BackupError(
                    f"database {dbname} is not empty ({len(held)} tables and other relations, e.g. {names}): restore "
                    "goes into an empty database only. Point DATABASE_URL (or CHENGJIAN_DB_NAME) at a new database "
                    "name (restore creates it), or drop this database first"
                )
            pg_restore = pg_program("pg_restore", _major(version_num))
            _check_extension_rows(conn, manifest)
            role_done = _ensure_app_role(conn)

        dump, uri = Path(tmp) / "database.dump", _libpq(url, Path(tmp))
        with tar.extractfile(dump_member) as src, open(dump, "wb") as dst:  # type: ignore[union-attr]
            shutil.copyfileobj(src, dst)
        # The extensions exist already (ensure_database): their comments are the extension owner's to set. The
        # default privileges (migration 0005: new tables and sequences for the app role) are those of the user that
        # ran the migrations; they are given again for the restoring user, who owns what it restores.
        toc = _run([str(pg_restore), "--list", str(dump)], "pg_restore --list").splitlines()
        default_acl = [line for line in toc if " DEFAULT ACL " in line]
        kept = [
            line
            for line in toc
            if " COMMENT - EXTENSION " not in line and line not in default_acl and not _skip_data(line, manifest)
        ]
        listing = Path(tmp) / "toc.list"
        listing.write_text("\n".join(kept) + "\n")
        _run(
            [
                str(pg_restore),
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                f"--use-list={listing}",
                f"--dbname={uri}",
                str(dump),
            ],
            "pg_restore",
        )
        if default_acl:
            listing.write_text("\n".join(default_acl) + "\n")
            script = _run([str(pg_restore), f"--use-list={listing}", "--file=-", str(dump)], "pg_restore --file")
            with _connect(url, autocommit=False) as conn:
                for line in script.splitlines():
                    if line.startswith("ALTER DEFAULT PRIVILEGES "):
                        conn.execute(DEFAULT_ACL_ROLE.sub("ALTER DEFAULT PRIVILEGES ", line).encode())
                conn.commit()

        files.mkdir(parents=True, exist_ok=True)
        for rel, m in sorted(file_members.items()):
            path = files / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmpname = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as dst, tar.extractfile(m) as src:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)
            os.chmod(tmpname, m.mode & 0o777 or 0o640)
            os.replace(tmpname, path)

    # LEAKPROOF again (restore drops it), statistics for the planner, then the check against the manifest.
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as sconn:
            outcome = leakproof.ensure(sconn)
            user = sconn.exec_driver_sql("SELECT current_user").scalar() or ""
    finally:
        engine.dispose()
    with _connect(url) as conn:
        conn.execute("ANALYZE")
    with _connect(url, autocommit=False) as conn:
        counts = _row_counts(conn)
        extension_rows = _extension_rows(conn)
        conn.rollback()
    problems = [
        f"{t}: {manifest['tables'].get(t, 'absent')} in the backup, {counts.get(t, 'absent')} restored"
        for t in sorted(set(manifest["tables"]) | set(counts))
        if manifest["tables"].get(t) != counts.get(t)
    ]
    problems += [
        f"{t} (an extension's table): {n} rows added in the backup, {extension_rows.get(t, 'absent')} restored"
        for t, n in sorted(manifest.get("extension_rows", {}).items())
        if extension_rows.get(t) != n
    ]
    restored = file_checksums(files)
    problems += [
        f"file {rel}: checksum {'differs' if rel in restored else 'missing'} after restore"
        for rel, sha in sorted(manifest["files"].items())
        if restored.get(rel) != sha
    ]
    if problems:
        raise BackupError(
            f"restore of {source} into {dbname} does not match its manifest ({len(problems)} differences; the "
            "restored database and files are left as they are, for inspection): " + "; ".join(problems[:20])
        )
    return {
        "database": dbname,
        "tables": len(counts),
        "rows": sum(counts.values()),
        "files": len(manifest["files"]),
        "role": role_done,
        "leakproof": leakproof.describe(outcome, user),
        "leakproof_ok": outcome in (leakproof.Outcome.DECLARED, leakproof.Outcome.ALREADY),
        "backup_created_at": manifest["created_at"],
    }
