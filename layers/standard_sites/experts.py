"""The expert pool (专家库, ST-13): groups, add, edit, delete (soft), query, Excel import and export.

An expert belongs to one group (分组, the kind of project they review — the same names as the sites' 工程类别:
房屋建筑, 市政基础设施, …), has specialties (专业), an employer (工作单位 and its credit code, used to avoid conflicts of
interest in the draw) and an availability flag with a reason. Every expert is linked to a user account with the role
``expert`` (``zj-<phone>``, with the phone and ID number on the user, so that the expert signs in with either plus
the SMS dynamic password); an existing account with the same ID number (or the same phone and no ID number) is
linked instead of creating a second one. Everything here needs ``site.experts``.

Every expert is a person of the personnel register (``layers.persons``, DC-03): ``experts`` is a view that keeps
the name, ID number and phone in ``persons`` (matched on the ID number: adding or importing an expert creates or
updates that person) and the expert-role fields here (migration st_0003); the register logs each such change too.

Personal data (``geo.personal``): every answer of the pool — list, detail, the answers to writes, the operation
log's copies — shows the ID number and the phone masked (``3301**********123X``, ``138****5678``), as the
personnel register does. ``POST /experts/{id}/unmask`` answers them in the clear to holders of ``person.unmask``
(the register's permission) and writes 「查看个人信息」 to the operation log, on the person's record. The Excel export
is masked too unless the exporter holds ``person.unmask`` (then one such log entry for the file). The keyword
search matches names, employers and titles by substring, ID numbers and phones only whole (a substring search on
them would let anyone read a number digit by digit). The draw reads the pool itself and never shows the numbers.

Excel import is all or nothing: ``mode=dry_run`` writes every row inside a savepoint and rolls it back, reporting
each refused row with its Excel row number; ``mode=commit`` stores every row or, when any row is refused, nothing
(422 ``import_rejected`` with the report). A row whose ID number is already in the pool updates that expert. A
masked export imports back: a row whose 编号 names an expert and whose ID number or phone is exactly that expert's
masked value keeps the stored number (any other masked value is refused, ``masked_value``).
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.accounts import users
from api.accounts.ids import check_id_number, check_uscc
from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError
from geo import audit, personal, sheets
from geo.bounds import MOBILE, RESIDENT_ID, USCC, Code, Text, Version
from geo.records import Link, register_link
from layers import persons
from layers.standard_sites import tables as t
from layers.standard_sites.common import PREFIX

router = APIRouter(prefix=PREFIX, tags=["标化工地"])

# What a person of the register has here: the pool entry and the reviews (with the site's project).
register_link(
    Link(
        target="persons",
        module="standard_sites",
        title="标化工地专家",
        table="experts",
        column="person_id",
        columns=(("group_name", "分组"), ("specialties", "专业"), ("title", "职称"), ("available", "是否可用")),
        where="deleted_at IS NULL",
    ),
    Link(
        target="persons",
        module="standard_sites",
        title="标化工地评审项目",
        table="st_expert_reviews",
        column="person_id",
        kind="st_assignment",
        columns=(
            ("project_code", "项目代码"),
            ("project_name", "项目名称"),
            ("window_from", "评审开始"),
            ("window_to", "评审截止"),
            ("status", "状态"),
        ),
        order="window_from DESC",
    ),
)

FIELDS = (
    "name",
    "id_number",
    "phone",
    "group_name",
    "specialties",
    "enterprise_name",
    "enterprise_uscc",
    "title",
    "available",
    "unavailable_reason",
)
# Excel columns, in order (export writes them, import reads them by header).
HEADERS = {
    "name": "姓名",
    "id_number": "身份证号",
    "phone": "手机号",
    "group_name": "分组",
    "specialties": "专业",
    "enterprise_name": "工作单位",
    "enterprise_uscc": "单位统一社会信用代码",
    "title": "职称",
    "available": "是否可用",
    "unavailable_reason": "不可用原因",
}
REQUIRED = ("name", "id_number", "phone", "group_name")
MASKED = {"id_number": "id_number", "phone": "phone"}  # column → kind of personal data (geo.personal)
PHONE_IN_TEXT = re.compile(r"(?<!\d)1\d{10}(?!\d)")  # a mobile number inside an account name
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ExpertIn(BaseModel):
    name: Text(50, 1) = Field(title="姓名", description="姓名")
    id_number: Code(RESIDENT_ID) = Field(title="身份证号", description="身份证号")
    phone: Code(MOBILE) = Field(title="手机号", description="手机号")
    group_name: Text(50, 1) = Field(title="分组", description="分组")
    specialties: list[Text(50)] = Field(default_factory=list, title="专业", description="专业", max_length=50)
    enterprise_name: Text(200) | None = Field(None, title="工作单位")
    enterprise_uscc: Code(USCC, blank=True) | None = Field(None, title="单位统一社会信用代码")
    title: Text(50) | None = Field(None, title="职称")
    available: bool = True
    unavailable_reason: Text(200) | None = Field(None, title="不可用原因")


class ExpertUpdate(BaseModel):
    version: Version = Field(title="版本号")
    name: Text(50, 1) | None = Field(None, title="姓名")
    id_number: Code(RESIDENT_ID) | None = Field(None, title="身份证号")
    phone: Code(MOBILE) | None = Field(None, title="手机号")
    group_name: Text(50, 1) | None = Field(None, title="分组")
    specialties: list[Text(50)] | None = Field(None, title="专业", max_length=50)
    enterprise_name: Text(200) | None = Field(None, title="工作单位")
    enterprise_uscc: Code(USCC, blank=True) | None = Field(None, title="单位统一社会信用代码")
    title: Text(50) | None = Field(None, title="职称")
    available: bool | None = None
    unavailable_reason: Text(200) | None = Field(None, title="不可用原因")


def _require(who: Principal, what: str = "管理专家库") -> None:
    who.require("site.experts", what)


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """Normalize and check the given fields (raises ApiError naming the field)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = value.strip() or None
        if key in REQUIRED and value is None:
            raise ApiError(422, "required", f"请填写「{HEADERS[key]}」。", key)
        if key == "id_number":
            value = check_id_number(value.upper(), key)
        elif key == "phone":
            value = users.check_phone(value, key)
        elif key == "enterprise_uscc" and value:
            value = check_uscc(value.upper(), key)
        elif key == "specialties":
            value = sorted({s.strip() for s in (value or []) if s and s.strip()})
        elif key == "available":
            if value is None:
                raise ApiError(422, "required", "请填写「是否可用」。", key)
            value = bool(value)
        out[key] = value
    if out.get("available") is True:
        out["unavailable_reason"] = None
    return out


