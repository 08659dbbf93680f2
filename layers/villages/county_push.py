"""County push (区县农房系统推送, VT-11): the county farmhouse systems push new and changed farmhouse records.

``POST /api/villages/county/farmhouses`` with the API key of the county's system (role ``county_system``, scope its
county; permission ``farmhouse.county_push``) takes ``{"batch_id": …, "records": [≤ 1,000 records]}``. A record is
the county's own record id and version plus the house (``CountyRecord`` below; published as JSON Schema at
``GET /api/villages/county/schema.json`` and in the OpenAPI). Each record gets its own outcome:

- ``created`` / ``updated``: written into ``farmhouses`` (``source = 'county'``), audited;
- a takeover (``updated`` with ``taken_over: true``): a new record whose house code the city already holds for a
  house of the same county without a county record id (from the provincial stock, an archive, an entry) takes that
  house over — the county system is the source of truth for its county: the house gets the record id and version
  and the record's fields, audited with the outcome ``taken_over``. A code held by a house of another county, or by
  a house carrying another county record id, is still refused (``code_taken``);
- ``unchanged``: the same record id and version came before — a no-op (a batch sent twice changes nothing);
- ``stale``: an older version than the one held (or than another one of the same batch) — ignored and reported
  with the version held;
- ``rejected``: the record is wrong (a field, a stage not configured, a position outside the county, a code held by
  another house) — reported with the machine code, the field and a Chinese message; the batch's good records are
  kept.

Validation is set-wise: the whole body is validated once by pydantic (Rust) and the records that passed are checked
and written by ONE SQL statement (``jsonb_to_recordset`` → checks → update + insert → audit rows), never row by row:
a batch of 1,000 costs a few hundred milliseconds. Its lookups are index probes per record (the held house, each
code), never a scan or a hash of the table, so that its cost does not grow with the table when the planner's
statistics are stale (``bench/county_push.py`` says where the time goes). Every batch is logged per county in ``vil_county_pushes``
(what came when, the counts, the errors), readable at ``GET /api/villages/county/pushes``.

``write_records`` is shared with the on-demand archive fetch (``county_fetch.py``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import jsonschema_rs
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read, db_write
from api.errors import ApiError, not_found
from geo import bounds
from geo.bounds import Amount, Code, Day, Shape, Text, Whole
from geo.divisions import DISTRICT_NAMES
from geo.layer.districting import TOLERANCE_M
from geo.modules import log_labels, permissions

PREFIX = "/api/villages/county"
router = APIRouter(prefix=PREFIX, tags=["区县农房系统接口"])

BATCH_MAX = 1000
LOGGED_MAX = 200  # errors and stale records kept per logged batch
PUSH = "farmhouse.county_push"
ACTION = "county_push"

permissions(
    {PUSH: "区县农房系统推送农房数据", "farmhouse.county_fetch": "调取区县农房档案"},
    group="智慧村镇",
)
log_labels(
    objects={"vil_county_pushes": "区县农房推送记录", "vil_county_fetches": "区县农房档案调取记录"},
    actions={ACTION: "区县系统推送", "county_fetch": "调取区县档案"},
)

COUNTY_RECORD_ID = Shape(
    "区县系统记录编号",
    "由字母、数字和 - _ . : 组成，以字母或数字开头，至多 64 个字符",
    64,
    r"[A-Za-z0-9][A-Za-z0-9_.:-]*",
)
STRUCTURES = ("砖混", "砖木", "框架", "木结构", "土木", "石结构", "其他")
STATUSES = ("存量", "审批中", "在建", "已竣工")
BUILDING = ("在建", "已竣工")  # the states in which a house has post-approval stages


class CountyRecord(BaseModel):
    """One farmhouse as a county system sends it (the county archive API returns the same records)."""

    model_config = ConfigDict(extra="forbid", title="区县农房记录")

    record_id: Code(COUNTY_RECORD_ID) = Field(title="区县系统记录编号", description="区县系统中该农房记录的唯一编号")
    version: Whole(1, bounds.ID_MAX) = Field(
        title="记录版本号", description="区县系统中该记录的版本，每次修改递增；较旧的版本会被忽略并报告"
    )
    code: Code(bounds.RECORD_CODE) = Field(title="农房编号", description="全市唯一的农房编号")
    owner_name: Text(50, 1) | None = Field(None, title="户主姓名")
    township: Text(50, 1) = Field(title="乡镇街道")
    village: Text(50, 1) = Field(title="行政村")
    address: Text(200) | None = Field(None, title="地址")
    floors: Whole(1, 10) | None = Field(None, title="层数")
    structure: Literal[STRUCTURES] | None = Field(None, title="结构类型")  # type: ignore[valid-type]
    built_year: Whole(1900, 2100) | None = Field(None, title="建成年份")
    floor_area_m2: Amount(10_000) | None = Field(None, title="建筑面积(㎡)")
    status: Literal[STATUSES] = Field(title="建设状态")  # type: ignore[valid-type]
    approval_no: Text(50, 1) | None = Field(None, title="审批文号")
    approved_on: Day() | None = Field(None, title="审批日期")
    stage: Text(32, 1) | None = Field(
        None, title="监管阶段", description="已通过的最后一个批后监管阶段的编码（见市级系统配置：layout、trench …）"
    )
    lon: Amount(121.0, 118.0) = Field(title="经度", description="WGS84 / CGCS2000 经度，须位于本区县境内")
    lat: Amount(31.0, 29.0) = Field(title="纬度", description="WGS84 / CGCS2000 纬度，须位于本区县境内")


class PushBatch(BaseModel):
    """A batch of records pushed by a county system."""

    model_config = ConfigDict(extra="forbid", title="区县农房推送批次")

    batch_id: Text(64, 1) | None = Field(None, title="批次编号", description="区县系统自定的批次编号，仅用于日志")
    records: list[CountyRecord] = Field(title="农房记录", min_length=1, max_length=BATCH_MAX)


RECORD_SCHEMA = jsonschema_rs.validator_for(CountyRecord.model_json_schema(), validate_formats=True)


def schema() -> dict:
    """The published JSON Schema of a push batch (records included)."""
    out = PushBatch.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$id"] = f"{PREFIX}/schema.json"
    return out


# -- per-record validation -----------------------------------------------------------------------------------------
def _title(field: str) -> str:
    info = CountyRecord.model_fields.get(field)
    return (info.title if info is not None else None) or field


def record_error(err: dict) -> dict:
    """One pydantic error of a record as ``{code, field, message}`` (Chinese, naming the field)."""
    loc = [str(x) for x in err.get("loc", ())]
    field = ".".join(loc) or None
    title = _title(loc[0]) if loc else "记录"
    kind = err.get("type", "")
    if kind in bounds.CODES and (err.get("ctx") or {}).get("geo_bounds"):
        return {"code": kind, "field": field, "message": f"「{title}」{err.get('msg', '')}"}
    if kind == "missing":
        return {"code": "required", "field": field, "message": f"缺少必填字段「{title}」。"}
    if kind == "extra_forbidden":
        return {"code": "unknown_field", "field": field, "message": f"字段「{field}」未在接口中定义。"}
    if kind == "literal_error":
        allowed = (err.get("ctx") or {}).get("expected", "")
        return {"code": "invalid_choice", "field": field, "message": f"「{title}」只能是 {allowed}。"}
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return {"code": "invalid_record", "field": field, "message": "记录必须是 JSON 对象。"}
    return {"code": "invalid_type", "field": field, "message": f"「{title}」格式不正确。"}


def validate_records(raw: list[Any]) -> tuple[list[tuple[int, CountyRecord]], dict[int, list[dict]]]:
    """The good records (with their index) and the errors of the bad ones, by index."""
    good: list[tuple[int, CountyRecord]] = []
    bad: dict[int, list[dict]] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            bad[i] = [{"code": "invalid_record", "field": None, "message": "记录必须是 JSON 对象。"}]
            continue
        try:
            rec = CountyRecord.model_validate(item)
        except ValidationError as e:
            bad[i] = [record_error(x) for x in e.errors()]
            continue
        wrong = next(RECORD_SCHEMA.iter_errors(item), None)  # the published schema: no "3" for 3, no time in a date
        if wrong is not None:
            path = [str(p) for p in wrong.instance_path]
            field = ".".join(path) or None
            title = _title(path[0]) if path else "记录"
            bad[i] = [{"code": "invalid_type", "field": field, "message": f"「{title}」的类型或格式不符合接口规范。"}]
            continue
        nul = next((k for k, v in item.items() if isinstance(v, str) and "\x00" in v), None)
        if nul is not None:  # neither PostgreSQL's text nor jsonb holds U+0000
            bad[i] = [
                {"code": "invalid_character", "field": nul, "message": f"「{_title(nul)}」含有空字符（U+0000）。"}
            ]
            continue
        if rec.stage is not None and rec.status not in BUILDING:
            bad[i] = [
                {
                    "code": "stage_without_construction",
                    "field": "stage",
                    "message": f"建设状态为「{rec.status}」的农房不能填写监管阶段（仅在建、已竣工的农房有监管阶段）。",
                }
            ]
            continue
        good.append((i, rec))
    return good, bad


def parse_batch(body: bytes) -> tuple[str | None, list[Any]]:
    """The batch id and the raw records of a request body; a body that is not a batch at all is a 4xx."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "json_invalid", "请求内容不是有效的 JSON。", None) from None
    if not isinstance(data, dict):
        raise ApiError(422, "request_invalid", '请求内容应为 JSON 对象：{"records": [...]}。', None)
    unknown = sorted(set(data) - {"batch_id", "records"})
    if unknown:
        raise ApiError(422, "unknown_field", f"字段「{unknown[0]}」未在接口中定义。", unknown[0])
    records = data.get("records")
    if not isinstance(records, list) or not records:
        raise ApiError(422, "required", "请在「农房记录」(records) 中提供至少一条记录。", "records")
    if len(records) > BATCH_MAX:
        raise ApiError(
            413,
            "batch_too_large",
            f"每批最多推送 {BATCH_MAX} 条记录，本批 {len(records)} 条，请分批推送。",
            "records",
            {"max": BATCH_MAX, "given": len(records)},
        )
    batch_id = data.get("batch_id")
    if batch_id is not None and (
        not isinstance(batch_id, str) or not 1 <= len(batch_id.strip()) <= 64 or "\x00" in batch_id
    ):
        raise ApiError(422, "invalid_type", "「批次编号」应为 1 至 64 个字符的文本。", "batch_id")
    return batch_id, records


