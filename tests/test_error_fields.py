"""An error names the field it is about.

A field named like a location (the notice's ``body``) keeps its name in a validation error.

A write that row-level security refuses is ``out_of_scope`` naming the field that put the record out of scope
(issue #11 §3): a layer's geometry (its district follows from it), a case table's site (the record it belongs to),
never ``geometry`` for a table that has none. The refusals come from PostgreSQL itself: a small app with the real
error handlers writes rows as a signed-in district account, through the same per-request scoped transaction as
every route (api.deps.db_write)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from api import errors
from api.deps import db_write
from tests.conftest import make_user

ELSEWHERE = 987_654_321  # a site id nobody is granted


@pytest.fixture(scope="module")
def probe():
    app = FastAPI()
    errors.install(app)

    @app.post("/write/{table}")
    def write(table: str, row: dict, conn: Connection = Depends(db_write, scope="function")) -> dict:
        cols = list(row)
        conn.execute(
            sa.text(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                f"({', '.join('ST_GeomFromText(:geom, 4326)' if c == 'geom' else ':' + c for c in cols)})"
            ),
            row,
        )
        return {}

    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def xihu():
    return make_user("scope-probe-xihu", ["district_staff"], district="西湖区")


def _stored(engine, table: str, where: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


def test_a_case_row_out_of_scope_names_its_site(probe, xihu, engine):
    r = probe.post("/write/st_reports", headers=xihu, json={"site_id": ELSEWHERE, "district": "余杭区"})
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["code"] == "out_of_scope" and body["field"] == "site_id", body
    assert body["detail"]["table"] == "st_reports" and "本辖区" in body["message"]
    assert _stored(engine, "st_reports", f"site_id = {ELSEWHERE}") == 0


def test_a_layer_row_out_of_scope_names_its_geometry(probe, xihu, engine):
    r = probe.post(
        "/write/farmhouses",
        headers=xihu,
        json={"code": "FH-SCOPE-PROBE", "district": "余杭区", "geom": "POINT(120.02 30.28)"},
    )
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "out_of_scope" and r.json()["field"] == "geometry", r.text
    assert _stored(engine, "farmhouses", "code = 'FH-SCOPE-PROBE'") == 0


def test_the_field_comes_from_each_tables_policy():
    assert errors.scope_field("st_deductions") == "site_id"  # chengjian_scope_ok(district, 'sites', site_id)
    assert errors.scope_field("sites") == "geometry"  # a layer
    assert errors.scope_field("review_projects") == "geometry"
    assert errors.scope_field("users") is None  # no scope policy


def test_a_field_named_body_keeps_its_name(client):
    """The notice's text is its ``body``: refused empty, the error names it (the form shows it at that field)."""
    r = client.post("/api/st/notices", json={"title": "测试", "body": ""})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "body", r.json()
    r = client.post("/api/st/notices", json={"body": "正文"})  # a missing field: named, not the body location
    assert r.status_code == 422 and r.json()["field"] == "title", r.json()