def view(row: dict, unmasked: bool = False) -> dict:
    """An expert as the API shows it: the ID number and phone masked unless ``unmasked`` (see the docstring)."""
    out = {
        "id": row["id"],
        **{k: row[k] for k in FIELDS},
        "specialties": list(row["specialties"] or []),
        "user_id": row["user_id"],
        "person_id": row["person_id"],
        "username": row.get("username"),
        "version": row["version"],
        "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
        "masked": not unmasked,
    }
    if unmasked:
        return out
    # A pool account is named zj-<phone> (the phone it had when created): the name shows that number masked too.
    if out["username"]:
        out["username"] = PHONE_IN_TEXT.sub(lambda m: personal.mask_phone(m.group(0)) or "", out["username"])
    return personal.mask_row(out, MASKED)


def _with_username() -> sa.Select:
    """Experts (every column) with their account's username."""
    e, u = t.experts, t.users
    return sa.select(e, u.c.username).select_from(e.outerjoin(u, u.c.id == e.c.user_id))


def get(conn: Connection, expert_id: int, lock: bool = False) -> dict:
    e = t.experts
    query = _with_username().where(e.c.id == expert_id, e.c.deleted_at.is_(None))
    if lock:
        query = query.with_for_update(of=e)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", "专家不存在或已删除。")
    return dict(row)


def _check_unique(conn: Connection, values: dict, expert_id: int | None) -> None:
    if "phone" in values:
        e = t.experts
        other = conn.execute(
            sa.select(e.c.name).where(
                e.c.phone == values["phone"], e.c.deleted_at.is_(None), e.c.id.is_distinct_from(expert_id)
            )
        ).scalar()
        if other:
            raise ApiError(409, "duplicate_phone", f"手机号已被专家「{other}」使用。", "phone")