# -- the set-wise write ----------------------------------------------------------------------------------------------
COLUMNS = (
    "code",
    "owner_name",
    "township",
    "village",
    "address",
    "floors",
    "structure",
    "built_year",
    "floor_area_m2",
    "status",
    "approval_no",
    "approved_on",
    "stage",
)
RECORDSET = """
    idx integer, record_id text, version bigint, code text, owner_name text, township text, village text,
    address text, floors bigint, structure text, built_year bigint, floor_area_m2 double precision, status text,
    approval_no text, approved_on date, stage text, lon double precision, lat double precision
"""
_SET = ", ".join(f"{c} = c.{c}" for c in COLUMNS)
_COLS = ", ".join(COLUMNS)
_C_COLS = ", ".join(f"c.{c}" for c in COLUMNS)


# What an update's audit row keeps of the house before it (the row's own columns, not its geometry as GeoJSON).
def _before(alias: str) -> str:
    return (
        ", ".join(
            f"'{c}', {alias}.{c}"
            for c in ("id", "version", "county_record_id", "county_version", "source", "district", *COLUMNS)
        )
        + f", 'lon', ST_X({alias}.geom), 'lat', ST_Y({alias}.geom)"
    )


_BEFORE = _before("f")
# What a created house's audit row keeps: the record as it came (``to_jsonb`` of the incoming row less ``idx``, as
# an update's), rebuilt from the row the insert returns so that no join leads back to the incoming records.
_AFTER = (
    "'record_id', county_record_id, 'version', county_version, "
    + ", ".join(f"'{c}', {c}" for c in COLUMNS)
    + ", 'lon', ST_X(geom), 'lat', ST_Y(geom)"
)
# One statement (a string: data-modifying CTEs read far clearer in SQL than in Core): the incoming records, their
# checks against the held houses, the configured stages, the county's boundary and the city's codes; then the
# update of newer versions, the takeover of a house of the county the city holds without a county record id (``o``:
# imported from the provincial stock or an archive; same code, same district), the insert of new records, their
# audit rows, and one outcome row per record.
WRITE = f"""
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({RECORDSET})
), county AS (
    SELECT ST_Union(geom) AS geom FROM districts WHERE name = :district AND deleted_at IS NULL
), taken AS MATERIALIZED (  -- called once, not once per record
    SELECT DISTINCT ON (code) code, county_record_id
      FROM vil_codes_taken(ARRAY(SELECT code FROM incoming), :district)
     ORDER BY code, county_record_id
), checked AS (
    SELECT i.*, ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326) AS geom, f.id AS fid,
           f.county_version AS held, f.deleted_at IS NOT NULL AS gone,
           -- an update's or a takeover's audit row: the house before and the record as it came (a new house's:
           -- from the insert)
           CASE WHEN i.version > f.county_version THEN jsonb_build_object({_BEFORE})
                WHEN o.id IS NOT NULL THEN jsonb_build_object({_before("o")}) END AS before, o.id AS oid,
           CASE WHEN i.version > f.county_version OR o.id IS NOT NULL THEN to_jsonb(i) - 'idx' END AS after,
           CASE
               WHEN i.stage IS NOT NULL AND NOT EXISTS (SELECT 1 FROM vil_stages s WHERE s.code = i.stage)
                   THEN 'unknown_stage'
               WHEN CASE WHEN ST_Intersects((SELECT geom FROM county), ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326))
                         THEN false  -- the core's rule: inside, or within its tolerance of the boundary
                         -- projected only when a point lies outside (an init plan runs when first needed)
                         ELSE NOT ST_DWithin((SELECT ST_Transform(geom, 4549) FROM county),
                                             ST_Transform(ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326), 4549),
                                             {TOLERANCE_M})
                    END THEN 'outside_county'
               WHEN t.code IS NOT NULL AND t.county_record_id IS DISTINCT FROM i.record_id AND o.id IS NULL
                   THEN 'code_taken'
           END AS problem
      FROM incoming i
      LEFT JOIN LATERAL (  -- one probe of the unique (district, county record id) index per record
          SELECT * FROM farmhouses f WHERE f.district = :district AND f.county_record_id = i.record_id LIMIT 1
      ) f ON true
      LEFT JOIN LATERAL (  -- a house of the county the city holds under the same code, no county record id yet
          SELECT * FROM farmhouses o
           WHERE f.id IS NULL AND o.district = :district AND o.code = i.code AND o.county_record_id IS NULL
             AND o.deleted_at IS NULL
           LIMIT 1
      ) o ON true
      LEFT JOIN taken t ON t.code = i.code
), updated AS (
    UPDATE farmhouses f
       SET {_SET}, geom = c.geom, county_record_id = c.record_id, county_version = c.version, source = 'county',
           version = f.version + 1, updated_at = now(), updated_by = :actor
      FROM checked c
     WHERE f.id = COALESCE(c.fid, c.oid) AND c.problem IS NULL AND c.gone IS NOT TRUE
       AND (c.oid IS NOT NULL OR c.version > c.held)
    RETURNING f.id, c.record_id, c.before, c.after, c.oid IS NOT NULL AS taken_over
), inserted AS (
    INSERT INTO farmhouses (geom, district, {_COLS}, source, county_record_id, county_version,
                            created_by, updated_by)
    SELECT c.geom, :district, {_C_COLS}, 'county', c.record_id, c.version, :actor, :actor
      FROM checked c
     WHERE c.fid IS NULL AND c.oid IS NULL AND c.problem IS NULL
    ON CONFLICT DO NOTHING
    RETURNING id, county_record_id AS record_id, jsonb_build_object({_AFTER}) AS after
), written AS (
    SELECT u.id, u.record_id, u.before, u.after,
           CASE WHEN u.taken_over THEN 'taken_over' ELSE 'updated' END AS outcome
      FROM updated u
    UNION ALL
    SELECT n.id, n.record_id, NULL::jsonb, n.after, 'created' FROM inserted n
), logged AS (
    INSERT INTO audit_log (actor, user_id, client, action, layer, feature_id, before, after, detail)
    SELECT CAST(:actor AS text), CAST(:user_id AS bigint), CAST(:client AS text), CAST(:action AS text),
           'farmhouses', w.id, w.before, w.after,
           jsonb_build_object('outcome', w.outcome, 'via', CAST(:via AS text))
      FROM written w
)
SELECT c.idx, c.record_id, c.held, c.problem, c.gone, c.fid, NULL::bigint AS written_id, NULL::text AS outcome
  FROM checked c
UNION ALL  -- what was written, by record id (unique in the statement): matched in Python, not by a join
SELECT NULL, w.record_id, NULL, NULL, NULL, NULL, w.id, w.outcome
  FROM written w
"""

