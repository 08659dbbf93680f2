"""The workbench's 专家库 page (/st#experts) in Debian's Chromium against the live app: a city supervisor (no
``person.unmask``) sees the pool with ID numbers and phones masked — nowhere on the page a whole number — and edits an
expert without retyping them (blank keeps the stored numbers); the administrator (``person.unmask``) opens an
expert's numbers in the clear with the 明文 button, and that unmasking is in the operation log."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests import st_world
from tests.conftest import TEST_PASSWORD, make_user, running_server
from tests.test_st_experts import POOL, idn, phone, pool_rows, upload, xlsx

BOSS, ADMIN_USER = "st-expert-page-boss", "st-expert-page-admin"


@pytest.fixture(scope="module")
def world(engine, app):
    from fastapi.testclient import TestClient

    info = st_world.build(engine)
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE st_reviews, st_assignments, st_draws, st_rounds, st_experts RESTART IDENTITY CASCADE")
        )
    boss = make_user(BOSS, ["city_supervisor"])
    make_user(ADMIN_USER, ["admin"])
    with TestClient(app) as c:
        r = upload(c, boss, xlsx(pool_rows()), "commit")
        assert r.status_code == 201 and r.json()["created"] == len(POOL), r.text
    return info


@pytest.fixture(scope="module")
def server(app, world):
    with running_server(app) as base:
        yield base


def signed_in(browser, server, username: str):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(server + "/st#experts")
    login = page.locator("#login")
    login.locator("input[name=username]").fill(username)
    login.locator("input[name=password]").fill(TEST_PASSWORD)
    login.locator("button[type=submit]").click()
    expect(page.locator("#whoami")).to_contain_text(username)
    page.locator(".tab[data-tab=experts]").click()
    expect(page.locator(".pane[data-tab=experts] tbody tr")).to_have_count(len(POOL))
    return context, page, errors


def full_numbers() -> set[str]:
    return {idn(i) for i in range(1, len(POOL) + 1)} | {phone(i) for i in range(1, len(POOL) + 1)}


def expert_row(engine, name: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT id, person_id, id_number, phone, title, version FROM experts WHERE name = :n"), {"n": name}
            )
            .mappings()
            .one()
        )


def test_supervisor_sees_masked_numbers_and_edits_without_them(browser, server, world, engine):
    from playwright.sync_api import expect

    context, page, errors = signed_in(browser, server, BOSS)
    try:
        pane = page.locator(".pane[data-tab=experts]")
        row = pane.locator("tbody tr", has_text="李明")
        expect(row).to_contain_text("137****0002")
        html = page.content()
        assert not {n for n in full_numbers() if n in html}
        assert pane.locator("button", has_text="明文").count() == 0  # no person.unmask
        before = expert_row(engine, "李明")
        row.locator("button", has_text="修改").click()
        form = page.locator("dialog form")
        id_input = form.locator("input[name=id_number]")
        expect(id_input).to_have_value("")
        expect(id_input).to_have_attribute("placeholder", idn(2)[:4] + "*" * 10 + idn(2)[-4:])
        expect(form.locator("input[name=phone]")).to_have_attribute("placeholder", "137****0002")
        assert not {n for n in full_numbers() if n in page.content()}
        form.locator("input[name=title]").fill("正高级工程师")
        form.locator("button[type=submit]").click()
        expect(page.locator("dialog[open]")).to_have_count(0)
        expect(row).to_contain_text("正高级工程师")
        after = expert_row(engine, "李明")
        assert (after["id_number"], after["phone"], after["title"]) == (
            before["id_number"],
            before["phone"],
            "正高级工程师",
        )
        assert after["version"] == before["version"] + 1
        assert not errors, errors
    finally:
        context.close()


def test_administrator_unmasks_on_purpose_and_it_is_logged(browser, server, world, engine):
    from playwright.sync_api import expect

    with engine.connect() as conn:
        base = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
    zhang = expert_row(engine, "张伟")
    context, page, errors = signed_in(browser, server, ADMIN_USER)
    try:
        pane = page.locator(".pane[data-tab=experts]")
        row = pane.locator("tbody tr", has_text="张伟")
        expect(row).to_contain_text("137****0003")  # the list is masked for the administrator too
        assert not {n for n in full_numbers() if n in page.content()}
        row.locator("button", has_text="明文").click()
        shown = page.locator(f"dialog[open] [data-expert='{zhang['id']}']")
        expect(shown.locator("#x-id-number")).to_have_text(idn(3))
        expect(shown.locator("#x-phone")).to_have_text(phone(3))
        assert not errors, errors
    finally:
        context.close()
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, layer, feature_id FROM audit_log WHERE id > :b AND action = 'unmask'"), {"b": base}
        ).all()
    assert [tuple(r) for r in logged] == [(ADMIN_USER, "persons", zhang["person_id"])]