def _link_user(conn: Connection, e: dict, actor: str, uid: int | None = None, reactivate: bool = False) -> int:
    """The expert's account (``uid``, when already linked): else the user with the same ID number, or with the same
    phone and no other ID number, or a new ``zj-<phone>`` account. Phone, ID number and the ``expert`` role are
    kept in line with the pool (the account is how the expert signs in and receives the dynamic password)."""
    u = t.users
    if uid is None:
        same_id = sa.func.upper(u.c.id_number) == e["id_number"]
        row = conn.execute(
            sa.select(u.c.id, u.c.id_number)
            .where(sa.or_(same_id, u.c.phone == e["phone"]))
            .order_by(same_id.is_(sa.true()).desc())
            .limit(1)
        ).first()
        if row is None:
            return users.create_user(
                conn, f"zj-{e['phone']}", e["name"], ["expert"], phone=e["phone"], id_number=e["id_number"], actor=actor
            )
        if row.id_number and row.id_number.upper() != e["id_number"]:
            raise ApiError(
                409, "phone_taken", f"手机号 {personal.mask_phone(e['phone'])} 已被其他身份证号的账号使用。", "phone"
            )
        uid = row.id
    for key, label in (("phone", "手机号"), ("id_number", "身份证号")):
        if conn.execute(sa.select(1).where(sa.func.upper(u.c[key]) == sa.func.upper(e[key]), u.c.id != uid)).scalar():
            shown = personal.mask(key, e[key])
            raise ApiError(409, f"{key}_taken", f"{label}「{shown}」已被其他账号使用。", key)
    current = users.user_row(conn, uid)
    changes: dict[str, Any] = {k: e[k] for k in ("phone", "id_number") if (current[k] or "").upper() != e[k].upper()}
    if "expert" not in current["roles"]:
        changes["roles"] = [*current["roles"], "expert"]
    if reactivate and not current["active"]:
        changes["active"] = True
    if changes:
        users.update_user(conn, uid, changes, actor=actor)
    return uid


def create(conn: Connection, data: dict, actor: str, client: str | None = None, user_id: int | None = None) -> dict:
    e = clean(data)
    _check_unique(conn, e, None)
    x = t.experts
    old = conn.execute(
        sa.select(x.c.id, x.c.deleted_at).where(x.c.id_number == e["id_number"]).with_for_update()
    ).first()
    if old is not None and old.deleted_at is None:
        raise ApiError(409, "duplicate_expert", "该身份证号的专家已在专家库中。", "id_number", {"expert_id": old.id})
    uid = _link_user(conn, e, actor, reactivate=True)
    fields = {k: e[k] for k in FIELDS}
    if old is not None:  # re-adding a deleted expert brings the record back
        conn.execute(
            sa.update(x)
            .where(x.c.id == old.id)
            .values(
                **fields,
                user_id=uid,
                deleted_at=None,
                version=x.c.version + 1,
                updated_at=sa.func.now(),
                updated_by=actor,
            )
        )
        eid = old.id
    else:
        eid = conn.execute(
            sa.insert(x).values(**fields, user_id=uid, created_by=actor, updated_by=actor).returning(x.c.id)
        ).scalar_one()
    after = view(get(conn, eid))
    audit.record(conn, actor, "create", "experts", eid, None, after, client, user_id=user_id)
    persons.note_pool_change(conn, after["person_id"], actor, client, user_id)
    return after


