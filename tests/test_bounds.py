"""Bounds of every declared field (issue #11 §2): the absurd values once accepted — review rounds dated in the year
280 and 803, a reminder of 704.2266446795251 hours, a 40-character code of zeros — are refused with a code, the
field and a Chinese message naming the field and the allowed range or shape, and nothing is stored; and a walk over
every layer attribute, every standardized-site request model and the module settings finds no date, number or code
without declared bounds (geo/bounds.py), so a new unbounded field fails here."""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy import text

from geo import bounds
from geo.layer.attributes import coerce_column
from geo.layer.registry import registry
from geo.settings import ModuleSettings, classes
from tests.conftest import ADMIN

ROUNDS = "/api/st/rounds"
ZEROS = "0" * 40


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def refused(r, code: str, field: str, *words: str) -> dict:
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["code"], body["field"]) == (code, field), body
    for w in words:
        assert w in body["message"], body["message"]
    return body


def a_round(**changes: Any) -> dict:
    start = dt.datetime.now(bounds.BEIJING).replace(microsecond=0) + dt.timedelta(days=3)
    return {
        "name": "边界测试轮次",
        "review_from": start.isoformat(),
        "review_to": (start + dt.timedelta(days=2)).isoformat(),
        "reminder_hours": 24,
        "per_project": 2,
        "max_per_expert": 3,
        **changes,
    }


# -- the probe values --------------------------------------------------------------------------------------------


def test_review_rounds_dated_in_the_years_280_and_803_are_refused(client, engine):
    before = count(engine, "st_rounds")
    r = client.post(ROUNDS, headers=ADMIN, json=a_round(review_from="0280-05-01T09:00:00+08:00"))
    refused(r, "out_of_range", "review_from", "「评审开始时间」", "2000-01-01")
    r = client.post(ROUNDS, headers=ADMIN, json=a_round(review_to="0803-05-01T09:00:00+08:00"))
    refused(r, "out_of_range", "review_to", "「评审截止时间」", "2000-01-01")
    assert count(engine, "st_rounds") == before
    # Moving an existing round there is refused too, and the round stays as it was.
    made = client.post(ROUNDS, headers=ADMIN, json=a_round())
    assert made.status_code == 201, made.text
    rnd = made.json()
    r = client.patch(
        f"{ROUNDS}/{rnd['id']}",
        headers=ADMIN,
        json={"version": rnd["version"], "review_from": "0803-01-01T00:00:00+08:00"},
    )
    refused(r, "out_of_range", "review_from", "「评审开始时间」")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT version, review_from FROM st_rounds WHERE id = :i"), {"i": rnd["id"]}).one()
    assert row.version == rnd["version"] and row.review_from == dt.datetime.fromisoformat(rnd["review_from"])


def test_a_reminder_of_704_point_2_hours_is_refused_not_rounded(client, engine):
    before = count(engine, "st_rounds")
    r = client.post(ROUNDS, headers=ADMIN, json=a_round(reminder_hours=704.2266446795251))
    body = refused(r, "invalid_type", "reminder_hours", "「截止前提醒（小时）」", "1 至 720 之间的整数")
    assert body["detail"]["value"] == 704.2266446795251
    for hours, code in ((721, "out_of_range"), (0, "out_of_range"), (True, "invalid_type"), ("很多", "invalid_type")):
        refused(client.post(ROUNDS, headers=ADMIN, json=a_round(reminder_hours=hours)), code, "reminder_hours")
    assert count(engine, "st_rounds") == before
    # A whole number is kept as it is, also when written 48.0 or "48" (as a spreadsheet cell would be).
    for given in (48.0, "48"):
        r = client.post(ROUNDS, headers=ADMIN, json=a_round(reminder_hours=given))
        assert r.status_code == 201 and r.json()["reminder_hours"] == 48, r.text


def test_a_40_character_code_of_zeros_is_refused_everywhere(client, engine):
    before = count(engine, "st_catalog")
    r = client.post("/api/st/config/catalog", headers=ADMIN, json={"kind": "photo", "code": ZEROS, "name": "全零编码"})
    refused(r, "bad_format", "code", "「编码」", "以字母开头")
    assert count(engine, "st_catalog") == before
    # A record's own code (项目编号) in a layer.
    pt = {"type": "Point", "coordinates": [120.13, 30.26]}
    n = count(engine, "sites")
    r = client.post(
        "/api/layers/sites/features",
        headers=ADMIN,
        json={"type": "Feature", "geometry": pt, "properties": {"code": ZEROS, "name": "全零工地"}},
    )
    refused(r, "bad_format", "code", "「项目编号」", "不能全为 0")
    assert count(engine, "sites") == n
    # The project code of a registration, a deduction's subject and an expert's ID number.
    reg = {
        "project_code": ZEROS,
        "permit_no": "330106202601010101",
        "construction_uscc": "91330100MA2XXXXX1A",
        "construction_contact": {"name": "张三", "phone": "13900000001"},
        "supervision_contact": {"name": "李四", "phone": "13900000002"},
    }
    refused(client.post("/api/st/registrations", json=reg), "bad_format", "project_code", "「项目代码」")
    refused(
        client.post("/api/st/experts", headers=ADMIN, json={"name": "零", "id_number": ZEROS, "phone": "13900000003",
                                                              "group_name": "房屋建筑"}),
        "invalid_id_number",
        "id_number",
        "「身份证号」",
    )  # fmt: skip


