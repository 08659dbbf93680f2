"""The merge of existing craftsman lists (工匠信息整合, VT-04): an Excel file matched on the resident ID number.

Columns (row 1 is the header, read by title; * required): 姓名*, 身份证号*, 手机号, 区县*, 乡镇街道, 工种 (several
separated by 、 or commas), 施工队/班组, and optionally one training per row: 培训课程, 培训学时, 培训日期, 证书编号,
证书有效期至.

Each row is matched on the ID number, first against the personnel register, then against the craftsmen:

- a person not in the register is added there and registered as a craftsman (``created``);
- a person already a craftsman is merged (``merged``): the trades are joined, an empty township or team is filled
  (a different one is kept), a training not yet recorded is added; never a second craftsman;
- a person in the register but not a craftsman yet becomes one (``created``);
- a name, or a phone, different from the register's is a *conflict*: the register keeps its value, the rest of the
  row is merged, and the conflict is listed for a person to resolve (keep the register's value or take the
  list's); an empty phone in the register is simply filled.

All or nothing: a row that fails a check (bad ID number, unknown district, a trade not active in ``vil_trades``, a
district outside the importer's scope, the same ID number twice in the file …) is reported by its Excel row number
and nothing is stored.
``mode=dry_run`` reports what a commit would do (with the conflicts) and stores nothing. A committed import is
logged (``vil_craftsman_imports``) with its report; its conflicts stay open until resolved (the same conflict
from a second import of the same list is not opened twice). Personal data is masked in every report.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, personal, sheets
from geo.bounds import RecordId, Text, Version
from geo.errors import Conflict, Forbidden, Invalid, NotFound, StaleVersion
from layers.persons import UNMASK, check_id_number, get_by_id_number, persons
from layers.villages import craftsmen as cm
from layers.villages import trades as trade_list
from layers.villages import training

router = APIRouter(prefix="/api/villages/craftsman-merge", tags=["智慧村镇·工匠"])

COLUMNS = (
    ("name", "姓名"),
    ("id_number", "身份证号"),
    ("phone", "手机号"),
    ("district", "区县"),
    ("township", "乡镇街道"),
    ("trades", "工种"),
    ("team", "施工队/班组"),
    ("course", "培训课程"),
    ("hours", "培训学时"),
    ("trained_on", "培训日期"),
    ("certificate_no", "证书编号"),
    ("expires_on", "证书有效期至"),
)
REQUIRED = ("name", "id_number", "district")
HEADERS = dict(COLUMNS)
FIELDS = {"name": "姓名", "phone": "手机号"}
STATUSES = {"open": "待处理", "kept": "保留人员库信息", "taken": "采用导入信息"}

imports = sa.Table(
    "vil_craftsman_imports",
    cm.metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("district", sa.Text),
    sa.Column("filename", sa.Text),
    sa.Column("mode", sa.Text),
    sa.Column("rows", sa.Integer),
    sa.Column("created", sa.Integer),
    sa.Column("merged", sa.Integer),
    sa.Column("conflicts", sa.Integer),
    sa.Column("report", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("created_by", sa.Text),
)
conflicts = sa.Table(
    "vil_craftsman_conflicts",
    cm.metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("import_id", sa.BigInteger),
    sa.Column("row_no", sa.Integer),
    sa.Column("craftsman_id", sa.BigInteger),
    sa.Column("person_id", sa.BigInteger),
    sa.Column("district", sa.Text),
    sa.Column("field", sa.Text),
    sa.Column("current_value", sa.Text),
    sa.Column("incoming_value", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("created_by", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("updated_by", sa.Text),
)


# -- reading the sheet ---------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _split(value: Any) -> list[str]:
    text = str(value or "")
    for sep in ("，", "、", ";", "；", "/"):
        text = text.replace(sep, ",")
    return [s.strip() for s in text.split(",") if s.strip()]


def _day(value: Any, key: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise Invalid("invalid_date", f"「{HEADERS[key]}」应为日期（YYYY-MM-DD）。", key) from None


def _hours(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Invalid("invalid_number", "「培训学时」应为数字。", "hours") from None


# -- one row -------------------------------------------------------------------------------------------------


def merge_row(
    conn: Connection,
    number: int,
    data: dict,
    who: Any,
    found: list[dict],
    known: frozenset[str],
    known_trades: dict[str, bool],
) -> str:
    """One sheet row merged (see the module's description); appends its conflicts to ``found``; returns
    ``created``, ``merged`` or ``unchanged``. ``known`` and ``known_trades``: the counties and the trades (name →
    active), read once per file."""
    idn = check_id_number(data.get("id_number"))
    name = cm.check_name(data.get("name"))
    phone = cm.check_phone(data.get("phone"))
    district = cm.check_district(conn, data.get("district"), known=known)
    cm.require_district(who, district)
    trades = cm.clean_trades(_split(data.get("trades")), known_trades)
    township = cm._short(data.get("township"), "乡镇街道", "township", 50)
    team = cm._short(data.get("team"), "施工队/班组", "team", 100)
    course = None
    if any(data.get(k) not in (None, "") for k in ("course", "hours", "trained_on", "certificate_no", "expires_on")):
        course = training.clean(
            {
                "course": data.get("course"),
                "hours": _hours(data.get("hours")),
                "trained_on": _day(data.get("trained_on"), "trained_on"),
                "certificate_no": data.get("certificate_no"),
                "expires_on": _day(data.get("expires_on"), "expires_on"),
            }
        )
    person = get_by_id_number(conn, idn)
    new_person = person is None
    if person is None:
        person = cm.add_person(conn, idn, name, phone, district, who.user, who.client)
    differences = []
    if name != person["name"]:
        differences.append(("name", person["name"], name))
    if phone and person["phone"] and phone != person["phone"]:
        differences.append(("phone", person["phone"], phone))
    if phone and not person["phone"]:
        cm.fill_phone(conn, person, phone, who.user, who.client)
    existing = None if new_person else cm.craftsman_of_person(conn, person["id"])
    if existing is None:
        values = {"district": district, "township": township, "trades": trades, "team": team}
        cid = cm.insert_craftsman(conn, person["id"], values, "import", who.user)
        logged = {**values, "person_id": person["id"], "name": person["name"], "source": "import",
                  "id_number": personal.mask_id_number(idn)}  # fmt: skip
        audit.record(
            conn, who.user, "create", "vil_craftsmen", cid, None, logged, who.client,
            {"via": "merge", "row": number}, who.user_id,
        )  # fmt: skip
        outcome = "created"
        craftsman = {"id": cid, "district": district}
    else:
        cm.require_district(who, existing["district"])
        changes: dict[str, Any] = {}
        joined = cm.clean_trades([*existing["trades"], *trades], known_trades, kept=existing["trades"])
        if joined != list(existing["trades"]):
            changes["trades"] = joined
        if township and not existing["township"]:
            changes["township"] = township
        if team and not existing["team"]:
            changes["team"] = team
        outcome = "unchanged"
        if changes:
            before = cm.snapshot(conn, existing["id"])
            c = cm.craftsmen
            conn.execute(
                sa.update(c)
                .where(c.c.id == existing["id"])
                .values(**changes, version=c.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
            )
            audit.record(
                conn, who.user, "update", "vil_craftsmen", existing["id"], before, cm.snapshot(conn, existing["id"]),
                who.client, {"via": "merge", "row": number}, who.user_id,
            )  # fmt: skip
            outcome = "merged"
        craftsman = existing
    if course is not None and (
        existing is None  # a craftsman created by this row has no training yet
        or training.same_training(conn, craftsman["id"], course["course"], course["trained_on"]) is None
    ):
        training.insert(conn, craftsman, course, who.user)
        if outcome == "unchanged":
            outcome = "merged"
    for field, current, incoming in differences:
        found.append(
            {
                "row": number,
                "craftsman_id": craftsman["id"],
                "person_id": person["id"],
                "district": craftsman["district"],
                "field": field,
                "current_value": current,
                "incoming_value": incoming,
            }
        )
    return outcome


def _masked_conflict(c: dict, unmasked: bool = False) -> dict:
    kind = "phone" if c["field"] == "phone" else "name"
    show = (lambda v: v) if unmasked else (lambda v: personal.mask(kind, v))
    return {**c, "field_title": FIELDS[c["field"]], "current_value": show(c["current_value"]),
            "incoming_value": show(c["incoming_value"])}  # fmt: skip


def import_xlsx(conn: Connection, content: bytes, filename: str, commit: bool, who: Any) -> dict:
    """Merge the sheet (all or nothing); the report counts created, merged and unchanged craftsmen and lists the
    refused rows and the conflicts by Excel row number, masked."""
    ws = sheets.open_workbook(content).worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    by_title = {title: key for key, title in COLUMNS}
    columns = {i: by_title[h] for i, h in enumerate(header) if h in by_title}
    missing = [HEADERS[k] for k in REQUIRED if k not in columns.values()]
    if missing:
        raise Invalid(
            "missing_columns",
            f"表头缺少列：{'、'.join(missing)}（第 1 行应为表头）。",
            "file",
            {"missing": missing, "expected": [title for _, title in COLUMNS]},
        )
    report = sheets.report(commit, rows=0, created=0, merged=0, unchanged=0, conflicts=0)
    errors: list[dict] = report["errors"]
    found: list[dict] = []
    seen: dict[str, int] = {}
    known = cm.counties(conn)
    known_trades = trade_list.listed(conn)
    outer = conn.begin_nested()
    for number, values in sheets.filled_rows(rows):
        report["rows"] += 1
        data = {key: _cell(values[i]) if i < len(values) else None for i, key in columns.items()}
        shown = personal.mask_id_number(str(data.get("id_number") or "").strip())
        try:
            with conn.begin_nested():
                idn = check_id_number(data.get("id_number"))
                if idn in seen:
                    raise Invalid("duplicate_row", f"身份证号与第 {seen[idn]} 行重复。", "id_number")
                seen[idn] = number
                report[merge_row(conn, number, data, who, found, known, known_trades)] += 1
        except (Invalid, Conflict, Forbidden) as e:
            column = (e.field or "").rsplit(".", 1)[-1]
            errors.append(
                {
                    "row": number,
                    "column": HEADERS.get(column, column or None),
                    "code": e.code,
                    "id_number": shown,
                    "message": f"第 {number} 行：{e.message}",
                }
            )
        except sa.exc.IntegrityError:
            errors.append(
                {
                    "row": number,
                    "column": None,
                    "code": "conflict",
                    "id_number": shown,
                    "message": f"第 {number} 行：与已有数据冲突。",
                }
            )
    report["conflicts"] = len(found)
    result = sheets.conclude(conn, outer, report, commit, "工匠", "vil_craftsmen", who.user, who.client, who.user_id)
    result["conflict_rows"] = [_masked_conflict(c) for c in found]
    if commit:
        log(conn, filename, result, found, who)
    return result


def log(conn: Connection, filename: str, result: dict, found: list[dict], who: Any) -> None:
    """The committed import in the import log, and its conflicts opened (one already open is not opened again)."""
    district = None if who.scope.all else (who.scope.districts[0] if len(who.scope.districts) == 1 else None)
    import_id = conn.execute(
        sa.insert(imports)
        .values(
            district=district,
            filename=(filename or "")[:200] or None,
            mode=result["mode"],
            rows=result["rows"],
            created=result["created"],
            merged=result["merged"],
            conflicts=result["conflicts"],
            report={k: v for k, v in result.items()},
            created_by=who.user,
        )
        .returning(imports.c.id)
    ).scalar_one()
    result["import_id"] = import_id
    for c in found:
        conn.execute(
            postgresql.insert(conflicts)
            .values(
                import_id=import_id,
                row_no=c["row"],
                craftsman_id=c["craftsman_id"],
                person_id=c["person_id"],
                district=c["district"],
                field=c["field"],
                current_value=c["current_value"],
                incoming_value=c["incoming_value"],
                created_by=who.user,
                updated_by=who.user,
            )
            .on_conflict_do_nothing(
                index_elements=["person_id", "field", "incoming_value"], index_where=sa.text("status = 'open'")
            )
        )


# -- conflicts -----------------------------------------------------------------------------------------------


def conflict_view(row: dict, unmasked: bool = False) -> dict:
    out = {
        "id": row["id"],
        "import_id": row["import_id"],
        "row": row["row_no"],
        "craftsman_id": row["craftsman_id"],
        "person_id": row["person_id"],
        "district": row["district"],
        "field": row["field"],
        "current_value": row["current_value"],
        "incoming_value": row["incoming_value"],
        "register_value": row.get("register_value"),
        "status": row["status"],
        "status_title": STATUSES[row["status"]],
        "resolved_by": row["resolved_by"],
        "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
        "version": row["version"],
    }
    out = _masked_conflict(out, unmasked)
    if not unmasked and out["register_value"] is not None:
        out["register_value"] = personal.mask("phone" if row["field"] == "phone" else "name", out["register_value"])
    return out


def _conflict_select() -> sa.Select:
    c, p = conflicts, persons
    register_value = sa.case((c.c.field == "name", p.c.name), else_=p.c.phone).label("register_value")
    return sa.select(c, register_value).select_from(c.outerjoin(p, p.c.id == c.c.person_id))


def resolve(conn: Connection, conflict_id: int, choice: str, version: int, who: Any) -> dict:
    """``keep``: the register keeps its value; ``take``: the register takes the list's value (checked again). The
    conflict is closed either way, with who and when; both are in the operation log (the values masked)."""
    c = conflicts
    row = conn.execute(sa.select(c).where(c.c.id == conflict_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFound("not_found", "冲突记录不存在或不在您的数据范围内。")
    cm.require_district(who, row["district"])
    if row["status"] != "open":
        raise Conflict("already_resolved", f"该冲突已处理（{STATUSES[row['status']]}）。", "status")
    if version != row["version"]:
        raise StaleVersion(row["version"], version, "冲突记录")
    if choice == "take":
        person = conn.execute(sa.select(persons).where(persons.c.id == row["person_id"])).mappings().first()
        if person is None:
            raise NotFound("not_found", "该人员不在您的数据范围内。")
        field = row["field"]
        value = cm.check_name(row["incoming_value"]) if field == "name" else cm.check_phone(row["incoming_value"])
        p = persons
        conn.execute(
            sa.update(p)
            .where(p.c.id == row["person_id"])
            .values({field: value, "version": p.c.version + 1, "updated_at": sa.func.now(), "updated_by": who.user})
        )
        kind = "phone" if field == "phone" else "name"
        audit.record(
            conn, who.user, "update", "persons", row["person_id"], {field: personal.mask(kind, person[field])},
            {field: personal.mask(kind, value)}, who.client, {"via": "craftsman_merge", "conflict": conflict_id},
            who.user_id,
        )  # fmt: skip
    status = "taken" if choice == "take" else "kept"
    conn.execute(
        sa.update(c)
        .where(c.c.id == conflict_id)
        .values(
            status=status,
            resolved_at=sa.func.now(),
            resolved_by=who.user,
            version=c.c.version + 1,
            updated_at=sa.func.now(),
            updated_by=who.user,
        )
    )
    audit.record(
        conn, who.user, "resolve", "vil_craftsman_conflicts", conflict_id, {"status": "open"}, {"status": status},
        who.client, {"field": row["field"]}, who.user_id,
    )  # fmt: skip
    after = conn.execute(_conflict_select().where(c.c.id == conflict_id)).mappings().one()
    return conflict_view(dict(after))


# -- API -----------------------------------------------------------------------------------------------------


EXPORT_LIMIT = 20_000  # craftsmen in one Excel file
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[dict], unmasked: bool) -> bytes:
    """The craftsmen in the import's columns (a file exported here merges back unchanged), the latest training of
    each on its row; ID numbers and phones masked unless ``unmasked``."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("工匠名单")
    ws.append([title for _, title in COLUMNS])
    for row in rows:
        if not unmasked:
            row = personal.mask_row(row, cm.MASKED)
        values = {**row, "trades": "、".join(row.get("trades") or [])}
        ws.append([values.get(key) for key, _ in COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_rows(conn: Connection, where: list) -> list[dict]:
    c, p, t = cm.craftsmen, persons, cm.trainings
    latest = (
        sa.select(t.c.course, t.c.hours, t.c.trained_on, t.c.certificate_no, t.c.expires_on)
        .where(t.c.craftsman_id == c.c.id)
        .order_by(t.c.trained_on.desc(), t.c.id.desc())
        .limit(1)
        .lateral("latest")
    )
    query = (
        sa.select(c.c.district, c.c.township, c.c.trades, c.c.team, p.c.name, p.c.id_number, p.c.phone, *latest.c)
        .select_from(c.join(p, p.c.id == c.c.person_id).outerjoin(latest, sa.true()))
        .where(*where)
        .order_by(c.c.id)
    )
    return [
        {k: (float(v) if k == "hours" and v is not None else v) for k, v in r.items()}
        for r in conn.execute(query).mappings()
    ]


class Resolution(BaseModel):
    choice: Literal["keep", "take"] = Field(title="处理方式", description="keep 保留人员库信息；take 采用导入信息")
    version: Version = Field(title="版本号")


@router.post("/import", summary="合并导入工匠名单（Excel，按身份证号匹配；mode=dry_run 试导入，commit 全部通过才导入）")
def import_list(
    response: Response,
    file: UploadFile = File(...),
    mode: str = Query("dry_run"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(cm.IMPORT, "导入工匠名单")
    who.require(cm.EDIT, "导入工匠名单")
    if mode not in ("dry_run", "commit"):
        raise ApiError(422, "invalid_mode", "mode 应为 dry_run（试导入）或 commit（正式导入）。", "mode")
    report = import_xlsx(conn, file.file.read(), file.filename or "", mode == "commit", who)
    if mode == "commit":
        response.status_code = 201
    return report


@router.get("/template", summary="工匠名单导入模板（Excel 表头）")
def template(who: Principal = Depends(principal)) -> Response:
    who.require(cm.VIEW, "下载工匠名单模板")
    disposition = f"attachment; filename=\"craftsmen-template.xlsx\"; filename*=UTF-8''{quote('工匠名单模板.xlsx')}"
    return Response(workbook([], False), media_type=XLSX, headers={"Content-Disposition": disposition})


@router.get("/export", summary="导出工匠名单（Excel，列同导入模板；无「查看个人信息明文」权限时脱敏）")
def export(
    q: Text(50) | None = Query(None, description="姓名或施工队（包含），或完整身份证号"),
    district: Text(20) | None = Query(None, description="区县"),
    township: Text(50) | None = Query(None, description="乡镇街道"),
    trade: Text(10) | None = Query(None, description="工种"),
    status: Text(10) | None = Query(None, description="状态 active/inactive"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    who.require(cm.VIEW, "导出工匠名单")
    who.require("farmhouse.export", "导出工匠名单")
    where = cm.filters(q, district, township, trade, status, trade_list.listed(conn))
    total = conn.execute(
        sa.select(sa.func.count())
        .select_from(cm.craftsmen.join(persons, persons.c.id == cm.craftsmen.c.person_id))
        .where(*where)
    ).scalar_one()
    if total > EXPORT_LIMIT:
        raise Invalid(
            "too_many_rows",
            f"符合条件的工匠有 {total} 人，超过单次导出上限 {EXPORT_LIMIT} 人，请按区县、工种等缩小范围后再导出。",
        )
    rows = export_rows(conn, where)
    unmasked = who.can(UNMASK)
    filters = {"q": q, "district": district, "township": township, "trade": trade, "status": status}
    audit.record(
        conn, who.user, "export", "vil_craftsmen", None, client=who.client, user_id=who.user_id,
        detail={"format": "xlsx", "rows": len(rows), "unmasked": unmasked, "filters": filters},
    )  # fmt: skip
    if unmasked:  # the file holds the numbers in the clear: one 「查看个人信息」 entry for it
        audit.record(
            conn, who.user, "unmask", "persons", None, client=who.client, user_id=who.user_id,
            detail={"columns": list(cm.MASKED), "export": "vil_craftsmen", "rows": len(rows), "filters": filters},
        )  # fmt: skip
    disposition = f"attachment; filename=\"craftsmen.xlsx\"; filename*=UTF-8''{quote('农村建房工匠.xlsx')}"
    return Response(workbook(rows, unmasked), media_type=XLSX, headers={"Content-Disposition": disposition})


@router.get("/imports", summary="工匠名单导入记录")
def list_imports(
    limit: int = Query(20, ge=1, le=200),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(cm.VIEW, "查看工匠名单导入记录")
    i = imports
    rows = conn.execute(
        sa.select(i.c.id, i.c.district, i.c.filename, i.c.rows, i.c.created, i.c.merged, i.c.conflicts)
        .add_columns(i.c.created_at, i.c.created_by)
        .order_by(i.c.id.desc())
        .limit(limit)
    ).mappings()
    return {"imports": [{**r, "created_at": r["created_at"].isoformat()} for r in rows]}


@router.get("/conflicts", summary="工匠合并冲突（同一身份证号姓名或手机号不一致；脱敏）")
def list_conflicts(
    status: Literal["open", "kept", "taken"] | None = Query("open"),
    import_id: RecordId | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(cm.VIEW, "查看工匠合并冲突")
    c = conflicts
    where = []
    if status:
        where.append(c.c.status == status)
    if import_id:
        where.append(c.c.import_id == import_id)
    total = conn.execute(sa.select(sa.func.count()).select_from(c).where(*where)).scalar_one()
    rows = conn.execute(_conflict_select().where(*where).order_by(c.c.id).limit(limit).offset(offset)).mappings()
    return {
        "total": total,
        "conflicts": [conflict_view(dict(r)) for r in rows],
        "can_resolve": who.can(cm.EDIT),
        "can_unmask": who.can(UNMASK),
    }


@router.post("/conflicts/{conflict_id}/resolve", summary="处理工匠合并冲突（保留人员库信息或采用导入信息）")
def resolve_conflict(
    conflict_id: RecordId,
    body: Resolution,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(cm.EDIT, "处理工匠合并冲突")
    return resolve(conn, conflict_id, body.choice, body.version, who)