def update(
    conn: Connection,
    expert_id: int,
    data: dict,
    actor: str,
    version: int | None = None,
    client: str | None = None,
    user_id: int | None = None,
) -> dict:
    before = get(conn, expert_id, lock=True)
    if version is not None and version != before["version"]:
        raise ApiError(
            409,
            "stale_version",
            "该专家信息已被他人修改，请刷新后再保存。",
            "version",
            {"current": before["version"], "given": version},
        )
    changes = clean(data)
    if "available" not in changes and "unavailable_reason" in changes and before["available"]:
        changes.pop("unavailable_reason")
    _check_unique(conn, changes, expert_id)
    x = t.experts
    if "id_number" in changes and changes["id_number"] != before["id_number"]:
        if conn.execute(sa.select(1).where(x.c.id_number == changes["id_number"], x.c.id != expert_id)).scalar():
            raise ApiError(409, "duplicate_expert", "该身份证号已在专家库中登记。", "id_number")
    if not changes:
        return view(before)
    uid = _link_user(conn, {**before, **changes}, actor, before["user_id"])
    if "name" in changes and before["user_id"]:
        users.update_user(conn, uid, {"display_name": changes["name"]}, actor=actor)
    conn.execute(
        sa.update(x)
        .where(x.c.id == expert_id)
        .values(**changes, user_id=uid, version=x.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    )
    after = view(get(conn, expert_id))
    audit.record(conn, actor, "update", "experts", expert_id, view(before), after, client, user_id=user_id)
    if {"name", "id_number", "phone", "group_name", "specialties"} & changes.keys():
        persons.note_pool_change(conn, after["person_id"], actor, client, user_id)
    return after


def _filters(group: str | None, specialty: str | None, available: bool | None, q: str | None) -> list:
    e = t.experts
    where = [e.c.deleted_at.is_(None)]
    if group:
        where.append(e.c.group_name == group)
    if specialty:
        where.append(sa.any_(e.c.specialties) == specialty)
    if available is not None:
        where.append(e.c.available == available)
    if q and q.strip():
        text = q.strip()
        like = f"%{text}%"
        where.append(
            sa.or_(
                *(e.c[k].ilike(like) for k in ("name", "enterprise_name", "title")),
                e.c.phone == text,  # whole numbers only: see the module's docstring
                sa.func.upper(e.c.id_number) == text.upper(),
            )
        )
    return where


def query(
    conn: Connection, group=None, specialty=None, available=None, q=None, limit=None, offset=0, unmasked=False
) -> tuple:
    e = t.experts
    where = _filters(group, specialty, available, q)
    total = conn.execute(sa.select(sa.func.count()).select_from(e).where(*where)).scalar()
    page = _with_username().where(*where).order_by(e.c.group_name, e.c.id)
    if limit:
        page = page.limit(limit).offset(offset)
    rows = conn.execute(page).mappings().all()
    return total, [view(dict(r), unmasked) for r in rows]


def reveal(conn: Connection, expert_id: int, who: Principal) -> dict:
    """The expert with the ID number and phone in the clear; the unmasking goes to the operation log on the
    person's record (the register holds the numbers), as the register's own unmasking does."""
    row = get(conn, expert_id)
    personal.reveal(conn, who.user, "persons", row["person_id"], list(MASKED), user_id=who.user_id)
    return view(row, unmasked=True)


# -- Excel ---------------------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row_data(values: dict[str, Any]) -> dict[str, Any]:
    data = {k: _cell(v) for k, v in values.items()}
    if "specialties" in data:
        text = str(data["specialties"] or "")
        for sep in ("，", "、", ";", "；", "/"):
            text = text.replace(sep, ",")
        data["specialties"] = [s for s in text.split(",") if s.strip()]
    if "available" in data:
        flag = str(data["available"] if data["available"] is not None else "是").strip()
        if flag not in ("是", "否", "可用", "不可用", "true", "false", "TRUE", "FALSE", "1", "0", ""):
            raise ApiError(422, "invalid_flag", f"「是否可用」应填“是”或“否”，不是「{flag}」。", "available")
        data["available"] = flag in ("是", "可用", "true", "TRUE", "1", "")
    return data


def _unmask_cells(conn: Connection, data: dict[str, Any], expert_id: Any) -> dict[str, Any]:
    """A row of a masked export: each ID number or phone cell that holds a mask (``*``) is replaced by the stored
    number of the expert its 编号 names, provided the cell is exactly that number's mask; anything else is refused
    (nothing is guessed)."""
    masked = [k for k in MASKED if isinstance(data.get(k), str) and "*" in data[k]]
    if not masked:
        return data
    stored = None
    if expert_id not in (None, ""):
        try:
            stored = get(conn, int(str(expert_id).strip()))
        except (ValueError, ApiError):
            stored = None
    out = dict(data)
    for key in masked:
        if stored is None or personal.mask(MASKED[key], stored[key]) != data[key].strip():
            raise ApiError(
                422,
                "masked_value",
                f"「{HEADERS[key]}」是脱敏后的号码，且与「编号」所指专家的号码不符：请填写完整号码。",
                key,
            )
        out[key] = stored[key]
    return out


def import_xlsx(
    conn: Connection, content: bytes, commit: bool, actor: str, client: str | None = None, user_id: int | None = None
) -> dict:
    ws = sheets.open_workbook(content).worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    by_title = {title: key for key, title in HEADERS.items()}
    columns = {i: by_title[h] for i, h in enumerate(header) if h in by_title}
    id_column = header.index("编号") if "编号" in header else None  # the export's first column
    missing = [HEADERS[k] for k in REQUIRED if k not in columns.values()]
    if missing:
        raise ApiError(
            422,
            "missing_columns",
            f"表头缺少列：{'、'.join(missing)}（第 1 行应为表头）。",
            "file",
            {"missing": missing, "expected": list(HEADERS.values())},
        )
    report = sheets.report(commit, rows=0, created=0, updated=0)
    seen: dict[str, int] = {}
    outer = conn.begin_nested()
    for number, values in sheets.filled_rows(rows):
        report["rows"] += 1
        try:
            with conn.begin_nested():
                data = _row_data({key: values[i] if i < len(values) else None for i, key in columns.items()})
                if id_column is not None:
                    data = _unmask_cells(conn, data, values[id_column] if id_column < len(values) else None)
                idn = clean({"id_number": data.get("id_number")})["id_number"]
                if idn in seen:
                    raise ApiError(422, "duplicate_row", f"身份证号与第 {seen[idn]} 行重复。", "id_number")
                seen[idn] = number
                existing = conn.execute(
                    sa.select(t.experts.c.id).where(t.experts.c.id_number == idn, t.experts.c.deleted_at.is_(None))
                ).scalar()
                if existing:
                    update(conn, existing, data, actor, client=client, user_id=user_id)
                    report["updated"] += 1
                else:
                    create(conn, data, actor, client, user_id)
                    report["created"] += 1
        except ApiError as e:
            report["errors"].append(
                {
                    "row": number,
                    "column": HEADERS.get(e.field or "", e.field),
                    "code": e.code,
                    "message": f"第 {number} 行：{e.message}",
                }
            )
        except sa.exc.IntegrityError:
            report["errors"].append(
                {
                    "row": number,
                    "column": None,
                    "code": "conflict",
                    "message": f"第 {number} 行：与已有数据冲突（手机号或身份证号已被使用）。",
                }
            )
    return sheets.conclude(conn, outer, report, commit, "专家", "experts", actor, client, user_id)


def export_xlsx(experts: list[dict]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "专家库"
    ws.append(["编号", *HEADERS.values()])
    for e in experts:
        ws.append(
            [
                e["id"],
                *(
                    "、".join(e[k]) if k == "specialties" else ("是" if e[k] else "否") if k == "available" else e[k]
                    for k in HEADERS
                ),
            ]
        )
    for col, width in zip("ABCDEFGHIJK", (8, 10, 22, 14, 14, 20, 30, 22, 12, 10, 20)):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- routes -------------------------------------------------------------------------------------------------


@router.get("/expert-groups", summary="专家分组（含人数）")
def groups(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    _require(who, "查看专家库")
    e = t.experts
    rows = (
        conn.execute(
            sa.select(
                e.c.group_name.label("name"),
                sa.func.count().label("experts"),
                sa.func.count().filter(e.c.available).label("available"),
            )
            .where(e.c.deleted_at.is_(None))
            .group_by(e.c.group_name)
            .order_by(e.c.group_name)
        )
        .mappings()
        .all()
    )
    return {"groups": [dict(r) for r in rows]}


@router.get("/experts", summary="专家库查询（分组、专业、是否可用、关键字）")
def list_experts(
    group: str | None = None,
    specialty: str | None = None,
    available: bool | None = None,
    q: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    _require(who, "查看专家库")
    total, rows = query(conn, group, specialty, available, q, limit, offset)
    return {"total": total, "experts": rows}


@router.get("/experts/export", summary="导出专家库（Excel）")
def export_experts(
    group: str | None = None,
    specialty: str | None = None,
    available: bool | None = None,
    q: str | None = None,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> Response:
    _require(who, "导出专家库")
    unmasked = who.can(persons.UNMASK)
    total, rows = query(conn, group, specialty, available, q, unmasked=unmasked)
    filters = {"group": group, "specialty": specialty, "available": available, "q": q}
    audit.record(
        conn,
        who.user,
        "export",
        "experts",
        None,
        client=who.client,
        user_id=who.user_id,
        detail={"format": "xlsx", "rows": total, "unmasked": unmasked, "filters": filters},
    )
    if unmasked:  # the file holds the numbers in the clear: one 「查看个人信息」 entry for it
        audit.record(
            conn,
            who.user,
            "unmask",
            "experts",
            None,
            client=who.client,
            user_id=who.user_id,
            detail={"columns": list(MASKED), "export": True, "rows": total, "filters": filters},
        )
    disposition = f"attachment; filename=\"experts.xlsx\"; filename*=UTF-8''{quote('专家库.xlsx')}"
    return Response(export_xlsx(rows), media_type=XLSX, headers={"Content-Disposition": disposition})


@router.post("/experts/import", summary="导入专家（Excel；mode=dry_run 试导入，commit 全部通过才导入）")
def import_experts(
    response: Response,
    file: UploadFile = File(...),
    mode: str = Query("dry_run"),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    _require(who, "导入专家")
    if mode not in ("dry_run", "commit"):
        raise ApiError(422, "invalid_mode", "mode 应为 dry_run（试导入）或 commit（正式导入）。", "mode")
    report = import_xlsx(conn, file.file.read(), mode == "commit", who.user, who.client, who.user_id)
    if mode == "commit":
        response.status_code = 201
    return report


@router.post("/experts", status_code=201, summary="新增专家")
def create_expert(
    body: ExpertIn, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    _require(who, "新增专家")
    return create(conn, body.model_dump(), who.user, who.client, who.user_id)


@router.get("/experts/{expert_id}", summary="专家详情")
def expert_detail(
    expert_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    _require(who, "查看专家库")
    return view(get(conn, expert_id))


@router.post(
    "/experts/{expert_id}/unmask", summary="查看专家身份证号、手机号明文（需「查看个人信息明文」权限，记入操作日志）"
)
def unmask_expert(
    expert_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    _require(who, "查看专家库")
    who.require(persons.UNMASK, "查看个人信息明文")
    return reveal(conn, expert_id, who)


@router.patch("/experts/{expert_id}", summary="修改专家信息")
def update_expert(
    expert_id: int,
    body: ExpertUpdate,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    _require(who, "修改专家信息")
    data = body.model_dump(exclude={"version"}, exclude_unset=True)
    return update(conn, expert_id, data, who.user, body.version, who.client, who.user_id)


@router.delete("/experts/{expert_id}", status_code=204, summary="删除专家（保留历史评审记录）")
def delete_expert(
    expert_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> Response:
    """Soft delete: the expert leaves the pool (never drawn again) and the account loses the expert role (an
    account with no other role is disabled); past draws and reviews keep pointing at the record. Refused while
    the expert has a review still to do."""
    _require(who, "删除专家")
    before = get(conn, expert_id, lock=True)
    a = t.assignments
    open_ = conn.execute(
        sa.select(sa.func.count()).where(
            a.c.expert_id == expert_id, a.c.status == "assigned", a.c.window_to > sa.func.now()
        )
    ).scalar()
    if open_:
        raise ApiError(
            409, "has_open_assignments", f"该专家还有 {open_} 个评审任务未完成，不能删除。", None, {"open": open_}
        )
    x = t.experts
    conn.execute(
        sa.update(x)
        .where(x.c.id == expert_id)
        .values(deleted_at=sa.func.now(), version=x.c.version + 1, updated_at=sa.func.now(), updated_by=who.user)
    )
    if before["user_id"]:
        roles = [
            r
            for r in conn.execute(
                sa.select(t.user_roles.c.role).where(t.user_roles.c.user_id == before["user_id"])
            ).scalars()
            if r != "expert"
        ]
        users.update_user(
            conn, before["user_id"], {"roles": roles} if roles else {"roles": [], "active": False}, actor=who.user
        )
    audit.record(conn, who.user, "delete", "experts", expert_id, view(before), None, who.client, user_id=who.user_id)
    return Response(status_code=204)