PROBLEMS = {
    "unknown_stage": ("stage", "监管阶段「{stage}」未在市级系统中配置。"),
    "outside_county": ("lon", f"位置（{{lon}}, {{lat}}）不在{{district}}境内，也不在其边界 {TOLERANCE_M:g} 米内。"),
    "code_taken": (
        "code",
        "农房编号「{code}」已被其他区县的农房或本区县另一条区县记录的农房使用，不能接管，请核对编号。",
    ),
    "record_deleted": ("record_id", "该农房已在市级系统中删除，不能再更新。"),
    "conflict": ("record_id", "该记录正被同时写入，请稍后重新推送。"),
}


def write_records(
    conn: Connection,
    district: str,
    records: list[tuple[int, CountyRecord]],
    actor: str,
    *,
    user_id: int | None = None,
    client: str | None = None,
    via: str = "push",
    action: str = ACTION,
) -> list[dict]:
    """Write the validated ``(index, record)`` pairs of one county in one statement; one outcome per record:
    ``{index, record_id, version, status, id?, held_version?, taken_over?, errors?}``. Records of the same id in the list: the
    highest version is written, the others are stale (or unchanged when equal)."""
    out: list[dict] = []
    best: dict[str, tuple[int, CountyRecord]] = {}
    codes: dict[str, str] = {}
    for i, rec in records:
        seen = best.get(rec.record_id)
        if seen is None or rec.version > seen[1].version:
            best[rec.record_id] = (i, rec)
    for rec_id, (i, rec) in list(best.items()):  # two records of the batch for one code: the later one is refused
        other = codes.setdefault(rec.code, rec_id)
        if other != rec_id:
            del best[rec_id]
            out.append(_outcome(i, rec, "rejected", errors=[_problem("code_taken", rec, district)]))
    kept = {i for i, _ in best.values()}
    for i, rec in records:
        if i not in kept and rec.record_id in best:
            top = best[rec.record_id][1].version
            out.append(_outcome(i, rec, "unchanged" if rec.version == top else "stale", held_version=top))
    if not best:
        return sorted(out, key=lambda o: o["index"])
    by_index = {i: rec for i, rec in best.values()}
    rows = [{"idx": i, **rec.model_dump(mode="json")} for i, rec in best.values()]
    result = (
        conn.execute(
            sa.text(WRITE),
            {
                "rows": json.dumps(rows, ensure_ascii=False),
                "district": district,
                "actor": actor,
                "user_id": user_id,
                "client": client,
                "action": action,
                "via": via,
            },
        )
        .mappings()
        .all()
    )
    written = {r["record_id"]: r for r in result if r["outcome"]}
    for r in result:
        if r["outcome"]:
            continue
        rec = by_index[r["idx"]]
        w = written.get(rec.record_id)
        if w is not None and w["outcome"] == "taken_over":  # an update of a house the city held without a record id
            out.append(_outcome(r["idx"], rec, "updated", id=w["written_id"], taken_over=True))
        elif w is not None:
            out.append(_outcome(r["idx"], rec, w["outcome"], id=w["written_id"]))
        elif r["held"] is not None and rec.version == r["held"]:  # a version held is a no-op, whatever it holds
            out.append(_outcome(r["idx"], rec, "unchanged", id=r["fid"], held_version=r["held"]))
        elif r["held"] is not None and rec.version < r["held"]:
            out.append(_outcome(r["idx"], rec, "stale", id=r["fid"], held_version=r["held"]))
        elif r["problem"] or r["gone"]:
            problem = r["problem"] or "record_deleted"
            out.append(_outcome(r["idx"], rec, "rejected", errors=[_problem(problem, rec, district)]))
        else:  # an insert that met a unique index written meanwhile by another request
            out.append(_outcome(r["idx"], rec, "rejected", errors=[_problem("conflict", rec, district)]))
    return sorted(out, key=lambda o: o["index"])


