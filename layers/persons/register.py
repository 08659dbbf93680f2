"""The personnel register (人员库, DC-03): persons keyed by resident ID number, with their registrations, employment
history and expert attributes — checked, stored, read, searched, imported and exported.

Personal data: the ID number and the phone leave this module masked (``geo.personal``) except through
:func:`reveal_person` (the ``person.unmask`` permission; each unmasking is in the operation log as 「查看个人信息」)
and an export by someone who holds that permission (one ``unmask`` entry for the file). The operation log records
each change with the masked values: the register holds the numbers, the log does not copy them.

Reads run on the caller's connection: row-level security keeps a district account to its district's persons.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS
from stdnum.cn import ric

from geo import audit, personal, sheets
from geo.bounds import MOBILE, RESIDENT_ID, USCC
from geo.errors import Conflict, Invalid, NotFound, StaleVersion
from layers.persons import tables as t

CATEGORIES = {
    "registered": "注册执业人员",
    "principal": "企业负责人",
    "project_manager": "项目经理",
    "safety_manager": "专职安全员",
    "site_manager": "现场管理人员",
    "expert": "专家",
}
EXPERT_KINDS = {
    "bid_evaluation": "评标专家",
    "energy_review": "节能评审专家",
    "st_review": "标化工地评审专家",
    "drawing_review": "施工图审查专家",
}
GENDERS = {"male": "男", "female": "女"}
MASKED = {"id_number": "id_number", "phone": "phone"}
UNMASK = "person.unmask"
SEARCH_LIMIT = 10_000  # candidates a name search collects (a name shared by more is narrowed by the other filters)
PERSON_FIELDS = ("name", "id_number", "phone", "categories", "district", "expert_kinds", "specialties", "expert_groups")
REG_FIELDS = ("reg_type", "reg_no", "specialty", "enterprise_uscc", "valid_to")
JOB_FIELDS = ("enterprise_uscc", "enterprise_name", "role", "started_on", "ended_on")
LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "phone": "手机号",
    "categories": "人员类别",
    "district": "所属区县",
    "expert_kinds": "专家类别",
    "specialties": "专业",
    "expert_groups": "专家分组",
    "reg_type": "注册类别",
    "reg_no": "注册证书编号",
    "specialty": "注册专业",
    "enterprise_uscc": "单位统一社会信用代码",
    "enterprise_name": "单位名称",
    "valid_to": "注册有效期至",
    "role": "岗位",
    "started_on": "入职日期",
    "ended_on": "离职日期",
}


# -- checks --------------------------------------------------------------------------------------------------


def check_id_number(value: Any, field: str = "id_number") -> str:
    """A resident ID number as GB 11643 writes it (python-stdnum ``cn.ric``: birth date, region, check character),
    else ``invalid_id_number``; the message shows the number masked."""
    text = str(value or "").strip()
    if not text:
        raise Invalid("required", "请填写「身份证号」。", field)
    if RESIDENT_ID.refuse(text) is not None:
        shown = personal.mask_id_number(text)
        raise Invalid(
            "invalid_id_number",
            f"身份证号「{shown}」不正确（出生日期、地区码或校验位不符）。",
            field,
            {"value": shown},
        )
    return ric.compact(text).upper()


def check_phone(value: Any, field: str = "phone") -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if MOBILE.refuse(text) is not None:
        raise Invalid("invalid_phone", f"手机号「{personal.mask_phone(text)}」不正确（应为 11 位手机号码）。", field)
    return text


def check_uscc(value: Any, field: str) -> str:
    text = str(value or "").strip().upper()
    if USCC.refuse(text) is not None:
        raise Invalid("invalid_uscc", f"统一社会信用代码「{text}」不正确（长度或校验位不符）。", field, {"value": text})
    return text


def enterprise_name(conn: Connection, uscc: str, field: str) -> str | None:
    """The enterprise's name from the enterprise register (``unknown_enterprise`` when the register is installed
    and has no such code; None when the register is not installed)."""
    if conn.execute(sa.text("SELECT to_regclass('enterprises') IS NOT NULL")).scalar():
        name = conn.execute(sa.text("SELECT name FROM enterprises WHERE uscc = :u"), {"u": uscc}).scalar()
        if name is None:
            raise Invalid("unknown_enterprise", f"企业库中没有统一社会信用代码为「{uscc}」的企业。", field)
        return name
    return None


def _codes(values: Any, allowed: dict[str, str], field: str) -> list[str]:
    """Codes (or their Chinese titles) of ``allowed``, sorted and distinct; anything else is refused."""
    by_title = {title: code for code, title in allowed.items()}
    out = set()
    for v in values or []:
        v = str(v).strip()
        if not v:
            continue
        code = v if v in allowed else by_title.get(v)
        if code is None:
            raise Invalid(
                f"invalid_{field}",
                f"「{LABELS[field]}」不能为「{v}」，可选：{'、'.join(allowed.values())}。",
                field,
                {"allowed": list(allowed)},
            )
        out.add(code)
    return sorted(out)


def _texts(values: Any, field: str, maximum: int = 50) -> list[str]:
    out = sorted({str(v).strip() for v in values or [] if v is not None and str(v).strip()})
    for v in out:
        if len(v) > maximum:
            raise Invalid("too_long", f"「{LABELS[field]}」每项至多 {maximum} 个字。", field)
    return out


def check_district(conn: Connection, value: Any, field: str = "district") -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not conn.execute(sa.text("SELECT 1 FROM districts WHERE name = :n"), {"n": text}).scalar():
        raise Invalid("unknown_district", f"没有名为「{text}」的区县。", field)
    return text


def clean(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The given person fields checked and normalized (raises ``Invalid`` naming the field; nothing is repaired)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "name":
            value = str(value or "").strip()
            if not value:
                raise Invalid("required", "请填写「姓名」。", key)
            if len(value) > 50:
                raise Invalid("too_long", "「姓名」至多 50 个字。", key)
        elif key == "id_number":
            value = check_id_number(value, key)
        elif key == "phone":
            value = check_phone(value, key)
        elif key == "categories":
            value = _codes(value, CATEGORIES, key)
        elif key == "expert_kinds":
            value = _codes(value, EXPERT_KINDS, key)
        elif key in ("specialties", "expert_groups"):
            value = _texts(value, key)
        elif key == "district":
            value = check_district(conn, value, key)
        else:
            continue
        out[key] = value
    return out


def clean_registration(conn: Connection, r: dict[str, Any], field: str = "registrations") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("reg_type", "reg_no"):
        v = str(r.get(key) or "").strip()
        if not v:
            raise Invalid("required", f"请填写「{LABELS[key]}」。", f"{field}.{key}")
        out[key] = v
    out["specialty"] = str(r.get("specialty") or "").strip() or None
    uscc = str(r.get("enterprise_uscc") or "").strip()
    out["enterprise_uscc"] = check_uscc(uscc, f"{field}.enterprise_uscc") if uscc else None
    if out["enterprise_uscc"]:
        enterprise_name(conn, out["enterprise_uscc"], f"{field}.enterprise_uscc")
    out["valid_to"] = _date(r.get("valid_to"), f"{field}.valid_to")
    return out


def clean_job(conn: Connection, j: dict[str, Any], field: str = "employment") -> dict[str, Any]:
    out: dict[str, Any] = {"enterprise_uscc": check_uscc(j.get("enterprise_uscc"), f"{field}.enterprise_uscc")}
    known = enterprise_name(conn, out["enterprise_uscc"], f"{field}.enterprise_uscc")
    out["enterprise_name"] = known or (str(j.get("enterprise_name") or "").strip() or None)
    out["role"] = str(j.get("role") or "").strip() or None
    out["started_on"] = _date(j.get("started_on"), f"{field}.started_on")
    if out["started_on"] is None:
        raise Invalid("required", "请填写「入职日期」。", f"{field}.started_on")
    out["ended_on"] = _date(j.get("ended_on"), f"{field}.ended_on")
    if out["ended_on"] and out["ended_on"] < out["started_on"]:
        raise Invalid("invalid_period", "离职日期不能早于入职日期。", f"{field}.ended_on")
    return out


def _date(value: Any, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise Invalid("invalid_date", f"「{LABELS[field.rsplit('.', 1)[-1]]}」应为日期（YYYY-MM-DD）。", field)


# -- reading -------------------------------------------------------------------------------------------------


def view(row: dict, unmasked: bool = False) -> dict:
    """A person as the API shows it: the ID number and phone masked unless ``unmasked``."""
    out = {k: row[k] for k in ("id", *PERSON_FIELDS, "gender", "credit_score", "version")}
    for k in ("categories", "expert_kinds", "specialties", "expert_groups"):
        out[k] = list(out[k] or [])
    out["credit_score"] = float(out["credit_score"]) if out["credit_score"] is not None else None
    out["gender_title"] = GENDERS.get(row["gender"])
    out["category_titles"] = [CATEGORIES[c] for c in out["categories"] if c in CATEGORIES]
    out["updated_at"] = row["updated_at"].isoformat() if row.get("updated_at") else None
    out["masked"] = not unmasked
    return out if unmasked else personal.mask_row(out, MASKED)


def get(conn: Connection, person_id: int, lock: bool = False) -> dict:
    p = t.persons
    query = sa.select(p).where(p.c.id == person_id, p.c.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("not_found", "人员不存在、已删除或不在您的数据范围内。")
    return dict(row)


def get_by_id_number(conn: Connection, id_number: str) -> dict | None:
    """The live person with this ID number (visible on ``conn``), or None."""
    p = t.persons
    row = (
        conn.execute(sa.select(p).where(p.c.id_number == id_number.upper(), p.c.deleted_at.is_(None)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _rows(conn: Connection, table: sa.Table, person_id: int, order: Any) -> list[dict]:
    rows = conn.execute(sa.select(table).where(table.c.person_id == person_id).order_by(order)).mappings()
    return [{k: v for k, v in r.items() if k not in ("created_by", "updated_by", "created_at")} for r in rows]


def children(conn: Connection, person_id: int) -> dict[str, list[dict]]:
    r, e = t.registrations, t.employment
    return {
        "registrations": _rows(conn, r, person_id, r.c.id),
        "employment": _rows(conn, e, person_id, e.c.started_on.desc()),
    }


def name_matches(q: str) -> sa.ColumnElement:
    """Persons whose name contains ``q``, found through the name's bigram/trigram indexes under row-level security
    (``chengjian_search_ids``, migration 0011; the rows are then read by id under the caller's policy)."""
    p = t.persons
    ids = sa.func.chengjian_search_ids(
        sa.cast("persons", REGCLASS),
        sa.bindparam(None, ["name"], type_=ARRAY(sa.Text)),
        q,
        SEARCH_LIMIT,
        sa.bindparam(None, [], type_=ARRAY(sa.Text)),
    )
    return p.c.id.in_(sa.select(ids.column_valued()))


def filters(
    q: str | None = None, category: str | None = None, enterprise: str | None = None, district: str | None = None
) -> list[sa.ColumnElement]:
    p, e = t.persons, t.employment
    where: list[sa.ColumnElement] = [p.c.deleted_at.is_(None)]
    if q and q.strip():
        where.append(name_matches(q.strip()))
    if category:
        if category not in CATEGORIES:
            raise Invalid(
                "invalid_category", f"人员类别「{category}」不存在。", "category", {"allowed": list(CATEGORIES)}
            )
        where.append(p.c.categories.contains([category]))
    if enterprise:
        code = check_uscc(enterprise, "enterprise")
        where.append(sa.exists().where(e.c.person_id == p.c.id, e.c.enterprise_uscc == code, e.c.ended_on.is_(None)))
    if district:
        where.append(p.c.district == district)
    return where


def query(
    conn: Connection, where: list, limit: int | None = 20, offset: int = 0, searched: bool = False
) -> tuple[int, list[dict]]:
    """The total and one page (in id order) of the persons ``where`` selects. A name search (``searched``: ``where``
    holds :func:`name_matches`) is one statement, the page with the total beside each row (``count(*) OVER ()``), so
    that the search function runs once, not once for the count and again for the page; its candidates are few (a
    name's bigram). A list without one counts apart (a window over the whole register would sort all of it)."""
    p = t.persons
    if searched and limit:
        page = (
            sa.select(p, sa.func.count().over().label("_total"))
            .where(*where)
            .order_by(p.c.id)
            .limit(limit)
            .offset(offset)
        )
        rows = [dict(r) for r in conn.execute(page).mappings()]
        if rows or offset == 0:
            return (rows[0]["_total"] if rows else 0), [{k: v for k, v in r.items() if k != "_total"} for r in rows]
    total = conn.execute(sa.select(sa.func.count()).select_from(p).where(*where)).scalar_one()
    page = sa.select(p).where(*where).order_by(p.c.id)
    if limit:
        page = page.limit(limit).offset(offset)
    return total, [dict(r) for r in conn.execute(page).mappings()]


def reveal_person(conn: Connection, person_id: int, who: Any) -> dict:
    """The person with the ID number and phone in the clear; the unmasking is in the operation log."""
    row = get(conn, person_id)
    personal.reveal(conn, who.user, "persons", person_id, list(MASKED), user_id=who.user_id)
    return view(row, unmasked=True)


# -- writing -------------------------------------------------------------------------------------------------


def _replace_children(conn: Connection, person_id: int, data: dict, actor: str) -> None:
    for key, table, check in (
        ("registrations", t.registrations, clean_registration),
        ("employment", t.employment, clean_job),
    ):
        if key not in data or data[key] is None:
            continue
        rows = [check(conn, dict(item), f"{key}.{i}") for i, item in enumerate(data[key])]
        conn.execute(sa.delete(table).where(table.c.person_id == person_id))
        if rows:
            conn.execute(
                sa.insert(table),
                [{**r, "person_id": person_id, "created_by": actor, "updated_by": actor} for r in rows],
            )


def snapshot(conn: Connection, person_id: int) -> dict:
    """What the operation log keeps of a person: masked, with the registrations and employment."""
    return {**view(get(conn, person_id)), **children(conn, person_id)}


def create(conn: Connection, data: dict, actor: str, client: str | None = None, user_id: int | None = None) -> dict:
    values = clean(conn, {k: v for k, v in data.items() if k in PERSON_FIELDS})
    for key in ("name", "id_number"):
        if key not in values:
            raise Invalid("required", f"请填写「{LABELS[key]}」。", key)
    p = t.persons
    old = conn.execute(sa.select(p.c.id, p.c.deleted_at).where(p.c.id_number == values["id_number"])).first()
    if old is not None and old.deleted_at is None:
        raise Conflict("duplicate_person", "该身份证号的人员已在人员库中。", "id_number", {"person_id": old.id})
    if old is not None:  # a deleted person comes back
        conn.execute(
            sa.update(p)
            .where(p.c.id == old.id)
            .values(**values, deleted_at=None, deleted_by=None, version=p.c.version + 1, updated_by=actor)
        )
        pid = old.id
    else:
        pid = conn.execute(
            sa.insert(p).values(**values, created_by=actor, updated_by=actor).returning(p.c.id)
        ).scalar_one()
    _replace_children(conn, pid, data, actor)
    after = snapshot(conn, pid)
    audit.record(conn, actor, "create", "persons", pid, None, after, client, user_id=user_id)
    return after


def update(
    conn: Connection,
    person_id: int,
    data: dict,
    actor: str,
    version: int | None,
    client: str | None = None,
    user_id: int | None = None,
) -> dict:
    before_row = get(conn, person_id, lock=True)
    if version is not None and version != before_row["version"]:
        raise StaleVersion(before_row["version"], version, "人员信息")
    before = snapshot(conn, person_id)
    values = clean(conn, {k: v for k, v in data.items() if k in PERSON_FIELDS})
    for key in ("name", "id_number"):
        if key in values and values[key] is None:
            raise Invalid("required", f"请填写「{LABELS[key]}」。", key)
    p = t.persons
    if "id_number" in values and values["id_number"] != before_row["id_number"]:
        if conn.execute(sa.select(1).where(p.c.id_number == values["id_number"], p.c.id != person_id)).scalar():
            raise Conflict("duplicate_person", "该身份证号已属于人员库中的另一人员。", "id_number")
    conn.execute(
        sa.update(p)
        .where(p.c.id == person_id)
        .values(**values, version=p.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    )
    _replace_children(conn, person_id, data, actor)
    after = snapshot(conn, person_id)
    audit.record(conn, actor, "update", "persons", person_id, before, after, client, user_id=user_id)
    return after


def note_pool_change(
    conn: Connection, person_id: int, actor: str, client: str | None = None, user_id: int | None = None
) -> None:
    """Record in the operation log that the person was created or updated through an expert pool (the pool writes
    the register through its view; this is the register's own entry of it, masked)."""
    audit.record(
        conn,
        actor,
        "update",
        "persons",
        person_id,
        None,
        snapshot(conn, person_id),
        client,
        {"via": "experts"},
        user_id,
    )


# -- Excel ---------------------------------------------------------------------------------------------------

# Import and export columns, in order: (key, header). The import reads them by header; 姓名 and 身份证号 are required.
COLUMNS = (
    ("name", "姓名"),
    ("id_number", "身份证号"),
    ("gender", "性别"),
    ("phone", "手机号"),
    ("categories", "人员类别"),
    ("district", "所属区县"),
    ("expert_kinds", "专家类别"),
    ("specialties", "专业"),
    ("expert_groups", "专家分组"),
    ("reg_type", "注册类别"),
    ("reg_no", "注册证书编号"),
    ("valid_to", "注册有效期至"),
    ("enterprise_uscc", "单位统一社会信用代码"),
    ("enterprise_name", "单位名称"),
    ("role", "岗位"),
    ("started_on", "入职日期"),
)
REQUIRED = ("name", "id_number")
LISTS = ("categories", "expert_kinds", "specialties", "expert_groups")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _split(value: Any) -> list[str]:
    text = str(value or "")
    for sep in ("，", "、", ";", "；", "/"):
        text = text.replace(sep, ",")
    return [s.strip() for s in text.split(",") if s.strip()]


def _import_row(conn: Connection, values: dict[str, Any], actor: str) -> str:
    """One sheet row: the person (created, or updated when the ID number is known) with the registration and the
    employment the row names; returns "created" or "updated"."""
    data = {k: (_split(v) if k in LISTS else v) for k, v in values.items()}
    person = {k: data[k] for k in PERSON_FIELDS if k in data}
    existing = get_by_id_number(conn, check_id_number(person.get("id_number")))
    if existing is None:
        pid = create(conn, person, actor)["id"]
        outcome = "created"
    else:
        pid = existing["id"]
        update(conn, pid, person, actor, None)
        outcome = "updated"
    if data.get("reg_type") or data.get("reg_no"):
        reg = clean_registration(conn, {**data, "enterprise_uscc": data.get("enterprise_uscc")})
        r = t.registrations
        taken = conn.execute(
            sa.select(r.c.person_id).where(r.c.reg_type == reg["reg_type"], r.c.reg_no == reg["reg_no"])
        ).scalar()
        if taken is not None and taken != pid:
            raise Conflict("duplicate_registration", "该注册证书编号已登记在另一人员名下。", "reg_no")
        if taken is None:
            conn.execute(sa.insert(r).values(**reg, person_id=pid, created_by=actor, updated_by=actor))
        else:
            conn.execute(
                sa.update(r)
                .where(r.c.reg_type == reg["reg_type"], r.c.reg_no == reg["reg_no"])
                .values(**reg, version=r.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
            )
    if data.get("enterprise_uscc") and data.get("started_on"):
        job = clean_job(conn, data)
        e = t.employment
        same = conn.execute(
            sa.select(e.c.id).where(
                e.c.person_id == pid, e.c.enterprise_uscc == job["enterprise_uscc"], e.c.started_on == job["started_on"]
            )
        ).scalar()
        if same is None:
            conn.execute(sa.insert(e).values(**job, person_id=pid, created_by=actor, updated_by=actor))
    return outcome


def import_xlsx(
    conn: Connection, content: bytes, commit: bool, actor: str, client: str | None = None, user_id: int | None = None
) -> dict:
    """All or nothing: every row is written inside a savepoint; with any refused row (or a dry run) everything is
    rolled back. The report names each refused row by its Excel row number, the ID number masked."""
    ws = sheets.open_workbook(content).worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    by_title = {title: key for key, title in COLUMNS if key != "gender"}
    columns = {i: by_title[h] for i, h in enumerate(header) if h in by_title}
    missing = [title for key, title in COLUMNS if key in REQUIRED and key not in columns.values()]
    if missing:
        raise Invalid(
            "missing_columns",
            f"表头缺少列：{'、'.join(missing)}（第 1 行应为表头）。",
            "file",
            {"missing": missing, "expected": [title for key, title in COLUMNS if key != "gender"]},
        )
    headers = dict(COLUMNS)
    report = sheets.report(commit, rows=0, created=0, updated=0)
    errors: list[dict] = report["errors"]
    seen: dict[str, int] = {}
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
                report[_import_row(conn, data, actor)] += 1
        except (Invalid, Conflict) as e:
            column = (e.field or "").rsplit(".", 1)[-1]
            errors.append(
                {
                    "row": number,
                    "column": headers.get(column, column or None),
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
    return sheets.conclude(conn, outer, report, commit, "人员", "persons", actor, client, user_id)


def export_rows(conn: Connection, where: list) -> list[dict]:
    """Every person of the filter with the current employment and latest registration, for the sheet."""
    p, r, e = t.persons, t.registrations, t.employment
    reg = (
        sa.select(r.c.reg_type, r.c.reg_no, r.c.valid_to)
        .where(r.c.person_id == p.c.id)
        .order_by(r.c.valid_to.desc().nulls_last(), r.c.id.desc())
        .limit(1)
        .lateral("reg")
    )
    job = (
        sa.select(e.c.enterprise_uscc, e.c.enterprise_name, e.c.role, e.c.started_on)
        .where(e.c.person_id == p.c.id, e.c.ended_on.is_(None))
        .order_by(e.c.started_on.desc(), e.c.id.desc())
        .limit(1)
        .lateral("job")
    )
    query = (
        sa.select(p, *reg.c, *job.c)
        .select_from(p.outerjoin(reg, sa.true()).outerjoin(job, sa.true()))
        .where(*where)
        .order_by(p.c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def export_xlsx(rows: list[dict], unmasked: bool) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("人员库")
    ws.append(["编号", *(title for _, title in COLUMNS)])
    titles = {**CATEGORIES, **EXPERT_KINDS, **GENDERS}
    for row in rows:
        if not unmasked:
            row = personal.mask_row(row, MASKED)
        out: list[Any] = [row["id"]]
        for key, _ in COLUMNS:
            v = row.get(key)
            if key in LISTS:
                v = "、".join(titles.get(x, x) for x in v or [])
            elif key == "gender":
                v = GENDERS.get(v)
            out.append(v)
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