def test_layer_dates_outside_the_window_are_refused_and_nothing_is_stored(client, engine):
    pt = {"type": "Point", "coordinates": [120.13, 30.26]}
    n = count(engine, "sites")
    for day in ("0280-01-01", "0803-12-31", (dt.date.today() + dt.timedelta(days=11 * 366)).isoformat()):
        r = client.post(
            "/api/layers/sites/features",
            headers=ADMIN,
            json={"type": "Feature", "geometry": pt, "properties": {"code": "B-1", "name": "工地", "start_date": day}},
        )
        refused(r, "out_of_range", "start_date", "「开工日期」", "1949-10-01")
    assert count(engine, "sites") == n
    # An import reads the same rules (one column, the same message per row).
    attr = registry.get("sites").attr("start_date")
    values, errors = coerce_column(attr, ["2020-05-01", "0280-01-01"])
    assert values[0] == dt.date(2020, 5, 1) and list(errors) == [1] and errors[1].code == "out_of_range"


def test_the_refusal_message_comes_from_the_declaration():
    class Body(BaseModel):
        hours: bounds.Hours = Field(title="提醒时间")
        day: bounds.Day() | None = None  # type: ignore[valid-type]

    assert Body(hours="12").hours == 12
    with pytest.raises(ValueError, match="应为 1 至 720 之间的整数"):
        Body(hours=704.2)
    with pytest.raises(ValueError, match="应为日期"):
        Body(hours=1, day=0)  # a number is not a date (pydantic would read it as a Unix time)
    with pytest.raises(ValueError, match="1949-10-01"):
        Body(hours=1, day="0803-01-01")


def test_a_monthly_report_count_has_an_upper_bound(engine):
    from api.errors import ApiError
    from layers.standard_sites.reports import check_form

    with engine.connect() as conn:
        assert check_form(conn, {"workers": 120}, False) == {"workers": 120}
        for value, code in ((10**12, "out_of_range"), (-1, "out_of_range"), (704.2266446795251, "invalid_number")):
            with pytest.raises(ApiError) as e:
                check_form(conn, {"workers": value}, False)
            assert (e.value.code, e.value.field) == (code, "form.workers") and "「在场作业人数」" in e.value.message


def test_back_office_times_and_identifiers_are_bounded(client, engine):
    before = count(engine, "user_grants")
    body = {"layer": "sites", "feature_id": 1, "relation": "施工单位", "valid_from": "0280-01-01"}
    r = client.post("/api/admin/users/1/grants", headers=ADMIN, json=body)
    refused(r, "out_of_range", "valid_from", "1949-10-01")
    r = client.post("/api/admin/users/1/grants", headers=ADMIN, json={**body, "valid_from": None, "feature_id": 0})
    refused(r, "out_of_range", "feature_id", "「记录编号」")
    assert count(engine, "user_grants") == before
    r = client.post(
        "/api/admin/organisations", headers=ADMIN, json={"name": "零公司", "kind": "enterprise", "uscc": "0" * 18}
    )
    refused(r, "invalid_uscc", "uscc", "「统一社会信用代码」")  # fmt: skip


# -- every declared field has bounds -------------------------------------------------------------------------------

CODE_LIKE = ("code", "permit_no", "uscc", "phone", "id_number")


