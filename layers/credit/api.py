"""The credit register's API, ``/api/registers/credit``: events (filtered, paged, Excel), subjects with their
score, a subject's credit page (score, history, every event with its source record), the scoring rule (read,
change: a new version, audited, every subject rescored), the import of licences and penalties and its template.

Persons' ID numbers are always shown masked here (the person's own record page unmasks them for those allowed)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from openpyxl import Workbook
from openpyxl.styles import Font
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from geo import audit, cases, personal
from geo.bounds import ITEM_CODE, Amount, Code, Text, Version
from geo.errors import Invalid, NotFound, StaleVersion
from layers.credit import importer, score
from layers.credit import tables as t
from layers.credit.feeds import EVENT_TYPES, POLARITIES, all_feeds

router = APIRouter(prefix="/api/registers/credit", tags=["信用库"])

VIEW, IMPORT, EXPORT, RULES = "registers.view", "registers.import", "registers.export", "credit.rules"
KIND_TITLES = {"enterprise": "企业", "person": "个人"}
EXPORT_LIMIT = 100_000


def source_link(row: dict) -> str | None:
    """The page of the event's source record (a case of a module); imports have none (their document number)."""
    if row["source"] and row["source"] != "credit_import" and row["source_id"] is not None:
        return f"/records/{row['source']}/{row['source_id']}"
    return None


def subject_code(kind: str, code: str) -> str:
    return personal.mask("id_number", code) or "" if kind == "person" else code


