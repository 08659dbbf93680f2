"""Reading and writing the enterprise register: checks, create/update (version-checked, audited), qualifications,
the list query (Chinese substring search on the name), the detail (principals, qualifications with the expired ones
flagged, track record, market behaviour), merging a duplicate into the record kept, and Excel import and export.

Every write runs on the caller's transaction (row-level security and the request's scope apply) and leaves an audit
record. Bad input is refused with the field it names; nothing is repaired.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import ARRAY

from api.accounts.ids import check_uscc
from api.errors import ApiError
from geo import audit, sheets
from geo.divisions import DISTRICT_NAMES
from geo.errors import StaleVersion
from layers.enterprises.tables import ENTERPRISE_TYPES, enterprises, get_by_uscc, merges, qualifications

E = enterprises
Q = qualifications
FIELDS = ("name", "types", "legal_rep", "tech_lead", "address", "district")
LABELS = {
    "uscc": "统一社会信用代码",
    "name": "企业名称",
    "types": "企业类型",
    "legal_rep": "法定代表人",
    "tech_lead": "技术负责人",
    "address": "地址",
    "district": "所在区县",
}
LIMITS = {"name": 200, "legal_rep": 50, "tech_lead": 50, "address": 200}
QUAL_LABELS = {
    "category": "资质类别",
    "grade": "等级",
    "scope": "资质范围",
    "number": "证书编号",
    "valid_from": "有效期起",
    "valid_to": "有效期至",
}
TYPE_BY_TITLE = {title: code for code, title in ENTERPRISE_TYPES.items()}
CODE_LIKE = re.compile(r"[0-9A-Za-z]{18}")  # what a search term looks like when it is a credit code
# How the projects name an enterprise's part in them (track record).
ROLES = {"builder_uscc": "建设单位", "construction_uscc": "施工单位", "supervision_uscc": "监理单位"}


def today() -> date:
    from geo.bounds import today as beijing_today

    return beijing_today()


# -- checks ---------------------------------------------------------------------------------------------------------


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """The given fields checked and normalized (blank text is None); refused with the field at fault."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in FIELDS:
            continue
        if isinstance(value, str):
            value = value.strip() or None
        if key == "name" and value is None:
            raise ApiError(422, "required", "请填写「企业名称」。", key)
        if key in LIMITS and value is not None and len(value) > LIMITS[key]:
            raise ApiError(422, "too_long", f"「{LABELS[key]}」最多 {LIMITS[key]} 个字。", key)
        if key == "types":
            value = list(value or [])
            unknown = [v for v in value if v not in ENTERPRISE_TYPES]
            if unknown:
                raise ApiError(
                    422,
                    "invalid_type",
                    f"企业类型「{'、'.join(map(str, unknown))}」不在企业类型中（{'、'.join(ENTERPRISE_TYPES.values())}）。",
                    key,
                    {"unknown": unknown, "types": ENTERPRISE_TYPES},
                )
            value = sorted(set(value), key=list(ENTERPRISE_TYPES).index)
        if key == "district" and value is not None and value not in DISTRICT_NAMES:
            raise ApiError(
                422,
                "invalid_district",
                f"「{value}」不是杭州市的区、县（市）。",
                key,
                {"districts": list(DISTRICT_NAMES)},
            )
        out[key] = value
    return out


