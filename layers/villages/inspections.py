"""Post-approval inspections of farmhouses under construction (VT-02, VT-14): recorded on site by a township
inspector with the phone (``/m/villages``) or by county staff, each with camera photos and the position it was made
at.

A farmhouse under construction (``farmhouses.status`` 审批中 / 在建) first receives its approval result
(``PUT …/houses/{id}/approval``: approval number and day; the house is then 在建). Its post-approval stages
(``vil_stages``, in ``seq`` order, active ones only) are then inspected one after the other: an inspection of stage S
is accepted only when S is the house's next stage; a failed one (不合格) leaves the house where it was (inspected
again later); a passed one moves ``farmhouses.stage`` to S, and the last stage passed (竣工验收) makes the house
已竣工 with ``built_year`` the inspection's year. Each stage is due ``due_days`` after the previous stage passed (after
the approval for the first): an inspection after that day is ``late``, and a house whose next stage is past due is
*overdue* (a missing report, ``construction.py``).

The house's builder (建房工匠, ``farmhouses.craftsman_id``) is given with the approval result or later
(``PUT …/houses/{id}/craftsman``), by the craftsman's ID number. Each inspection of a house whose builder is known
gives him a credit event (``craftsmen.inspection_event``: passed good, failed bad, once per inspection); the
inspections recorded before the builder was given give theirs when he is.

The position and photo checks are the standardized sites' (geo/geofence.py, geo/files.py): the phone's position
(WGS84 or GCJ02, converted) must lie within ``NEAR_M`` plus the geofence tolerance (base + the phone's accuracy, up to
the cap) of the house — of its footprint when one is drawn, else of its point — or the inspection is refused with the
distance; every photo is checked by content, kept by checksum with a thumbnail, and flagged for the reviewer when its
EXIF time or position disagrees with the report. The ``Idempotency-Key`` header is required: an inspection queued
offline and sent again is answered as the first time and stored once.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api import idempotency
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError, status_of
from geo import audit, files, geofence, personal
from geo.bounds import RESIDENT_ID, Amount, Code, Day, Moment, RecordId, Text, Version, Window, today
from geo.modules import log_labels, permissions
from geo.records import Link, register_link
from layers.persons import UNMASK
from layers.villages import craftsmen
from layers.villages.tables import PREFIX, UNDER_CONSTRUCTION, farmhouses, inspections, photos, stages

router = APIRouter(prefix=PREFIX, tags=["智慧村镇"])

INSPECT = "farmhouse.inspect"
VIEW = "farmhouse.view"
NEAR_M = 100.0  # an inspector stands on the plot or beside it: metres from the house (or footprint) allowed
MAX_PHOTOS = 9
RESULTS = {"pass": "合格", "fail": "不合格"}
PHOTO_WINDOW = Window(date(2000, 1, 1), 1)
DAY_WINDOW = Window(date(2000, 1, 1), 0)

permissions({INSPECT: "登记农房建设巡查"}, group="智慧村镇")
register_link(
    Link(
        target="farmhouses",
        module="villages",
        title="审批后阶段巡查",
        table="vil_inspections",
        column="farmhouse_id",
        columns=(
            ("stage", "阶段"),
            ("inspected_on", "巡查日期"),
            ("result", "结果"),
            ("inspector", "巡查人"),
            ("late", "迟于期限"),
        ),  # fmt: skip
        order="inspected_on DESC",
    )
)
log_labels(
    objects={"vil_inspections": "农房建设巡查", "vil_inspection_photos": "农房巡查照片"},
    actions={"inspect": "登记巡查", "approve": "登记审批结果", "demo_load": "加载演示巡查记录"},
)


# -- reading --------------------------------------------------------------------------------------------------------


def active_stages(conn: Connection) -> list[dict]:
    rows = conn.execute(sa.select(stages).where(stages.c.active).order_by(stages.c.seq)).mappings()
    return [dict(r) for r in rows]


def next_stage(conn: Connection, current: str | None) -> dict | None:
    """The first active stage after ``current`` (by ``seq``; the first stage when nothing passed yet)."""
    seq = 0
    if current is not None:
        seq = conn.execute(sa.select(stages.c.seq).where(stages.c.code == current)).scalar() or 0
    row = (
        conn.execute(sa.select(stages).where(stages.c.active, stages.c.seq > seq).order_by(stages.c.seq).limit(1))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def last_passed_on(conn: Connection, house_id: int) -> date | None:
    i = inspections.c
    return conn.execute(
        sa.select(sa.func.max(i.inspected_on)).where(i.farmhouse_id == house_id, i.result == "pass")
    ).scalar()


def owner_name(who: Principal, value: str | None) -> str | None:
    return value if who.can(UNMASK) else personal.mask_name(value)


def house(conn: Connection, house_id: int, for_update: bool = False) -> dict:
    q = sa.select(farmhouses).where(farmhouses.c.id == house_id, farmhouses.c.deleted_at.is_(None))
    row = conn.execute(q.with_for_update() if for_update else q).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "农房不存在，或不在您的数据范围内。", "farmhouse_id")
    return dict(row)


def photo_view(r: Any) -> dict:
    return {
        "id": r["id"],
        "lon": r["lon"],
        "lat": r["lat"],
        "taken_at": r["taken_at"].isoformat() if r["taken_at"] else None,
        "flags": r["flags"] or [],
        "width": r["width"],
        "height": r["height"],
        "url": f"{PREFIX}/photos/{r['id']}/file",
        "thumbnail_url": f"{PREFIX}/photos/{r['id']}/thumbnail",
    }


def inspection_view(r: Any, stage_names: dict[str, str], pics: list[dict]) -> dict:
    return {
        "id": r["id"],
        "farmhouse_id": r["farmhouse_id"],
        "stage": r["stage"],
        "stage_name": stage_names.get(r["stage"], r["stage"]),
        "inspected_on": r["inspected_on"].isoformat(),
        "inspector": r["inspector"],
        "result": r["result"],
        "result_name": RESULTS[r["result"]],
        "note": r["note"],
        "district": r["district"],
        "due_on": r["due_on"].isoformat() if r["due_on"] else None,
        "late": r["late"],
        "source": r["source"],
        "distance_m": r["distance_m"],
        "accuracy_m": r["accuracy_m"],
        "lon": r["lon"],
        "lat": r["lat"],
        "photos": pics,
        "reported_at": r["created_at"].isoformat() if r["created_at"] else None,
        "reported_by": r["created_by"],
    }


def inspections_of(conn: Connection, house_id: int | None = None, ids: list[int] | None = None) -> list[dict]:
    i = inspections.c
    q = sa.select(inspections, sa.func.ST_X(i.geom).label("lon"), sa.func.ST_Y(i.geom).label("lat")).order_by(
        i.inspected_on, i.id
    )
    q = q.where(i.farmhouse_id == house_id) if house_id is not None else q.where(i.id.in_(ids or []))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    names = dict(conn.execute(sa.select(stages.c.code, stages.c.name)).all())
    pics: dict[int, list[dict]] = {}
    if rows:
        p = photos.c
        for r in conn.execute(
            sa.select(photos).where(p.inspection_id.in_([r["id"] for r in rows])).order_by(p.id)
        ).mappings():
            pics.setdefault(r["inspection_id"], []).append(photo_view(r))
    return [inspection_view(r, names, pics.get(r["id"], [])) for r in rows]


# -- writing --------------------------------------------------------------------------------------------------------


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approval_no: Text(40, 1)
    approved_on: Day(DAY_WINDOW)
    craftsman_id_number: Code(RESIDENT_ID) | None = Field(None, title="建房工匠身份证号")


class Builder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    craftsman_id_number: Code(RESIDENT_ID) = Field(title="建房工匠身份证号")
    version: Version = Field(title="农房版本号")


def record_approval(conn: Connection, who: Principal, house_id: int, body: Approval) -> dict:
    who.require(INSPECT, "登记农房审批结果")
    h = house(conn, house_id, for_update=True)
    if h["status"] not in UNDER_CONSTRUCTION:
        raise ApiError(
            409, "not_under_construction", f"该农房的建设状态为「{h['status']}」，不能登记审批结果。", "status"
        )
    if h["stage"] is not None:
        raise ApiError(409, "stages_started", "该农房已通过审批后的阶段验收，审批结果不能再修改。", "approval_no")
    if body.approved_on > today():
        raise ApiError(422, "date_in_future", "审批日期不能晚于今天。", "approved_on")
    builder = craftsmen.builder_of(conn, body.craftsman_id_number) if body.craftsman_id_number else None
    if builder:
        _may_replace_builder(conn, who, h, builder)
    f = farmhouses.c
    after = (
        conn.execute(
            sa.update(farmhouses)
            .where(f.id == house_id)
            .values(
                approval_no=body.approval_no.strip(),
                approved_on=body.approved_on,
                status="在建",
                **({"craftsman_id": builder["id"]} if builder else {}),
                version=f.version + 1,
                updated_at=sa.func.now(),
                updated_by=who.user,
            )
            .returning(f.id, f.code, f.status, f.approval_no, f.approved_on, f.craftsman_id, f.version)
        )
        .mappings()
        .one()
    )
    audit.record(
        conn, who.user, "approve", "farmhouses", house_id,
        {"status": h["status"], "approval_no": h["approval_no"], "approved_on": h["approved_on"],
         "craftsman_id": h["craftsman_id"]},
        dict(after), who.client, user_id=who.user_id,
    )  # fmt: skip
    given = _credit_earlier(conn, who, h, builder) if builder else []
    return {**dict(after), "approved_on": after["approved_on"].isoformat(), "craftsman": builder,
            "credit_events": given}  # fmt: skip


def _may_replace_builder(conn: Connection, who: Principal, h: dict, builder: dict) -> None:
    """Another builder replaces the house's first only while no inspection has given the first a credit event."""
    if h["craftsman_id"] is not None and h["craftsman_id"] != builder["id"]:
        if craftsmen.house_events(conn, h["id"], who):
            raise ApiError(
                409,
                "builder_scored",
                "该农房的巡查已计入原建房工匠的信用记录，不能更换建房工匠；如确属登记错误，请联系市级管理员。",
                "craftsman_id_number",
            )