def _problem(code: str, rec: CountyRecord, district: str) -> dict:
    field, text = PROBLEMS[code]
    return {"code": code, "field": field, "message": text.format(district=district, **rec.model_dump())}


def _outcome(index: int, rec: CountyRecord | None, status: str, **more: Any) -> dict:
    out: dict[str, Any] = {
        "index": index,
        "record_id": rec.record_id if rec else None,
        "version": rec.version if rec else None,
        "status": status,
    }
    out.update({k: v for k, v in more.items() if v is not None})
    return out


def _raw_key(item: Any, key: str) -> Any:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def summarize(results: list[dict]) -> dict[str, int]:
    counts = dict.fromkeys(("created", "updated", "unchanged", "stale", "rejected"), 0)
    for r in results:
        counts[r["status"]] += 1
    return counts


# -- the county's system ---------------------------------------------------------------------------------------------
def county_of(conn: Connection, who: Principal) -> str:
    """The county a county system pushes for: its account's district, a county that runs a system of its own."""
    who.require(PUSH, "推送农房数据")
    if not who.district:
        raise ApiError(403, "not_a_county_system", "只有区县农房系统的接口账号（绑定区县）可以推送农房数据。", None)
    has_system = conn.execute(
        sa.text("SELECT has_system FROM vil_counties WHERE district = :d"), {"d": who.district}
    ).scalar()
    if not has_system:
        raise ApiError(
            403,
            "county_without_system",
            f"{who.district}未登记为有自建农房系统的区县，请在市级系统中录入农房数据。",
            None,
            {"district": who.district},
        )
    return who.district