def _parts(tp: Any, meta: list[Any]):
    """(base type, metadata) of every value an annotation holds: unions, containers and Annotated unwrapped."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *more = typing.get_args(tp)
        yield from _parts(base, meta + more)
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None):
                yield from _parts(arg, meta)
    elif origin in (list, tuple, set, frozenset, dict):
        for arg in typing.get_args(tp):
            yield from _parts(arg, [])
    elif origin is typing.Literal:
        return
    else:
        yield tp, meta


def unbounded(model: type[BaseModel], seen: set | None = None, text: bool = True) -> list[str]:
    """The fields of ``model`` (and the models it holds) that are dates, numbers or (``text``) text without a
    declared bound."""
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    missing = []
    for name, info in model.model_fields.items():
        for tp, meta in _parts(info.annotation, list(info.metadata)):
            bound = bounds.bound_of(meta)
            where = f"{model.__module__}.{model.__qualname__}.{name}"
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                missing += unbounded(tp, seen, text)
            elif tp in (dt.date, dt.datetime) and not isinstance(bound, bounds.Window):
                missing.append(where)
            elif tp in (int, float) and not isinstance(bound, bounds.Range):
                missing.append(where)
            elif tp is str and text and not isinstance(bound, (bounds.Length, bounds.Shape)):
                missing.append(where)
            elif tp is str and any(w in name for w in CODE_LIKE) and not isinstance(bound, bounds.Shape):
                missing.append(where + " (a code without a shape)")
    return missing


def api_routes(routes):
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from api_routes(r.original_router.routes)


# Bodies not walked, and why: a fence check's coordinates may be in any supported CRS (metres in EPSG:4549), and
# geo/geofence.py checks them against that CRS's area of use.
NOT_WALKED = ("/api/geofence",)


def request_models(app) -> list[type[BaseModel]]:
    """The request bodies (JSON or form) of every route: the modules', the back office's, sign-in's."""
    found = []
    for route in api_routes(app.routes):
        if route.body_field is None or route.path.startswith(NOT_WALKED):
            continue
        for tp, _ in _parts(route.body_field.field_info.annotation, []):
            if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in found:
                found.append(tp)
    return found


def test_the_walk_finds_an_unbounded_field():
    class Sloppy(BaseModel):
        when: dt.date
        hours: float | None = Field(None, ge=0)
        code: bounds.Text(40)  # type: ignore[valid-type]
        ok: bounds.Hours

    assert [m.rsplit(".", 1)[1] for m in unbounded(Sloppy)] == ["when", "hours", "code (a code without a shape)"]


def test_every_request_field_has_bounds(app):
    models = request_models(app)
    names = {m.__name__ for m in models}
    st = {"RoundIn", "RoundUpdate", "NewItem", "NewDeduction", "ExpertIn", "Registration", "NewStage", "ReviewIn"}
    assert st | {"ActionBody", "UserIn", "GrantIn", "OrgIn", "KeyIn", "Login"} <= names
    missing = [f for m in models for f in unbounded(m)]
    assert missing == []


def test_every_setting_has_bounds():
    found = classes()  # the platform's and every module's
    assert any(issubclass(c, ModuleSettings) for c in found), "no module settings discovered"
    # Numbers and dates (text settings are URLs, paths and names an operator writes); tests may declare their own.
    assert [f for c in found for f in unbounded(c, text=False) if ".test_" not in f] == []


def test_every_layer_attribute_has_bounds():
    problems = []
    for layer in registry.all():
        for attr in layer.writable:
            where = f"{layer.id}.{attr.name}"
            if attr.type in ("date", "datetime"):
                _, errors = coerce_column(attr, ["0280-01-01", "0803-06-01"])
                if sorted(e.code for e in errors.values()) != ["out_of_range"] * 2:
                    problems.append(where)
            elif attr.type in ("int", "float"):
                if attr.minimum is None or attr.maximum is None:
                    problems.append(where)
            elif attr.type == "text" and not attr.choices:
                if attr.max_length is None:
                    problems.append(where)
                if any(w in attr.name for w in CODE_LIKE):
                    _, errors = coerce_column(attr, [ZEROS[: attr.max_length]])
                    if not errors or errors[0].code != "bad_format":
                        problems.append(where + " (a code without a shape)")
    assert problems == []


def test_no_declared_bound_of_a_query_or_path_parameter_is_dropped(app):
    """A query or path parameter declared with a bound (``limit: Whole(1, 500)``) keeps it: FastAPI drops the
    annotation's metadata of a plain (not optional) parameter whose default is ``Query(…)`` — ``limit: Whole(1, 500) =
    Query(50)`` took any integer, and a negative LIMIT reached the database once. Write ``limit: Whole(1, 500) = 50``."""

    def declared(call, name):
        try:
            hint = typing.get_type_hints(call, include_extras=True).get(name)
        except Exception:  # noqa: BLE001 - a class or callable without resolvable hints declares nothing here
            return None
        if hint is None or typing.get_origin(hint) is not typing.Annotated:
            return None
        return bounds.bound_of(list(hint.__metadata__))

    def params(dependant):
        for field in [*dependant.query_params, *dependant.path_params]:
            yield dependant.call, field
        for sub in dependant.dependencies:
            yield from params(sub)

    dropped = []
    for route in api_routes(app.routes):
        for call, field in params(route.dependant):
            if call is None or declared(call, field.name) is None:
                continue
            kept = [
                bounds.bound_of(meta)
                for _, meta in _parts(field.field_info.annotation, list(field.field_info.metadata))
            ]
            if not any(kept):
                dropped.append(f"{route.path} {field.name}")
    assert sorted(set(dropped)) == []