def clean_qualification(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in QUAL_LABELS:
        value = data.get(key)
        if isinstance(value, str):
            value = value.strip() or None
        out[key] = value
    for key in ("category", "number"):
        if out[key] is None:
            raise ApiError(422, "required", f"请填写「{QUAL_LABELS[key]}」。", key)
    for key in ("valid_from", "valid_to"):
        if isinstance(out[key], datetime):
            out[key] = out[key].date()
        elif isinstance(out[key], str):
            try:
                out[key] = date.fromisoformat(out[key])
            except ValueError:
                raise ApiError(422, "invalid_date", f"「{QUAL_LABELS[key]}」应为日期，如 2026-12-31。", key)
    if out["valid_from"] and out["valid_to"] and out["valid_to"] < out["valid_from"]:
        raise ApiError(422, "invalid_period", "「有效期至」不能早于「有效期起」。", "valid_to")
    return out


# -- reading --------------------------------------------------------------------------------------------------------


def view(row: dict) -> dict:
    return {
        "id": row["id"],
        "uscc": row["uscc"],
        **{k: row[k] for k in FIELDS},
        "types": list(row["types"] or []),
        "type_titles": [ENTERPRISE_TYPES.get(t, t) for t in row["types"] or []],
        "credit_score": float(row["credit_score"]) if row["credit_score"] is not None else None,
        "version": row["version"],
        "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
        "updated_by": row.get("updated_by"),
    }


def get(conn: Connection, uscc: str, lock: bool = False) -> dict:
    """The enterprise; with ``lock`` (about to change it) also checked to lie in the caller's scope, then locked
    (row-level security hides a row outside it from ``FOR UPDATE``: the check names why first)."""
    query = sa.select(E).where(E.c.uscc == uscc.strip().upper())
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(
            404, "enterprise_not_found", f"企业库中没有统一社会信用代码为「{uscc}」的企业。", "uscc", {"uscc": uscc}
        )
    if lock:
        require_scope(conn, row["district"])
        row = conn.execute(query.with_for_update()).mappings().one()
    return dict(row)


def qualification_view(row: dict, on: date) -> dict:
    return {
        "id": row["id"],
        **{k: row[k].isoformat() if isinstance(row[k], date) else row[k] for k in QUAL_LABELS},
        "expired": row["valid_to"] is not None and row["valid_to"] < on,
        "version": row["version"],
    }


def qualifications_of(conn: Connection, enterprise_id: int) -> list[dict]:
    rows = conn.execute(
        sa.select(Q).where(Q.c.enterprise_id == enterprise_id).order_by(Q.c.valid_to.desc().nulls_first(), Q.c.id)
    ).mappings()
    on = today()
    return [qualification_view(dict(r), on) for r in rows]


def _contains(term: str) -> Any:
    """The name contains ``term`` regardless of case (what ILIKE '%term%' means, without pattern matching per row);
    a term with no cased letter (Chinese) needs no lower-casing of every name."""
    if term.lower() == term.upper():
        return sa.func.strpos(E.c.name, term) > 0
    return sa.func.strpos(sa.func.lower(E.c.name), term.lower()) > 0


def _filters(q: str | None, type_: str | None, district: str | None, expired: bool | None) -> list:
    """The conditions of the list. A name search is ``strpos`` on the name (what ILIKE '%term%' means), for the total
    and for the page alike: the page walks ``(name, id)`` in order (migration ent_0002) and stops after a page, and
    ``strpos`` is so cheap per index entry that a rare term's walk through all 20,000 names costs about 3 ms. The
    bigram index's condition (``chengjian_bigrams(name) @> …``) made the planner either read a common term's
    candidates from the index or walk the names calling ``chengjian_bigrams`` on every one: 50–115 ms for a
    middling term whose names sort late (「江鼎」 in 「浙江鼎…」), the search's p95."""
    conds: list[Any] = []
    if q and q.strip():
        term = q.strip()
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if CODE_LIKE.fullmatch(term):  # a credit code, or a name with one (the trigram index serves the name)
            conds.append(sa.or_(E.c.uscc == term.upper(), E.c.name.ilike(pattern)))
        else:
            conds.append(_contains(term))
    if type_:
        if type_ not in ENTERPRISE_TYPES:
            raise ApiError(422, "invalid_type", f"企业类型「{type_}」不存在。", "type", {"types": ENTERPRISE_TYPES})
        conds.append(E.c.types.contains([type_]))
    if district:
        conds.append(E.c.district == district)
    if expired is not None:
        lapsed = sa.exists().where(Q.c.enterprise_id == E.c.id, Q.c.valid_to < today())
        conds.append(lapsed if expired else ~lapsed)
    return conds


def query(
    conn: Connection,
    q: str | None = None,
    type_: str | None = None,
    district: str | None = None,
    expired: bool | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[int, list[dict]]:
    conds = _filters(q, type_, district, expired)
    total = conn.execute(sa.select(sa.func.count()).select_from(E).where(*conds)).scalar_one()
    on = today()
    lapsed = (
        sa.select(sa.func.count())
        .where(Q.c.enterprise_id == E.c.id, Q.c.valid_to < on)
        .scalar_subquery()
        .label("expired_qualifications")
    )
    held = sa.select(sa.func.count()).where(Q.c.enterprise_id == E.c.id).scalar_subquery().label("qualifications")
    stmt = sa.select(E, held, lapsed).where(*conds).order_by(E.c.name, E.c.id).offset(offset)
    rows = conn.execute(stmt.limit(limit) if limit else stmt).mappings()
    return total, [
        view(dict(r)) | {"qualifications": r["qualifications"], "expired_qualifications": r["expired_qualifications"]}
        for r in rows
    ]


def _record_key(row: dict) -> str:
    """A project's key on its record page (``project_code`` once the project register has it, else ``code``)."""
    return row.get("project_code") or row["code"]


def track_record(conn: Connection, uscc: str, limit: int = 200) -> dict:
    """The projects naming the enterprise as builder, construction or supervision unit (as the caller may see)."""
    cond = " OR ".join(f"p.{c} = :u" for c in ROLES)
    total = conn.execute(sa.text(f"SELECT count(*) FROM projects p WHERE {cond}"), {"u": uscc}).scalar_one()
    # to_jsonb: the project register adds columns (project_code, stage …); read what the table has.
    rows = conn.execute(
        sa.text(
            f"SELECT to_jsonb(p) FROM projects p WHERE {cond} ORDER BY p.start_date DESC NULLS LAST, p.id LIMIT :n"
        ),
        {"u": uscc, "n": limit},
    ).scalars()
    items = []
    for p in rows:
        items.append(
            {
                "key": _record_key(p),
                "code": p["code"],
                "name": p["name"],
                "district": p.get("district"),
                "roles": [title for column, title in ROLES.items() if p.get(column) == uscc],
                "permit_no": p.get("permit_no"),
                "start_date": p.get("start_date"),
                "completion_date": p.get("completion_date"),
            }
        )
    return {"total": total, "items": items}


def market_behaviour(conn: Connection, uscc: str, limit: int = 200) -> dict:
    """The enterprise's credit events (good and bad behaviour), newest first."""
    cond = "subject_kind = 'enterprise' AND subject_code = :u"
    total = conn.execute(sa.text(f"SELECT count(*) FROM credit_events WHERE {cond}"), {"u": uscc}).scalar_one()
    rows = conn.execute(
        sa.text(
            f"SELECT id, polarity, points, reason, source, district, occurred_on FROM credit_events WHERE {cond} "
            "ORDER BY occurred_on DESC, id DESC LIMIT :n"
        ),
        {"u": uscc, "n": limit},
    ).mappings()
    return {
        "total": total,
        "items": [dict(r) | {"occurred_on": r["occurred_on"].isoformat()} for r in rows],
    }


def detail(conn: Connection, uscc: str) -> dict:
    row = get(conn, uscc)
    m = merges
    merged = conn.execute(
        sa.select(m.c.merged_uscc, m.c.at, m.c.by, m.c.moved)
        .where(m.c.kept_uscc == row["uscc"])
        .order_by(m.c.at.desc())
    ).mappings()
    return view(row) | {
        "principals": {"legal_rep": row["legal_rep"], "tech_lead": row["tech_lead"]},
        "qualifications": qualifications_of(conn, row["id"]),
        "projects": track_record(conn, row["uscc"]),
        "credit_events": market_behaviour(conn, row["uscc"]),
        "merges": [dict(r) | {"at": r["at"].isoformat()} for r in merged],
        "record_url": f"/records/enterprises/{row['uscc']}",
    }


# -- writing --------------------------------------------------------------------------------------------------------


def require_scope(conn: Connection, district: str | None) -> None:
    """Writes stay within the writer's data scope on the enterprise's district (the tables' row-level security says
    the same; asked first so that the refusal names the field instead of a write that silently changes nothing)."""
    ok = conn.execute(
        sa.text("SELECT chengjian_scope_ok(CAST(:d AS text), NULL::text, NULL::bigint)"), {"d": district}
    ).scalar_one()
    if not ok:
        raise ApiError(
            403,
            "out_of_scope",
            f"超出您的数据权限范围：只能登记和修改本辖区的企业（该企业所在区县：{district or '未填'}）。",
            "district",
            {"district": district},
        )


def create(
    conn: Connection, uscc: str, data: dict, actor: str, client: str | None = None, uid: int | None = None
) -> dict:
    code = check_uscc(uscc.strip(), "uscc")
    values = clean(data)
    if "name" not in values:
        raise ApiError(422, "required", "请填写「企业名称」。", "name")
    found = get_by_uscc(conn, code)
    if found is not None:
        raise ApiError(
            409,
            "duplicate_uscc",
            f"统一社会信用代码「{code}」已在企业库中（{found['name']}），请修改该企业，不要重复登记。",
            "uscc",
            {"uscc": code, "name": found["name"]},
        )
    require_scope(conn, values.get("district"))
    eid = conn.execute(
        sa.insert(E).values(uscc=code, **values, created_by=actor, updated_by=actor).returning(E.c.id)
    ).scalar_one()
    after = view(get(conn, code))
    audit.record(conn, actor, "create", "enterprises", eid, None, after, client, user_id=uid)
    return after


def update(
    conn: Connection,
    uscc: str,
    data: dict,
    version: int | None,
    actor: str,
    client: str | None = None,
    uid: int | None = None,
) -> dict:
    before = get(conn, uscc, lock=True)
    if version is not None and version != before["version"]:
        raise StaleVersion(before["version"], version, "企业信息")
    changes = {k: v for k, v in clean(data).items() if v != before[k] and not (k == "types" and v == list(before[k]))}
    if not changes:
        return view(before)
    if "district" in changes:
        require_scope(conn, changes["district"])
    conn.execute(
        sa.update(E)
        .where(E.c.id == before["id"])
        .values(**changes, version=E.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    )
    after = view(get(conn, before["uscc"]))
    audit.record(conn, actor, "update", "enterprises", before["id"], view(before), after, client, user_id=uid)
    return after


def add_qualification(
    conn: Connection, uscc: str, data: dict, actor: str, client: str | None = None, uid: int | None = None
) -> dict:
    e = get(conn, uscc, lock=True)
    values = clean_qualification(data)
    if conn.execute(sa.select(Q.c.id).where(Q.c.enterprise_id == e["id"], Q.c.number == values["number"])).scalar():
        raise ApiError(
            409, "duplicate_qualification", f"该企业已登记证书编号为「{values['number']}」的资质。", "number"
        )
    row = (
        conn.execute(
            sa.insert(Q).values(enterprise_id=e["id"], **values, created_by=actor, updated_by=actor).returning(*Q.c)
        )
        .mappings()
        .one()
    )
    after = qualification_view(dict(row), today())
    audit.record(
        conn,
        actor,
        "create",
        "enterprise_qualifications",
        row["id"],
        None,
        after | {"uscc": e["uscc"]},
        client,
        user_id=uid,
    )
    return after


def delete_qualification(
    conn: Connection, uscc: str, qid: int, actor: str, client: str | None = None, uid: int | None = None
) -> None:
    e = get(conn, uscc, lock=True)
    row = conn.execute(sa.select(Q).where(Q.c.id == qid, Q.c.enterprise_id == e["id"])).mappings().first()
    if row is None:
        raise ApiError(404, "qualification_not_found", "该企业没有这条资质记录。", "qualification_id")
    conn.execute(sa.delete(Q).where(Q.c.id == qid))
    before = qualification_view(dict(row), today()) | {"uscc": e["uscc"]}
    audit.record(conn, actor, "delete", "enterprise_qualifications", qid, before, None, client, user_id=uid)


# -- merge ------------------------------------------------------------------------------------------------------------

# Codes held without a foreign key to enterprises.uscc: (table, column, extra condition). Every foreign key to
# enterprises.uscc (the projects' units, and whatever later modules declare: person_employment …) is found in the
# catalog instead, so a new one is followed without a change here.
UNKEYED = (
    ("organisations", "uscc", None),
    ("credit_events", "subject_code", "subject_kind = 'enterprise'"),
    ("experts", "enterprise_uscc", None),
    ("person_employment", "enterprise_uscc", None),
)


def _keyed(conn: Connection) -> list[tuple[str, str, None]]:
    """(table, column) of every single-column foreign key referencing ``enterprises.uscc``."""
    rows = conn.execute(
        sa.text(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] "
            "WHERE c.contype = 'f' AND c.confrelid = 'enterprises'::regclass AND r.attname = 'uscc' "
            "AND cardinality(c.conkey) = 1 ORDER BY 1, 2"
        )
    ).all()
    return [(t, c, None) for t, c in rows]


def _exists(conn: Connection, table: str) -> bool:
    return conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar_one()


def merge(
    conn: Connection,
    kept_uscc: str,
    merged_uscc: str,
    actor: str,
    reason: str | None = None,
    client: str | None = None,
    uid: int | None = None,
) -> dict:
    """Merge the enterprise ``merged_uscc`` into ``kept_uscc``: every record holding the merged code is moved to the
    kept one, its qualifications too (a certificate the kept record already holds stays once), the merged record is
    removed, and the merge is logged (``enterprise_merges``, with the merged record as it was) and audited — all in
    the caller's transaction. Refused when both have an account organisation (which account is kept is a decision
    for the back office's organisations page)."""
    kept_code = check_uscc(kept_uscc.strip(), "uscc")
    merged_code = check_uscc(merged_uscc.strip(), "merged_uscc")
    if kept_code == merged_code:
        raise ApiError(422, "same_enterprise", "不能把企业合并到它自己。", "merged_uscc")
    kept = get(conn, kept_code, lock=True)
    try:
        gone = get(conn, merged_code, lock=True)
    except ApiError as e:
        e.field = "merged_uscc"
        raise
    orgs = conn.execute(
        sa.text("SELECT uscc, name FROM organisations WHERE uscc IN (:a, :b)"), {"a": kept_code, "b": merged_code}
    ).all()
    if len(orgs) == 2:
        raise ApiError(
            409,
            "both_have_accounts",
            "两家企业都已开通单位账号，不能直接合并。请先在后台「单位管理」中停用或调整其中一家的单位，再合并。",
            "merged_uscc",
            {"organisations": [{"uscc": u, "name": n} for u, n in orgs]},
        )
    quals = [
        qualification_view(dict(r), today())
        for r in conn.execute(sa.select(Q).where(Q.c.enterprise_id == gone["id"]).order_by(Q.c.id)).mappings()
    ]
    moved: dict[str, int] = {}
    for table, column, where in dict.fromkeys(
        [*_keyed(conn), *((t, c, w) for t, c, w in UNKEYED if (t, c, None) not in _keyed(conn))]
    ):
        if not _exists(conn, table):
            continue
        extra = f" AND {where}" if where else ""
        n = conn.execute(
            sa.text(f'UPDATE {table} SET "{column}" = :kept WHERE "{column}" = :gone{extra}'),  # names from code
            {"kept": kept_code, "gone": merged_code},
        ).rowcount
        if n:
            moved[f"{table}.{column}"] = n
    held = conn.execute(
        sa.update(Q)
        .where(
            Q.c.enterprise_id == gone["id"],
            Q.c.number.not_in(sa.select(Q.c.number).where(Q.c.enterprise_id == kept["id"]).scalar_subquery()),
        )
        .values(enterprise_id=kept["id"], version=Q.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    ).rowcount
    if held:
        moved["enterprise_qualifications.enterprise_id"] = held
    if len(quals) > held:
        moved["enterprise_qualifications.already_held"] = len(quals) - held
    # What the kept record lacks, the merged one fills in (its types are added).
    fill = {k: gone[k] for k in ("legal_rep", "tech_lead", "address", "district") if not kept[k] and gone[k]}
    types = sorted(set(kept["types"] or []) | set(gone["types"] or []), key=list(ENTERPRISE_TYPES).index)
    if types != list(kept["types"] or []):
        fill["types"] = types
    conn.execute(sa.delete(E).where(E.c.id == gone["id"]))
    conn.execute(
        sa.update(E)
        .where(E.c.id == kept["id"])
        .values(**fill, version=E.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    )
    snapshot = json.loads(json.dumps(view(gone) | {"qualifications": quals}, default=str))
    log_id = conn.execute(
        sa.insert(merges)
        .values(kept_uscc=kept_code, merged_uscc=merged_code, merged=snapshot, moved=moved, reason=reason, by=actor)
        .returning(merges.c.id)
    ).scalar_one()
    audit.record(
        conn,
        actor,
        "merge",
        "enterprises",
        kept["id"],
        snapshot,
        view(get(conn, kept_code)),
        client,
        {"kept_uscc": kept_code, "merged_uscc": merged_code, "moved": moved, "merge_id": log_id, "reason": reason},
        uid,
    )
    return {"id": log_id, "kept_uscc": kept_code, "merged_uscc": merged_code, "moved": moved}


# -- Excel ------------------------------------------------------------------------------------------------------------

# The import file (the export writes the same): the first sheet holds the enterprises, one per row, its columns read
# by their header (the first two required); 企业类型 are titles of ENTERPRISE_TYPES separated by 、 (or ，, ;). An
# optional sheet named 资质 holds qualifications (统一社会信用代码, 资质类别 and 证书编号 required; dates as Excel dates or
# 2026-12-31). The export's computed columns (信用分, 资质数, 过期资质数, 企业名称 and 是否过期 on 资质) are read-only:
# the import passes over them, so an exported file can be edited and imported again.
HEADERS = {key: LABELS[key] for key in ("uscc", "name", "types", "legal_rep", "tech_lead", "address", "district")}
REQUIRED = ("uscc", "name")
COMPUTED = ("信用分", "资质数", "过期资质数")
QUAL_SHEET = "资质"
QUAL_HEADERS = {"uscc": "统一社会信用代码", **QUAL_LABELS}
QUAL_REQUIRED = ("uscc", "category", "number")
QUAL_COMPUTED = ("企业名称", "是否过期")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _types(text: Any) -> list[str]:
    raw = str(text or "")
    for sep in ("，", ",", ";", "；", "/", " "):
        raw = raw.replace(sep, "、")
    titles = [t for t in (s.strip() for s in raw.split("、")) if t]
    unknown = [t for t in titles if t not in TYPE_BY_TITLE]
    if unknown:
        raise ApiError(
            422,
            "invalid_type",
            f"企业类型「{'、'.join(unknown)}」不存在，应为：{'、'.join(ENTERPRISE_TYPES.values())}。",
            "types",
        )
    return [TYPE_BY_TITLE[t] for t in titles]


def _columns(ws: Any, headers: dict[str, str], required: tuple[str, ...], computed: tuple[str, ...], sheet: str):
    """The sheet's rows and {column index: field} from its header, or 422 ``bad_header`` saying what is wrong."""
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    by_title = {title: key for key, title in headers.items()}
    unknown = [h for h in header if h and h not in by_title and h not in computed]
    missing = [headers[k] for k in required if headers[k] not in header]
    doubled = sorted({h for h in header if h and header.count(h) > 1})
    if missing or unknown or doubled:
        problems = (
            ([f"缺少列：{'、'.join(missing)}"] if missing else [])
            + ([f"无法识别的列：{'、'.join(unknown)}"] if unknown else [])
            + ([f"重复的列：{'、'.join(doubled)}"] if doubled else [])
        )
        raise ApiError(
            422,
            "bad_header",
            f"{sheet}第 1 行表头不正确（{'；'.join(problems)}）。表头应为：{'、'.join(headers.values())}。",
            "file",
            {
                "sheet": sheet,
                "missing": missing,
                "unknown": unknown,
                "doubled": doubled,
                "expected": list(headers.values()),
            },
        )
    return rows, {i: by_title[h] for i, h in enumerate(header) if h in by_title}


def _put_qualification(conn: Connection, cells: dict[str, Any], actor: str, client: str | None, uid: int | None) -> str:
    """One qualification row: the enterprise must be in the register (or earlier in the file); a certificate number
    it already holds is updated. Returns ``created`` or ``updated``."""
    code = cells.get("uscc")
    if code is None or not str(code).strip():
        raise ApiError(422, "required", "请填写「统一社会信用代码」。", "uscc")
    code = check_uscc(str(code).strip(), "uscc")
    e = get_by_uscc(conn, code)
    if e is None:
        raise ApiError(
            422,
            "unknown_enterprise",
            f"企业库中没有统一社会信用代码为「{code}」的企业（也不在本文件的企业表中）。",
            "uscc",
        )
    values = clean_qualification(cells)
    held = (
        conn.execute(sa.select(Q).where(Q.c.enterprise_id == e["id"], Q.c.number == values["number"]))
        .mappings()
        .first()
    )
    if held is None:
        add_qualification(conn, code, values, actor, client, uid)
        return "created"
    get(conn, code, lock=True)  # in the writer's scope
    conn.execute(
        sa.update(Q)
        .where(Q.c.id == held["id"])
        .values(**values, version=Q.c.version + 1, updated_at=sa.func.now(), updated_by=actor)
    )
    before = qualification_view(dict(held), today()) | {"uscc": code}
    after = qualification_view({**held, **values, "version": held["version"] + 1}, today()) | {"uscc": code}
    audit.record(conn, actor, "update", "enterprise_qualifications", held["id"], before, after, client, user_id=uid)
    return "updated"


def import_xlsx(
    conn: Connection, content: bytes, commit: bool, actor: str, client: str | None = None, uid: int | None = None
) -> dict:
    """All or nothing: every row is checked and written inside a savepoint; ``commit`` keeps them only when no row
    is refused (else 422 ``import_rejected`` with the report), a dry run rolls them back. A code already in the
    register, or met again further down the file, updates that enterprise (same code, same enterprise); an empty
    cell leaves the stored value as it is. Then the 资质 sheet, if there is one."""
    book = sheets.open_workbook(content)
    ws = book.worksheets[0]
    rows, columns = _columns(ws, HEADERS, REQUIRED, COMPUTED, "企业表")
    quals = None
    if QUAL_SHEET in book.sheetnames and book.worksheets.index(book[QUAL_SHEET]) > 0:
        quals = _columns(book[QUAL_SHEET], QUAL_HEADERS, QUAL_REQUIRED, QUAL_COMPUTED, "资质表")
    report = sheets.report(
        commit,
        rows=0,
        created=0,
        updated=0,
        merged_rows=0,
        qualification_rows=0,
        qualifications_created=0,
        qualifications_updated=0,
    )

    def refused(sheet: str, number: int, e: ApiError, labels: dict[str, str]) -> None:
        report["errors"].append(
            {
                "sheet": sheet,
                "row": number,
                "column": labels.get(e.field or "", e.field),
                "code": e.code,
                "message": f"{'' if sheet == '企业' else sheet + '表'}第 {number} 行：{e.message}",
            }
        )

    seen: dict[str, int] = {}
    outer = conn.begin_nested()
    for number, values in sheets.filled_rows(rows):
        report["rows"] += 1
        try:
            with conn.begin_nested():
                cells = {key: _cell(values[i]) if i < len(values) else None for i, key in columns.items()}
                code = cells.get("uscc")
                if code is None or not str(code).strip():
                    raise ApiError(422, "required", "请填写「统一社会信用代码」。", "uscc")
                code = check_uscc(str(code).strip(), "uscc")
                data = {k: v for k, v in cells.items() if k != "uscc" and v not in (None, "")}
                if "types" in data:
                    data["types"] = _types(data["types"])
                if code in seen:
                    report["merged_rows"] += 1  # the same enterprise again: its later values update it
                if get_by_uscc(conn, code) is None:
                    create(conn, code, data, actor, client, uid)
                    report["created"] += 1
                else:
                    update(conn, code, data, None, actor, client, uid)
                    if code not in seen:
                        report["updated"] += 1
                seen.setdefault(code, number)
        except ApiError as e:
            refused("企业", number, e, HEADERS)
    if quals is not None:
        qrows, qcolumns = quals
        for number, values in sheets.filled_rows(qrows):
            report["qualification_rows"] += 1
            try:
                with conn.begin_nested():
                    cells = {key: _cell(values[i]) if i < len(values) else None for i, key in qcolumns.items()}
                    done = _put_qualification(conn, cells, actor, client, uid)
                    report[f"qualifications_{done}"] += 1
            except ApiError as e:
                refused(QUAL_SHEET, number, e, QUAL_HEADERS)
    return sheets.conclude(conn, outer, report, commit, "企业", "enterprises", actor, client, uid)


def _workbook(items: list[dict], quals: list[dict]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "企业库"
    ws.append([*HEADERS.values(), *COMPUTED])
    for e in items:
        ws.append(
            [
                *("、".join(e["type_titles"]) if k == "types" else e[k] for k in HEADERS),
                e.get("credit_score"),
                e.get("qualifications"),
                e.get("expired_qualifications"),
            ]
        )
    for col, width in zip("ABCDEFGHIJ", (22, 36, 24, 12, 12, 40, 10, 8, 8, 10)):
        ws.column_dimensions[col].width = width
    qs = wb.create_sheet(QUAL_SHEET)
    qs.append([QUAL_HEADERS["uscc"], QUAL_COMPUTED[0], *QUAL_LABELS.values(), QUAL_COMPUTED[1]])
    for q in quals:
        qs.append([q["uscc"], q["name"], *(q[k] for k in QUAL_LABELS), "是" if q["expired"] else "否"])
    for col, width in zip("ABCDEFGHI", (22, 36, 24, 10, 40, 18, 12, 12, 8)):
        qs.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_xlsx(conn: Connection, items: list[dict]) -> bytes:
    """The enterprises listed and their qualifications (the 资质 sheet)."""
    on = today()
    ids = sa.cast(sa.literal([e["id"] for e in items], ARRAY(sa.BigInteger)), ARRAY(sa.BigInteger))
    rows = conn.execute(
        sa.select(Q, E.c.uscc, E.c.name)
        .join(E, E.c.id == Q.c.enterprise_id)
        .where(Q.c.enterprise_id == sa.any_(ids))
        .order_by(E.c.name, E.c.id, Q.c.valid_to.desc().nulls_first(), Q.c.id)
    ).mappings()
    quals = [dict(r) | {"expired": r["valid_to"] is not None and r["valid_to"] < on} for r in rows]
    return _workbook(items, quals)


def template_xlsx() -> bytes:
    """An empty import file: the header rows and one example enterprise with one qualification."""
    from stdnum.cn import uscc

    body = "91330106MA2H0B0K1"
    code = body + uscc.calc_check_digit(body)
    example = {
        "uscc": code,
        "name": "杭州示例建设有限公司",
        "type_titles": ["施工", "监理"],
        "legal_rep": "张三",
        "tech_lead": "李四",
        "address": "杭州市西湖区文三路1号",
        "district": "西湖区",
    }
    qual = {
        "uscc": code,
        "name": example["name"],
        "category": "建筑工程施工总承包",
        "grade": "二级",
        "scope": "可承担二级资质许可范围内的建筑工程施工",
        "number": "D233000001",
        "valid_from": date(2024, 1, 1),
        "valid_to": date(2028, 12, 31),
        "expired": False,
    }
    return _workbook([example], [qual])