async def raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/farmhouses",
    summary="区县农房系统推送农房记录（每批至多 1,000 条；按记录编号和版本号幂等）",
    response_description="每条记录的处理结果：created、updated、unchanged、stale 或 rejected（附错误）",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushBatch"}}},
        }
    },
)
def push_farmhouses(
    request: Request,
    body: bytes = Depends(raw_body),
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
) -> JSONResponse:
    started = time.perf_counter()
    district = county_of(conn, who)
    batch_id, raw = parse_batch(body)
    good, bad = validate_records(raw)
    results = write_records(conn, district, good, who.user, user_id=who.user_id, client=who.client)
    results += [
        {"index": i, "record_id": _raw_key(raw[i], "record_id"), "version": _raw_key(raw[i], "version"),
         "status": "rejected", "errors": errs}
        for i, errs in bad.items()
    ]  # fmt: skip
    results.sort(key=lambda o: o["index"])
    counts = summarize(results)
    elapsed = (time.perf_counter() - started) * 1000
    push_id = conn.execute(
        sa.text("""
            INSERT INTO vil_county_pushes (district, actor, client, batch_id, received, created, updated, unchanged,
                                           stale, rejected, elapsed_ms, errors, stale_records, records)
            VALUES (:district, :actor, :client, :batch_id, :received, :created, :updated, :unchanged, :stale,
                    :rejected, :elapsed, CAST(:errors AS jsonb), CAST(:stale_records AS jsonb),
                    CAST(:records AS jsonb))
            RETURNING id
        """),
        {
            "district": district,
            "actor": who.user,
            "client": who.client,
            "batch_id": batch_id,
            "received": len(raw),
            **counts,
            "elapsed": elapsed,
            "errors": json.dumps([r for r in results if r["status"] == "rejected"][:LOGGED_MAX], ensure_ascii=False),
            "stale_records": json.dumps([r for r in results if r["status"] == "stale"][:LOGGED_MAX]),
            "records": json.dumps([[r["record_id"], r["version"], r["status"]] for r in results]),
        },
    ).scalar_one()
    out = {"push_id": push_id, "district": district, "batch_id": batch_id, "received": len(raw), **counts,
           "results": results}  # fmt: skip
    return JSONResponse(out)  # plain JSON already: not walked again by FastAPI's encoder (1,000 results)