def _credit_earlier(conn: Connection, who: Principal, h: dict, builder: dict) -> list[dict]:
    """The credit events of the house's inspections recorded before its builder was given (none twice)."""
    names = dict(conn.execute(sa.select(stages.c.code, stages.c.name)).all())
    i = inspections.c
    given = []
    for r in conn.execute(
        sa.select(inspections).where(i.farmhouse_id == h["id"]).order_by(i.inspected_on, i.id)
    ).mappings():
        event = craftsmen.inspection_event(conn, builder["id"], dict(r), h["code"], names.get(r["stage"], ""), who)
        if event is not None:
            given.append(event)
    return given


def record_builder(conn: Connection, who: Principal, house_id: int, body: Builder) -> dict:
    """Give a house under construction its builder; the inspections already recorded give him their credit events
    (``_may_replace_builder``: another builder only while none did)."""
    who.require(INSPECT, "登记建房工匠")
    h = house(conn, house_id, for_update=True)
    if h["version"] != body.version:
        raise ApiError(409, "stale", "该农房已被他人修改，请刷新后重试。", "version", {"version": h["version"]})
    if h["status"] not in UNDER_CONSTRUCTION:
        raise ApiError(
            409, "not_under_construction", f"该农房的建设状态为「{h['status']}」，不能登记建房工匠。", "status"
        )
    builder = craftsmen.builder_of(conn, body.craftsman_id_number)
    _may_replace_builder(conn, who, h, builder)
    f = farmhouses.c
    version = h["version"]
    if h["craftsman_id"] != builder["id"]:
        version = conn.execute(
            sa.update(farmhouses)
            .where(f.id == house_id)
            .values(craftsman_id=builder["id"], version=f.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            .returning(f.version)
        ).scalar_one()
        audit.record(
            conn, who.user, "update", "farmhouses", house_id, {"craftsman_id": h["craftsman_id"]},
            {"craftsman_id": builder["id"]}, who.client, detail={"via": "builder"}, user_id=who.user_id,
        )  # fmt: skip
    given = _credit_earlier(conn, who, h, builder)
    return {"id": house_id, "code": h["code"], "version": version, "craftsman": builder, "credit_events": given}


def check_position(
    conn: Connection, house_id: int, lon: float, lat: float, crs: str | None, accuracy_m: float | None
) -> dict:
    """Where the inspector stands (WGS84) and how far from the house; refused farther than allowed."""
    try:
        pts = geofence.prepare_points(lon, lat, crs, accuracy_m)
    except geofence.GeofenceError as e:
        raise ApiError(status_of(e), e.code, e.message, e.field, e.detail)
    x, y = float(pts.lon[0]), float(pts.lat[0])
    # A string: two nearest-distance expressions on EPSG:4549, the footprint's when the house has one.
    distance = conn.execute(
        sa.text(
            "WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 4549) AS g) "
            "SELECT COALESCE((SELECT min(ST_Distance(ST_Transform(fp.geom, 4549), p.g)) FROM farmhouse_footprints fp "
            "WHERE fp.farmhouse_id = :id AND fp.deleted_at IS NULL), ST_Distance(ST_Transform(f.geom, 4549), p.g)) "
            "FROM farmhouses f, p WHERE f.id = :id"
        ),
        {"x": x, "y": y, "id": house_id},
    ).scalar()
    distance = round(float(distance) / float(pts.scale[0]), 1)
    allowed = NEAR_M + float(pts.tolerance_m[0])
    if distance > allowed:
        raise ApiError(
            422,
            "too_far_from_house",
            f"巡查位置距该农房 {distance:.0f} 米，超过允许的 {allowed:.0f} 米，请到农房现场登记。",
            "lon",
            {"distance_m": distance, "allowed_m": allowed},
        )
    return {"lon": x, "lat": y, "distance_m": distance}


def _when(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def record_inspection(
    conn: Connection,
    who: Principal,
    form: dict[str, Any],
    uploads: list[tuple[bytes, str]],
    key: str,
) -> dict:
    who.require(INSPECT, "登记农房建设巡查")
    house_id = form["farmhouse_id"]
    h = house(conn, house_id, for_update=True)
    if h["status"] == "审批中" or (h["status"] == "在建" and h["approved_on"] is None):
        raise ApiError(409, "not_approved", "该农房尚未登记审批结果，不能登记审批后的阶段巡查。", "farmhouse_id")
    if h["status"] != "在建":
        raise ApiError(
            409, "not_under_construction", f"该农房的建设状态为「{h['status']}」，不在建设中。", "farmhouse_id"
        )
    stage = conn.execute(sa.select(stages).where(stages.c.code == form["stage"])).mappings().first()
    if stage is None or not stage["active"]:
        raise ApiError(422, "unknown_stage", f"没有「{form['stage']}」这个建设阶段。", "stage")
    expected = next_stage(conn, h["stage"])
    if expected is None or expected["code"] != stage["code"]:
        passed = conn.execute(
            sa.select(1).where(
                inspections.c.farmhouse_id == house_id,
                inspections.c.stage == stage["code"],
                inspections.c.result == "pass",
            )
        ).scalar()
        if passed:
            raise ApiError(409, "stage_passed", f"该农房已通过「{stage['name']}」，无需再次登记。", "stage")
        raise ApiError(
            409,
            "stage_out_of_order",
            f"请先完成「{expected['name']}」的巡查，再登记「{stage['name']}」。"
            if expected
            else "该农房的阶段已全部完成。",
            "stage",
            {"expected": expected["code"] if expected else None},
        )
    day: date = form["inspected_on"]
    if day > today():
        raise ApiError(422, "date_in_future", "巡查日期不能晚于今天。", "inspected_on")
    if day < h["approved_on"]:
        raise ApiError(422, "before_approval", f"巡查日期早于审批日期 {h['approved_on']:%Y-%m-%d}。", "inspected_on")
    if form["result"] not in RESULTS:
        raise ApiError(422, "invalid_result", "巡查结果应为「合格」(pass) 或「不合格」(fail)。", "result")
    if not uploads:
        raise ApiError(422, "photos_required", "请至少拍摄一张现场照片。", "files")
    if len(uploads) > MAX_PHOTOS:
        raise ApiError(422, "too_many_photos", f"一次巡查至多上传 {MAX_PHOTOS} 张照片。", "files")
    if form["lon"] is None or form["lat"] is None:
        raise ApiError(422, "location_required", "必须开启定位：巡查须带现场位置（经纬度）才能登记。", "lon")
    where = check_position(conn, house_id, form["lon"], form["lat"], form["crs"], form["accuracy_m"])
    stored = []
    for data, name in uploads:
        try:
            stored.append(files.store(data, name or "photo.jpg", "photo"))
        except files.FileRefused as e:
            raise ApiError(e.status, e.code, e.message, "files", {**(e.detail or {}), "file": name})
    base = last_passed_on(conn, house_id) or h["approved_on"]
    due_on = date.fromordinal(base.toordinal() + stage["due_days"])
    inspector = (form["inspector"] or "").strip() or who.display_name or who.user
    i = inspections.c
    row = conn.execute(
        sa.insert(inspections)
        .values(
            farmhouse_id=house_id,
            stage=stage["code"],
            inspected_on=day,
            inspector=inspector,
            result=form["result"],
            note=(form["note"] or "").strip() or None,
            geom=sa.func.ST_SetSRID(sa.func.ST_MakePoint(where["lon"], where["lat"]), 4326),
            accuracy_m=form["accuracy_m"],
            distance_m=where["distance_m"],
            district=h["district"],
            due_on=due_on,
            late=day > due_on,
            source="county" if who.via == "api_key" else "mobile" if form.get("mobile") else "entry",
            idempotency_key=f"{who.user_id}:{key}",
            created_by=who.user,
            updated_by=who.user,
        )
        .returning(i.id)
    ).scalar_one()
    when = _when(form["taken_at"])
    for s in stored:
        flags = files.exif_disagreement(s.exif, where["lon"], where["lat"], when)
        conn.execute(
            pg_insert(photos)
            .values(
                inspection_id=row,
                district=h["district"],
                sha256=s.sha256,
                content_type=s.content_type,
                size_bytes=s.size,
                width=s.width,
                height=s.height,
                lon=where["lon"],
                lat=where["lat"],
                taken_at=when,
                flags=flags,
                created_by=who.user,
                updated_by=who.user,
            )
            .on_conflict_do_nothing()  # the same picture twice in one inspection is kept once
        )
    house_after = None
    if form["result"] == "pass":
        last = next_stage(conn, stage["code"]) is None
        f = farmhouses.c
        values: dict[str, Any] = {
            "stage": stage["code"],
            "version": f.version + 1,
            "updated_at": sa.func.now(),
            "updated_by": who.user,
        }
        if last:
            values |= {"status": "已竣工", "built_year": day.year}
        house_after = dict(
            conn.execute(sa.update(farmhouses).where(f.id == house_id).values(**values).returning(f.stage, f.status))
            .mappings()
            .one()
        )
        audit.record(
            conn, who.user, "update", "farmhouses", house_id, {"stage": h["stage"], "status": h["status"]},
            house_after, who.client, detail={"inspection_id": row}, user_id=who.user_id,
        )  # fmt: skip
    audit.record(
        conn, who.user, "inspect", "vil_inspections", row, None,
        {"farmhouse_id": house_id, "stage": stage["code"], "result": form["result"], "inspected_on": day,
         "late": day > due_on, "distance_m": where["distance_m"], "photos": [s.sha256 for s in stored]},
        who.client, user_id=who.user_id,
    )  # fmt: skip
    event = None
    if h["craftsman_id"] is not None:  # the builder's credit event (good or bad), once for this inspection
        recorded = {"id": row, "result": form["result"], "inspected_on": day, "note": form["note"]}
        event = craftsmen.inspection_event(conn, h["craftsman_id"], recorded, h["code"], stage["name"], who)
    out = inspections_of(conn, ids=[row])[0]
    out["house"] = {"id": house_id, "code": h["code"], **(house_after or {"stage": h["stage"], "status": h["status"]})}
    out["credit_event"] = event
    return out


# -- HTTP -----------------------------------------------------------------------------------------------------------


@router.put("/houses/{house_id}/approval", summary="登记农房审批结果（审批文号、审批日期）")
def put_approval(
    house_id: RecordId,
    body: Approval,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return record_approval(conn, who, house_id, body)


@router.put("/houses/{house_id}/craftsman", summary="登记农房的建房工匠（按身份证号；已有巡查随即计入其信用记录）")
def put_builder(
    house_id: RecordId,
    body: Builder,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    return record_builder(conn, who, house_id, body)


@router.post("/inspections", status_code=201, summary="登记审批后阶段巡查（现场照片、定位；须带 Idempotency-Key）")
def post_inspection(
    request: Request,
    files_: list[UploadFile] = File(default=[], alias="files", title="现场照片"),
    farmhouse_id: RecordId | None = Form(None, title="农房"),
    stage: Text(32) | None = Form(None, title="建设阶段"),
    inspected_on: Day(DAY_WINDOW) | None = Form(None, title="巡查日期"),
    inspector: Text(50) | None = Form(None, title="巡查人"),
    result: Text(10) | None = Form(None, title="巡查结果"),
    note: Text(1000) | None = Form(None, title="巡查意见"),
    lon: Amount(180, -180) | None = Form(None, title="经度"),
    lat: Amount(90, -90) | None = Form(None, title="纬度"),
    accuracy_m: Amount(100_000) | None = Form(None, title="定位精度（米）"),
    crs: Text(20) | None = Form(None, title="坐标系"),
    taken_at: Moment(PHOTO_WINDOW) | None = Form(None, title="拍摄时间"),
    mobile: bool = Form(False, title="手机端"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    who.require(INSPECT, "登记农房建设巡查")
    key = idempotency.key_of(request, required=True)
    assert key is not None
    for name, value, text in (
        ("farmhouse_id", farmhouse_id, "请选择农房。"),
        ("stage", stage, "请选择建设阶段。"),
        ("inspected_on", inspected_on, "请填写巡查日期。"),
        ("result", result, "请选择巡查结果。"),
    ):
        if value is None or value == "":
            raise ApiError(422, "required", text, name)
    uploads = [(f.file.read(), f.filename or "") for f in files_]
    form = {
        "farmhouse_id": farmhouse_id, "stage": stage, "inspected_on": inspected_on, "inspector": inspector,
        "result": result, "note": note, "lon": lon, "lat": lat, "accuracy_m": accuracy_m, "crs": crs,
        "taken_at": taken_at, "mobile": mobile,
    }  # fmt: skip
    digest = idempotency.body_hash(form, *(d for d, _ in uploads))
    return idempotency.run(
        conn, who.user_id, key, digest, lambda: (201, json.loads(json.dumps(
            record_inspection(conn, who, form, uploads, key), default=str)))
    )  # fmt: skip


@router.get("/houses/{house_id}/inspections", summary="农房的审批后阶段巡查记录（含照片）")
def get_inspections(
    house_id: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看农房建设巡查")
    house(conn, house_id)
    return {"items": inspections_of(conn, house_id)}


def _file(conn: Connection, pid: int, who: Principal, thumb: bool) -> FileResponse:
    who.require(VIEW, "查看农房巡查照片")
    p = conn.execute(sa.select(photos).where(photos.c.id == pid)).mappings().first()
    if p is None:
        raise ApiError(404, "not_found", "照片不存在，或不在您的数据范围内。", "id")
    try:
        path = files.open_path(p["sha256"], thumb=thumb)
    except FileNotFoundError:
        raise ApiError(404, "file_missing", "照片文件不在文件存储中，请联系管理员。", "id") from None
    return FileResponse(
        path,
        media_type="image/jpeg" if thumb else p["content_type"],
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{p["sha256"]}"'},
    )


@router.get("/photos/{pid}/file", summary="农房巡查照片原图（保留 EXIF）")
def photo_file(
    pid: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> FileResponse:
    return _file(conn, pid, who, False)


@router.get("/photos/{pid}/thumbnail", summary="农房巡查照片缩略图")
def photo_thumbnail(
    pid: RecordId, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> FileResponse:
    return _file(conn, pid, who, True)