def event_view(row: dict) -> dict:
    title, _ = EVENT_TYPES.get(row["event_type"], (row["event_type"], row["polarity"]))
    return {
        "id": row["id"],
        "subject_id": row.get("subject_id"),
        "subject_kind": row["subject_kind"],
        "subject_kind_title": KIND_TITLES[row["subject_kind"]],
        "subject_code": subject_code(row["subject_kind"], row["subject_code"]),
        "subject_name": row["subject_name"],
        "event_type": row["event_type"],
        "event_type_title": title,
        "polarity": row["polarity"],
        "polarity_title": POLARITIES[row["polarity"]],
        "points": row["points"],
        "reason": row["reason"],
        "occurred_on": row["occurred_on"].isoformat(),
        "source": row["source"],
        "source_id": row["source_id"],
        "source_module": row["source_module"],
        "source_url": source_link(row),
        "document_no": row["document_no"],
        "authority": row["authority"],
        "site_id": row["site_id"],
        "district": row["district"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
    }


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_date", f"日期「{value[:20]}」格式不正确（应为 YYYY-MM-DD）。", field) from None


def _choice(value: str | None, choices: dict, field: str, title: str) -> str | None:
    if value and value not in choices:
        raise Invalid("invalid_choice", f"{title}「{value[:30]}」不正确。", field, {"choices": list(choices)})
    return value or None


def event_query(params: dict[str, str]) -> tuple[sa.Select, sa.Select]:
    e, s = t.events, t.subjects
    source = e.outerjoin(s, sa.and_(s.c.subject_kind == e.c.subject_kind, s.c.subject_code == e.c.subject_code))
    cond: list[Any] = []
    if kind := _choice(params.get("subject_kind"), KIND_TITLES, "subject_kind", "对象类型"):
        cond.append(e.c.subject_kind == kind)
    if etype := _choice(params.get("event_type"), EVENT_TYPES, "event_type", "事件类型"):
        cond.append(e.c.event_type == etype)
    if pol := _choice(params.get("polarity"), POLARITIES, "polarity", "性质"):
        cond.append(e.c.polarity == pol)
    if src := params.get("source"):
        cond.append(e.c.source == src[:100])
    if sid := params.get("subject_id"):
        if not sid.isdigit() or len(sid) > 18:
            raise Invalid("invalid_integer", "信用主体编号应为整数。", "subject_id")
        cond.append(s.c.id == int(sid))
    if (day := _day(params.get("from"), "from")) is not None:
        cond.append(e.c.occurred_on >= day)
    if (day := _day(params.get("to"), "to")) is not None:
        cond.append(e.c.occurred_on <= day)
    if q := (params.get("q") or "").strip()[:100]:
        # A name (substring) or an enterprise's full credit code; an ID number is never searched by URL.
        ent = sa.and_(e.c.subject_kind == "enterprise", e.c.subject_code == q.upper())
        cond.append(sa.or_(e.c.subject_name.contains(q, autoescape=True), ent))
    rows = (
        sa.select(e, s.c.id.label("subject_id"))
        .select_from(source)
        .where(*cond)
        .order_by(e.c.occurred_on.desc(), e.c.id.desc())
    )
    count = sa.select(sa.func.count()).select_from(source).where(*cond)
    return rows, count


@router.get("/events", summary="信用事件列表（对象、类型、性质、日期范围、来源）")
def list_events(
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看信用库")
    rows, count = event_query(dict(request.query_params))
    total = conn.execute(count).scalar_one()
    items = [event_view(dict(r)) for r in conn.execute(rows.limit(limit).offset(offset)).mappings()]
    return {"total": total, "items": items}


EXPORT_COLUMNS = (
    ("id", "编号"),
    ("subject_kind_title", "对象类型"),
    ("subject_name", "对象名称"),
    ("subject_code", "证件号码"),
    ("event_type_title", "事件类型"),
    ("polarity_title", "性质"),
    ("points", "分值"),
    ("reason", "事由"),
    ("occurred_on", "发生日期"),
    ("document_no", "决定文书号"),
    ("authority", "决定机关"),
    ("district", "区县"),
    ("source_url", "来源记录"),
)


def xlsx(title: str, columns: tuple[tuple[str, str], ...], items: list[dict]) -> Response:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append([label for _, label in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for item in items:
        ws.append([item.get(name) for name, _ in columns])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(title + '.xlsx')}"},
    )


@router.get("/events.xlsx", summary="导出信用事件（Excel，按当前筛选）")
def export_events(
    request: Request, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> Response:
    who.require(EXPORT, "导出信用事件")
    rows, count = event_query(dict(request.query_params))
    total = conn.execute(count).scalar_one()
    if total > EXPORT_LIMIT:
        raise Invalid("too_many_rows", f"符合条件的记录有 {total} 条，超过 {EXPORT_LIMIT} 条，请缩小范围后导出。")
    items = [event_view(dict(r)) for r in conn.execute(rows).mappings()]
    audit.record(conn, who.user, "export", "credit_events", None, None, None, who.client,
                 {"filters": dict(request.query_params), "rows": total, "format": "xlsx"}, user_id=who.user_id)  # fmt: skip
    return xlsx("信用事件", EXPORT_COLUMNS, items)


def subject_view(row: dict) -> dict:
    return {
        "id": row["id"],
        "subject_kind": row["subject_kind"],
        "subject_kind_title": KIND_TITLES[row["subject_kind"]],
        "subject_code": subject_code(row["subject_kind"], row["subject_code"]),
        "subject_name": row["subject_name"],
        "score": row["score"],
        "events": row["events"],
        "rule_version": row["rule_version"],
        "computed_at": row["computed_at"].isoformat() if row["computed_at"] else None,
        # The register's own record page (enterprises are keyed by their credit code; persons by their register id,
        # which the persons register's page resolves — the ID number never goes into a URL).
        "record_url": f"/records/enterprises/{row['subject_code']}" if row["subject_kind"] == "enterprise" else None,
    }


@router.get("/subjects", summary="信用主体及其信用分（名称或信用代码检索，按分数排序）")
def list_subjects(
    q: str = Query("", max_length=100),
    subject_kind: str | None = Query(None),
    sort: str = Query("score", pattern="^-?(score|events|subject_name)$"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require(VIEW, "查看信用库")
    s = t.subjects
    cond: list[Any] = []
    if kind := _choice(subject_kind, KIND_TITLES, "subject_kind", "对象类型"):
        cond.append(s.c.subject_kind == kind)
    if q.strip():
        ent = sa.and_(s.c.subject_kind == "enterprise", s.c.subject_code == q.strip().upper())
        cond.append(sa.or_(s.c.subject_name.contains(q.strip(), autoescape=True), ent))
    col = s.c[sort.lstrip("-")]
    order = col.desc().nulls_last() if sort.startswith("-") else col.asc().nulls_last()
    total = conn.execute(sa.select(sa.func.count()).select_from(s).where(*cond)).scalar_one()
    rows = conn.execute(sa.select(s).where(*cond).order_by(order, s.c.id).limit(limit).offset(offset)).mappings()
    return {"total": total, "items": [subject_view(dict(r)) for r in rows]}


@router.get("/subjects/{subject_id}", summary="主体信用档案：信用分、历史、全部信用事件及其来源记录")
def subject_page(
    subject_id: int, who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")
) -> dict:
    who.require(VIEW, "查看信用库")
    s, h, e = t.subjects, t.scores, t.events
    row = conn.execute(sa.select(s).where(s.c.id == subject_id)).mappings().first()
    if row is None:
        raise NotFound("not_found", "信用主体不存在。")
    history = conn.execute(
        sa.select(h.c.score, h.c.events, h.c.rule_version, h.c.computed_at)
        .where(h.c.subject_id == subject_id)
        .order_by(h.c.computed_at.desc(), h.c.id.desc())
        .limit(500)
    ).mappings()
    events = conn.execute(
        sa.select(e, sa.literal(subject_id).label("subject_id"))
        .where(e.c.subject_kind == row["subject_kind"], e.c.subject_code == row["subject_code"])
        .order_by(e.c.occurred_on.desc(), e.c.id.desc())
    ).mappings()
    return {
        **subject_view(dict(row)),
        "history": [{**r, "computed_at": r["computed_at"].isoformat()} for r in history],
        "items": [event_view(dict(r)) for r in events],
    }


# -- the rule --------------------------------------------------------------------------------------------------


def current_rule(conn: Connection) -> dict:
    r = t.rules
    row = conn.execute(sa.select(r).order_by(r.c.version.desc()).limit(1)).mappings().one()
    return dict(row)


def sources() -> list[dict]:
    """Where events come from: the platform's import and every case kind a module feeds from."""
    out = [{"code": "credit_import", "title": "信用平台导入"}]
    for kind in dict.fromkeys(f.kind for f in all_feeds()):
        case = cases.get(kind)
        out.append({"code": kind, "title": case.title if case else kind})
    return out


def rule_view(row: dict) -> dict:
    return {**row, "created_at": row["created_at"].isoformat()}


@router.get("/rules", summary="信用评分规则（当前版本、历次版本、事件类型）")
def get_rules(who: Principal = Depends(principal), conn: Connection = Depends(db_read, scope="function")) -> dict:
    who.require(VIEW, "查看信用评分规则")
    r = t.rules
    versions = [rule_view(dict(x)) for x in conn.execute(sa.select(r).order_by(r.c.version.desc())).mappings()]
    return {
        "current": versions[0],
        "versions": versions,
        "event_types": [{"code": c, "title": ti, "polarity": p} for c, (ti, p) in EVENT_TYPES.items()],
        "sources": sources(),
        "formula": "信用分 = 基础分 + Σ（良好 +1 / 不良 −1）× 类型权重 × 分值 × 0.5^(距今天数 ÷ 半衰期天数)",
        "can_edit": who.can(RULES),
    }


class RuleUpdate(BaseModel):
    version: Version = Field(title="当前版本号")
    base_score: Amount(1000) = Field(title="基础分")
    half_life_days: Amount(36500, 1) = Field(title="半衰期（天）")
    weights: dict[Code(ITEM_CODE), Amount(100)] = Field(title="类型权重", max_length=100)
    note: Text(500) | None = Field(None, title="修改说明")


@router.put("/rules", summary="修改信用评分规则（生成新版本并重算全部信用分）")
def update_rules(
    body: RuleUpdate, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
) -> dict:
    who.require(RULES, "修改信用评分规则")
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('credit_rules'))"))  # one change at a time
    cur = current_rule(conn)
    if body.version != cur["version"]:
        raise StaleVersion(cur["version"], body.version, "评分规则")
    for code in body.weights:
        if code not in EVENT_TYPES:
            raise Invalid(
                "unknown_event_type", f"没有事件类型「{code[:30]}」。", "weights", {"types": list(EVENT_TYPES)}
            )
    new = {
        "version": cur["version"] + 1,
        "base_score": body.base_score,
        "half_life_days": body.half_life_days,
        "weights": body.weights,
        "note": body.note,
        "created_by": who.user,
    }
    conn.execute(sa.insert(t.rules).values(**new))
    before = {k: cur[k] for k in ("version", "base_score", "half_life_days", "weights")}
    audit.record(conn, who.user, "credit_rules", "credit_rules", new["version"], before,
                 {k: new[k] for k in ("version", "base_score", "half_life_days", "weights", "note")}, who.client,
                 user_id=who.user_id)  # fmt: skip
    changed = score.rescore(conn)
    return {**rule_view(current_rule(conn)), "rescored": changed}


# -- import ----------------------------------------------------------------------------------------------------


@router.get("/import/columns", summary="导入文件接受的列（行政许可、行政处罚）")
def import_columns() -> dict:
    return {
        "columns": [{"name": n, "required": r, "description": d} for n, r, d in importer.COLUMNS],
        "formats": ["xlsx", "csv"],
        "max_rows": importer.MAX_ROWS,
    }


@router.get("/import/template.xlsx", summary="导入模板（Excel）")
def import_template(who: Principal = Depends(principal)) -> Response:
    who.require(IMPORT, "导入信用信息")
    example = {
        "数据类别": "行政处罚",
        "相对人类别": "企业",
        "相对人名称": "杭州示例建设有限公司",
        "证件号码": "91330100MA2B000018",
        "决定文书号": "杭建罚〔2026〕1号",
        "事项": "未按规定设置扬尘防治设施，罚款 2 万元",
        "决定日期": "2026-03-01",
        "分值": 5,
        "决定机关": "杭州市城乡建设委员会",
        "区县": "西湖区",
    }
    cols = tuple((n, n) for n in importer.HEADERS)
    return xlsx("信用信息导入模板", cols, [example])


@router.post("/import", summary="导入行政许可、行政处罚（Excel 或 CSV；有错则整批不导入，重复导入不重复入库）")
def import_file(
    file: UploadFile = File(...),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> dict:
    who.require(IMPORT, "导入信用信息")
    data = file.file.read(importer.MAX_BYTES + 1)
    events = importer.parse(data, file.filename or "", score.today())
    return importer.store(conn, events, file.filename or "", data, who)