@router.get("/schema.json", summary="区县农房推送接口的 JSON Schema（供区县系统开发使用）")
def push_schema() -> dict:
    return schema()


@router.get("/pushes", summary="区县推送日志（各区县何时推送了什么）")
def push_log(
    district: Literal[DISTRICT_NAMES] | None = Query(None, title="区县"),  # type: ignore[valid-type]
    since: Day() | None = Query(None, title="起始日期"),
    limit: Whole(1, 500) = 50,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("farmhouse.view", "查看区县推送日志")
    rows = conn.execute(
        sa.text("""
            SELECT id, district, received_at, actor, client, batch_id, received, created, updated, unchanged, stale,
                   rejected, elapsed_ms, errors, stale_records
              FROM vil_county_pushes
             WHERE (CAST(:d AS text) IS NULL OR district = :d)
               AND (CAST(:since AS date) IS NULL OR received_at >= CAST(:since AS date))
             ORDER BY received_at DESC, id DESC
             LIMIT :limit
        """),
        {"d": district, "since": since, "limit": limit},
    ).mappings()
    return {"items": [{**r, "received_at": r["received_at"].isoformat()} for r in rows]}


@router.get("/pushes/{push_id}", summary="一批区县推送的明细（每条记录的编号、版本和处理结果）")
def push_entry(
    push_id: bounds.RecordId,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("farmhouse.view", "查看区县推送日志")
    row = (
        conn.execute(sa.text("SELECT * FROM vil_county_pushes WHERE id = :i"), {"i": push_id}).mappings().first()
    )  # row-level security: another county's batch is not found
    if row is None:
        raise not_found("推送记录")
    return {**row, "received_at": row["received_at"].isoformat()}


def on_app(app: Any) -> None:
    """Publish the batch's schema among the OpenAPI components (the push route reads its raw body)."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = original()
        defs = PushBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs.pop("$defs", {}))
        components["PushBatch"] = defs
        return spec

    app.openapi = openapi
