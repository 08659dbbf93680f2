"""``geometry && geometry`` LEAKPROOF: ``chengjian db migrate`` declares it again whenever it is lost (idempotent),
says so when it cannot, and the app warns at start-up while it is missing (geo/leakproof.py)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from etl.cli import main
from geo import leakproof

DROP = "ALTER FUNCTION geometry_overlaps(geometry, geometry) NOT LEAKPROOF"
RESTORE = "ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF"


def flag(engine) -> bool:
    with engine.connect() as conn:
        found = leakproof.state(conn)
    assert found is not None and found[0] == "geometry_overlaps(geometry,geometry)"
    return found[1]


@pytest.fixture
def dropped(engine):
    """The flag lost, as after ``ALTER EXTENSION postgis UPDATE``; set again at the end whatever happens."""
    with engine.begin() as conn:
        conn.execute(sa.text(DROP))
    assert flag(engine) is False
    yield
    with engine.begin() as conn:
        conn.execute(sa.text(RESTORE))


def test_migrate_declares_it_again_then_says_it_is_there(engine, dropped, capsys):
    assert main(["db", "migrate"]) == 0
    out = capsys.readouterr().out
    assert "migrations applied" in out and "declared geometry_overlaps(geometry, geometry) LEAKPROOF" in out
    assert flag(engine) is True

    assert main(["db", "migrate"]) == 0
    out = capsys.readouterr().out
    assert "already declared, nothing to do" in out
    assert flag(engine) is True


def test_a_user_that_is_not_superuser_is_told_how_to_fix_it(engine, dropped):
    with engine.connect() as conn:
        conn.execute(sa.text("SET ROLE chengjian_app"))
        outcome = leakproof.ensure(conn)
        conn.rollback()
    assert outcome is leakproof.Outcome.NOT_SUPERUSER
    text = leakproof.describe(outcome, "chengjian_app")
    assert "chengjian_app is not a superuser" in text and "chengjian db migrate` as a database superuser" in text
    assert flag(engine) is False


def test_the_app_warns_at_start_up_while_it_is_missing(engine, dropped, caplog):
    from api.app import create_app

    with caplog.at_level(logging.WARNING, logger="chengjian.db"):
        create_app()
    warnings = [r for r in caplog.records if r.name == "chengjian.db" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "not LEAKPROOF" in message and "scan whole tables" in message
    assert "chengjian db migrate` as a database superuser" in message


def test_no_warning_when_it_is_declared(engine, caplog):
    from api.app import create_app

    assert flag(engine) is True
    with caplog.at_level(logging.WARNING, logger="chengjian.db"):
        create_app()
    assert not [r for r in caplog.records if r.name == "chengjian.db"]
