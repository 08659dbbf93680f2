"""``chengjian db backup FILE`` / ``chengjian db restore FILE`` (geo/backup.py): a round trip between two scratch
databases and two files directories keeps every table's rows, every file's bytes, row-level security and the
LEAKPROOF declaration; a restore into a database that is not empty is refused and changes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import make_url

from etl.cli import main
from geo import leakproof
from geo import scope as scopes
from geo.cluster import ensure_database
from tests.conftest import SERVER_URL, _drop_database, business_tables

CUSTOM_SRID = """INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text)
                 VALUES (990001, 'TEST', 990001, '+proj=longlat +datum=WGS84 +no_defs') ON CONFLICT DO NOTHING"""


def scratch_url(tag: str) -> str:
    return make_url(SERVER_URL).set(database=f"chengjian_{tag}_{uuid.uuid4().hex[:8]}").render_as_string(False)


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(buf, "JPEG")
    return buf.getvalue()


def table_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT schemaname || '.' || tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> 'spatial_ref_sys'"
            )
        ).scalars()
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in sorted(tables)}


def checksums(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def databases():
    urls = {tag: scratch_url(f"bk_{tag}") for tag in ("source", "target", "busy", "tampered")}
    engines = {}
    try:
        yield urls, engines
    finally:
        for e in engines.values():
            e.dispose()
        for url in urls.values():
            _drop_database(url)


def test_round_trip(databases, tmp_path, env, capsys):
    from etl.demo import build_demo
    from geo import files
    from geo.migrate import upgrade

    urls, engines = databases
    src_files, dst_files, archive = tmp_path / "files-a", tmp_path / "files-b", tmp_path / "out" / "chengjian.backup"

    # The source: migrated, the demo world with 200 farmhouses, two photos (with thumbnails) and a PDF.
    ensure_database(urls["source"])
    upgrade(urls["source"])
    src = engines["source"] = sa.create_engine(urls["source"], poolclass=sa.pool.NullPool)
    build_demo(farmhouses=200, engine=src, scale=0.02)
    with src.begin() as conn:  # a coordinate system of our own: pg_dump carries rows added to spatial_ref_sys
        conn.execute(sa.text(CUSTOM_SRID))
    env(DATABASE_URL=urls["source"], CHENGJIAN_FILES_DIR=str(src_files))
    stored = [files.store(jpeg((200, 30, 30)), "a.jpg"), files.store(jpeg((30, 200, 30)), "b.jpg")]
    stored.append(files.store(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n", "c.pdf", kind="document"))
    before_files = checksums(src_files)
    assert len(before_files) == 5  # two photos, their thumbnails, the PDF
    before = table_counts(src)
    assert before["public.farmhouses"] == 200 and before["public.districts"] > 0

    assert main(["db", "backup", str(archive)]) == 0
    assert "backup written to" in capsys.readouterr().out
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"manifest.json", "database.dump"} <= names
    assert {f"files/{rel}" for rel in before_files} <= names
    assert manifest["files"] == before_files
    assert manifest["tables"]["public.farmhouses"] == 200 and manifest["postgresql"] and manifest["alembic"]

    # The target: a database that does not exist yet and an empty files directory.
    env(DATABASE_URL=urls["target"], CHENGJIAN_FILES_DIR=str(dst_files))
    assert main(["db", "restore", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "all matching the manifest" in out and "declared geometry_overlaps(geometry, geometry) LEAKPROOF" in out
    dst = engines["target"] = sa.create_engine(urls["target"], poolclass=sa.pool.NullPool)

    assert table_counts(dst) == before
    assert manifest["extension_rows"] == {"public.spatial_ref_sys": 1}
    with dst.connect() as conn:
        assert conn.execute(sa.text("SELECT auth_name FROM spatial_ref_sys WHERE srid = 990001")).scalar() == "TEST"
    assert checksums(dst_files) == before_files
    assert files.verify(stored[0].sha256) and files.verify(stored[2].sha256)

    with dst.connect() as conn:
        # Row-level security on every business table, with its policies.
        for table in business_tables():
            assert conn.execute(
                sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
            ).scalar(), table
            policies = conn.execute(
                sa.text("SELECT count(*) FROM pg_policies WHERE tablename = :t"), {"t": table}
            ).scalar()
            assert policies, table
        found = leakproof.state(conn)
        assert found is not None and found[1] is True
        district = conn.execute(
            sa.text("SELECT district FROM farmhouses GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        ).scalar()
        in_district = conn.execute(
            sa.text("SELECT count(*) FROM farmhouses WHERE district = :d"), {"d": district}
        ).scalar()
    assert district and 0 < in_district < 200

    # The app role, as the app connects: nothing without a scope, one district's rows with it.
    from geo.db import use_app_role

    app = engines["app"] = use_app_role(sa.create_engine(urls["target"], poolclass=sa.pool.NullPool))
    with app.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM farmhouses")).scalar() == 0
    with app.begin() as conn:
        scopes.apply(conn, scopes.Scope.of(districts=[district]))
        assert conn.execute(sa.text("SELECT count(*) FROM farmhouses")).scalar() == in_district
        assert conn.execute(sa.text("SELECT count(DISTINCT district) FROM farmhouses")).scalar() == 1


def test_restore_into_a_database_that_is_not_empty_is_refused(databases, tmp_path, env, capsys):
    urls, engines = databases
    archive = tmp_path / "out" / "chengjian.backup"
    ensure_database(urls["source"])
    env(DATABASE_URL=urls["source"], CHENGJIAN_FILES_DIR=str(tmp_path / "none"))
    assert main(["db", "backup", str(archive)]) == 0
    capsys.readouterr()

    ensure_database(urls["busy"])
    busy = engines["busy"] = sa.create_engine(urls["busy"], poolclass=sa.pool.NullPool)
    with busy.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (id int)"))
        conn.execute(sa.text("INSERT INTO notes VALUES (1)"))
    env(DATABASE_URL=urls["busy"], CHENGJIAN_FILES_DIR=str(tmp_path / "busy-files"))
    assert main(["db", "restore", str(archive)]) == 1
    err = capsys.readouterr().err
    assert "is not empty" in err and "public.notes" in err and "empty database only" in err
    assert table_counts(busy) == {"public.notes": 1}
    assert not (tmp_path / "busy-files").exists()


def test_a_restore_that_does_not_match_its_manifest_fails(databases, tmp_path, env, capsys):
    urls, engines = databases
    archive, tampered = tmp_path / "chengjian.backup", tmp_path / "tampered.backup"
    ensure_database(urls["source"])
    source_files = tmp_path / "files"
    (source_files / "ab").mkdir(parents=True)
    (source_files / "ab" / "photo.jpg").write_bytes(jpeg((1, 2, 3)))
    env(DATABASE_URL=urls["source"], CHENGJIAN_FILES_DIR=str(source_files))
    assert main(["db", "backup", str(archive)]) == 0
    # The same archive, its manifest claiming one more row in a table and another checksum for the file.
    with tarfile.open(archive) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["tables"]["public.spare"] = 1
                manifest["files"]["ab/photo.jpg"] = "0" * 64
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    capsys.readouterr()
    env(DATABASE_URL=urls["tampered"], CHENGJIAN_FILES_DIR=str(tmp_path / "restored"))
    assert main(["db", "restore", str(tampered)]) == 1
    err = capsys.readouterr().err
    assert "does not match its manifest (2 differences;" in err
    assert "public.spare: 1 in the backup, absent restored" in err and "file ab/photo.jpg: checksum differs" in err


def test_restore_as_a_user_that_is_not_superuser(databases, tmp_path, env, capsys):
    """A managed server: an administrator made the role, the database (owned by it) and the extensions; the backup
    was made by another user (the test server's superuser). The restoring user owns what it restores, gets the
    default privileges for the app role, and is told that LEAKPROOF needs a superuser."""
    import psycopg

    from geo.migrate import upgrade

    urls, engines = databases
    with engines.setdefault("server", sa.create_engine(SERVER_URL, poolclass=sa.pool.NullPool)).connect() as conn:
        if not conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
            pytest.skip("the test server's user is not a superuser: it cannot make a role for this test")
    ensure_database(urls["source"])
    upgrade(urls["source"])
    source = engines.setdefault("source", sa.create_engine(urls["source"], poolclass=sa.pool.NullPool))
    with_srid, archive = tmp_path / "with-srid.backup", tmp_path / "chengjian.backup"
    env(DATABASE_URL=urls["source"], CHENGJIAN_FILES_DIR=str(tmp_path / "files"))
    with source.begin() as conn:
        conn.execute(sa.text(CUSTOM_SRID))
    assert main(["db", "backup", str(with_srid)]) == 0
    with source.begin() as conn:
        conn.execute(sa.text("DELETE FROM spatial_ref_sys WHERE srid = 990001"))
    assert main(["db", "backup", str(archive)]) == 0

    role, password = f"chengjian_bk_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    plain = scratch_url("bk_plain")
    server = make_url(SERVER_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"GRANT chengjian_app TO {role}")
    try:
        ensure_database(plain)
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{make_url(plain).database}" OWNER TO {role}')
        as_role = make_url(plain).set(username=role, password=password).render_as_string(False)
        env(DATABASE_URL=as_role, CHENGJIAN_FILES_DIR=str(tmp_path / "restored"))
        capsys.readouterr()
        # A row added to PostGIS's own table needs a superuser: refused before anything is loaded.
        assert main(["db", "restore", str(with_srid)]) == 1
        assert "1 rows added to public.spatial_ref_sys (an extension's table)" in capsys.readouterr().err
        with psycopg.connect(make_url(as_role).set(drivername="postgresql").render_as_string(False)) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (1,)

        assert main(["db", "restore", str(archive)]) == 0
        out, err = capsys.readouterr()
        assert "all matching the manifest" in out
        assert f"cannot declare geometry_overlaps(geometry, geometry) LEAKPROOF: {role} is not a superuser" in err
        engine = sa.create_engine(as_role, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                owner = conn.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'farmhouses'"))
                assert owner.scalar() == role
                acl = conn.execute(
                    sa.text("SELECT count(*) FROM pg_default_acl WHERE defaclrole = CAST(:r AS regrole)"), {"r": role}
                )
                assert acl.scalar() == 2  # tables and sequences, as migration 0005 gives them
            assert table_counts(engine) == table_counts(source)
        finally:
            engine.dispose()
    finally:
        _drop_database(plain)
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_an_archive_that_is_not_a_backup_is_refused(tmp_path, env, capsys):
    bogus = tmp_path / "bogus.tar"
    with tarfile.open(bogus, "w") as tar:
        data = b'{"format": "something else"}'
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert main(["db", "restore", str(bogus)]) == 1
    assert "is not a chengjian backup" in capsys.readouterr().err
    (tmp_path / "text.txt").write_text("hello")
    assert main(["db", "restore", str(tmp_path / "text.txt")]) == 1
    assert "is not a chengjian backup" in capsys.readouterr().err
    assert main(["db", "backup"]) == 2


def test_the_password_stays_off_the_command_line(tmp_path):
    from geo.backup import _libpq

    uri = _libpq("postgresql+psycopg://u:se:cr\\et@db.example:5433/chengjian", tmp_path)
    assert "se:cr" not in uri and uri.startswith("postgresql://u@db.example:5433/chengjian?passfile=")
    passfile = tmp_path / "pgpass"
    assert passfile.read_text() == "*:*:*:*:se\\:cr\\\\et\n" and passfile.stat().st_mode & 0o777 == 0o600
    assert _libpq("postgresql+psycopg://u@db.example/chengjian", tmp_path) == "postgresql://u@db.example/chengjian"
