"""The provincial stock (VT-12): the importer of the Zhejiang rural-housing system's export of Hangzhou's farmhouses.

``chengjian villages import-provincial FILE`` (or :func:`import_provincial`) loads the export into ``farmhouses``:

- The file is CSV, UTF-8 (a byte-order mark is allowed), comma-separated, one header row, one house per row
  (quoted fields may hold commas and line breaks). The columns are named by their Chinese header or by the field
  name; their order is free; columns not listed are ignored and named in the report. Blank means "not given".

  ========== ================= ==== ===========================================================================
  header     field             must rule
  ========== ================= ==== ===========================================================================
  农房编码   provincial_code   yes  浙江省农房编码: "33", 4 digits (the rest of the county's division code), then
                                    6 to 26 digits or capital letters; unique in the file
  区县       district          yes  one of Hangzhou's 13 districts and counties (上城区 … 建德市); the point must
                                    lie in it or within 50 m of its boundary (the core's rule, geo.layer.districting)
  乡镇街道   township               ≤ 50 characters
  行政村     village                ≤ 50 characters
  地址       address                ≤ 200 characters
  户主姓名   owner_name             ≤ 50 characters
  户主身份证号 owner_id_number      18 characters: 17 digits, then a digit or X (the GB 11643 check digit)
  层数       floors                 whole number 1–10
  结构类型   structure              砖混、砖木、框架、木结构、土木、石结构、其他
  建成年份   built_year             whole number 1900–2100
  建筑面积   floor_area_m2          number 0–10000 (㎡)
  经度       lon               yes  decimal degrees (CGCS2000 ≈ WGS 84), 118–121
  纬度       lat               yes  decimal degrees, 29–31
  ========== ================= ==== ===========================================================================

- De-duplicated on ``provincial_code``: a house the city already holds with that code is updated (its other data —
  status, stage, approvals, dangerous-house data — stays), a new one is added as stock (``status`` 存量, ``source``
  province, ``code`` = the provincial code). Re-runnable: a second run of the same file changes nothing and a newer
  export updates what changed; a house deleted in the city stays deleted (counted, not revived).
- All or nothing: any refused row (by its row number, the header being row 1) refuses the whole file and nothing is
  written. The report (counts of rows, added, updated, unchanged, kept deleted; the refused rows; the rows per
  district) is printed, kept in ``vil_provincial_imports`` and summarised in the operation log.
- Fast: the file is streamed into a temporary table with ``COPY``, checked with one statement, and merged into
  ``farmhouses`` with one ``INSERT … ON CONFLICT`` (``bench/provincial.py`` compares it with ``ogr2ogr``). The
  table's indexes are maintained, not dropped and rebuilt (measured no faster, and it would lock the layer against
  readers until the import commits: see the bench); the report's ``steps`` gives the seconds of each step (copy,
  prepare, check, kept_deleted, merge, report, commit).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import psycopg
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_read
from api.errors import ApiError
from geo import audit, personal
from geo.bounds import ID_MAX
from geo.layer.bulk import BULK_MIN_ROWS, LOAD_SETTINGS
from geo.layer.districting import TOLERANCE_M
from geo.modules import command, log_labels

log_labels(
    objects={"vil_provincial_imports": "省农房数据导入"},
    actions={"vil_provincial_import": "导入省农房存量数据"},
)

CHUNK = 1 << 20  # bytes per COPY write
MAX_PROBLEMS = 1000  # refused rows listed in a report (all are counted)
STRUCTURES = ("砖混", "砖木", "框架", "木结构", "土木", "石结构", "其他")
INT = r"^[0-9]+$"
NUM = r"^-?[0-9]+(\.[0-9]+)?$"


@dataclass(frozen=True)
class Column:
    header: str  # the Chinese header of the export
    field: str
    required: bool = False
    max_length: int | None = None
    pattern: str | None = None  # a POSIX regular expression the text must match
    pattern_rule: str = ""
    minimum: float | None = None
    maximum: float | None = None
    numeric: str | None = None  # INT or NUM: the value is a number in [minimum, maximum]
    choices: tuple[str, ...] = ()


COLUMNS = (
    Column(
        "农房编码",
        "provincial_code",
        True,
        pattern=r"^33[0-9]{4}[0-9A-Z]{6,26}$",
        pattern_rule="33 开头的 6 位区划代码加 6 至 26 位数字或大写字母",
    ),
    Column("区县", "district", True),
    Column("乡镇街道", "township", max_length=50),
    Column("行政村", "village", max_length=50),
    Column("地址", "address", max_length=200),
    Column("户主姓名", "owner_name", max_length=50),
    Column("户主身份证号", "owner_id_number", pattern=r"^[0-9]{17}[0-9X]$", pattern_rule="18 位，前 17 位为数字"),
    Column("层数", "floors", numeric=INT, minimum=1, maximum=10),
    Column("结构类型", "structure", choices=STRUCTURES),
    Column("建成年份", "built_year", numeric=INT, minimum=1900, maximum=2100),
    Column("建筑面积", "floor_area_m2", numeric=NUM, minimum=0, maximum=10_000),
    Column("经度", "lon", True, numeric=NUM, minimum=118, maximum=121),
    Column("纬度", "lat", True, numeric=NUM, minimum=29, maximum=31),
)
BY_NAME = {c.header: c for c in COLUMNS} | {c.field: c for c in COLUMNS}

# The attributes a provincial row sets on a house (besides the point), with their casts from the staged text.
ATTRIBUTES = {
    "district": "district",
    "township": "township",
    "village": "village",
    "address": "address",
    "owner_name": "owner_name",
    "owner_id_number": "owner_id_number",
    "floors": "floors::bigint",
    "structure": "structure",
    "built_year": "built_year::bigint",
    "floor_area_m2": "floor_area_m2::double precision",
}
# GB 11643's check digit of a resident ID number (the 18th character), from its first 17 digits (shape checked first).
ID_CHECK_DIGIT = "substr('10X98765432', ({}) % 11 + 1, 1)".format(
    " + ".join(
        f"substr(s.owner_id_number, {i + 1}, 1)::int * {w}"
        for i, w in enumerate((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2))
    )
)
# The point, computed once per row in the checking statement (``s.pt``) and only when both coordinates are
# well-formed numbers within the accepted ranges (NULL otherwise: those rows are refused by the coordinates' own
# checks). It must lie in its district or within the core's tolerance of its boundary (geo.layer.districting's rule),
# tested against the districts cut into small pieces (``prov_districts``, GiST-indexed).
STAGED_POINT = f"""CASE WHEN lon ~ '{NUM}' AND lat ~ '{NUM}' AND lon::numeric BETWEEN 118 AND 121
    AND lat::numeric BETWEEN 29 AND 31
    THEN ST_SetSRID(ST_MakePoint(lon::double precision, lat::double precision), 4326) END AS pt"""
OUTSIDE_DISTRICT = f"""s.pt IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM prov_districts d WHERE d.name = s.district AND ST_Intersects(d.g, s.pt))
    AND NOT EXISTS (SELECT 1 FROM prov_districts d WHERE d.name = s.district
                    AND ST_DWithin(ST_Transform(d.g, 4549), ST_Transform(s.pt, 4549), {TOLERANCE_M}))"""
PERSONAL = {"owner_id_number": "id_number", "owner_name": "name"}
POINT = "ST_SetSRID(ST_MakePoint(s.lon::double precision, s.lat::double precision), 4326)"


class ProvincialRefused(Exception):
    """The file was refused whole: ``report`` says why (nothing was written)."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(report["message"])
        self.report = report


def _problem(row: int | None, header: str | None, code: str, message: str) -> dict[str, Any]:
    return {"row": row, "field": header, "code": code, "message": message}


def read_header(path: Path) -> list[str]:
    """The header row's names (the byte-order mark removed); refused when the file is not UTF-8 CSV text."""
    import csv

    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise ProvincialRefused(_refusal("not_utf8", "文件不是 UTF-8 编码的 CSV 文本（请按 UTF-8 导出）。")) from None
    if not header or not any(h.strip() for h in header):
        raise ProvincialRefused(_refusal("no_header", "文件没有表头行。"))
    return header


def _refusal(code: str, message: str, problems: list[dict] | None = None, **counts: Any) -> dict[str, Any]:
    problems = problems if problems is not None else [_problem(None, None, code, message)]
    return {"status": "refused", "code": code, "message": message, "problems": problems, **counts}


def map_columns(header: list[str]) -> tuple[list[str], list[str]]:
    """The staging table's column names in file order (``x_<i>`` for ignored columns) and the ignored headers."""
    staged, ignored, seen = [], [], set()
    problems = []
    for i, raw in enumerate(header):
        name = raw.strip()
        col = BY_NAME.get(name)
        if col is None:
            staged.append(f"x_{i}")
            ignored.append(name)
            continue
        if col.field in seen:
            problems.append(_problem(1, name, "duplicate_column", f"表头中「{col.header}」出现了不止一次。"))
        seen.add(col.field)
        staged.append(col.field)
    missing = [c.header for c in COLUMNS if c.required and c.field not in seen]
    for h in missing:
        problems.append(_problem(1, h, "missing_column", f"缺少必需的列「{h}」。"))
    if problems:
        raise ProvincialRefused(_refusal(problems[0]["code"], problems[0]["message"], problems))
    return staged, ignored


def _checks(c: Column, present: bool) -> list[tuple[str, str, str]]:
    """(SQL condition on the staged text ``s.<field>``, code, Chinese reason) of one column, in order of priority."""
    v = f"s.{c.field}"
    out: list[tuple[str, str, str]] = []
    if c.required:
        out.append((f"{v} IS NULL" if present else "true", "required", "不能为空"))
    if not present:
        return out
    if c.max_length:
        out.append((f"length({v}) > {c.max_length}", "too_long", f"不能超过 {c.max_length} 个字符"))
    if c.pattern:
        out.append((f"{v} !~ '{c.pattern}'", "bad_format", f"格式不正确（{c.pattern_rule}）"))
    if c.numeric:
        kind = "整数" if c.numeric == INT else "数字"
        out.append((f"{v} !~ '{c.numeric}'", "not_a_number", f"应为{kind}"))
        cast = "numeric"
        out.append(  # reached only when the text is a number (the check before failed): the cast is safe
            (
                f"NOT {v}::{cast} BETWEEN {c.minimum} AND {c.maximum}",
                "out_of_range",
                f"应在 {c.minimum:g} 到 {c.maximum:g} 之间",
            )
        )
    if c.field == "owner_id_number":
        out.append((f"{ID_CHECK_DIGIT} <> substr({v}, 18, 1)", "bad_check_digit", "校验位不正确"))
    if c.choices:
        listed = ", ".join(f"'{x}'" for x in c.choices)
        out.append((f"{v} NOT IN ({listed})", "not_a_choice", "应为 " + "、".join(c.choices) + " 之一"))
    if c.field == "district":
        out.append(
            (f"NOT EXISTS (SELECT 1 FROM vil_counties k WHERE k.district = {v})", "not_a_district", "不是杭州市的区县")
        )
        out.append(
            (
                OUTSIDE_DISTRICT,
                "district_mismatch",
                f"与经纬度不符（该点不在此区县内，也不在其边界 {TOLERANCE_M:g} 米内）",
            )
        )
    if c.field == "provincial_code":
        out.append(("s.dup > 1", "duplicate_code", "在文件中重复出现（与前面的行重复）"))
        out.append(
            (
                "EXISTS (SELECT 1 FROM farmhouses f WHERE f.code = s.provincial_code AND f.deleted_at IS NULL "
                "AND f.provincial_code IS DISTINCT FROM s.provincial_code) "
                "AND NOT EXISTS (SELECT 1 FROM farmhouses g WHERE g.provincial_code = s.provincial_code)",
                "code_taken",
                "已被另一处农房用作农房编号",
            )
        )
    return out


def validation_sql(staged: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """One statement listing the refused rows: ``(n, k)`` with ``k`` the index of the first failed check of each
    column, plus the total count; and the (header, reason) of every check index."""
    reasons: list[tuple[str, str, str]] = []
    cases = []
    for c in COLUMNS:
        checks = _checks(c, c.field in staged)
        if not checks:
            continue
        whens = []
        for cond, code, reason in checks:
            whens.append(f"WHEN {cond} THEN {len(reasons)}")
            reasons.append((c.header, code, reason))
        cases.append("CASE " + " ".join(whens) + " END")
    fields = ", ".join(f for f in staged if not f.startswith("x_"))
    dup = (
        "row_number() OVER (PARTITION BY provincial_code ORDER BY n) AS dup"
        if "provincial_code" in staged
        else "1 AS dup"
    )
    point = f", {STAGED_POINT}" if {"lon", "lat"} <= set(staged) else ", NULL::geometry AS pt"
    sql = f"""
        SELECT n, problems, count(*) OVER () AS total FROM (
            SELECT s.n, array_remove(ARRAY[{", ".join(cases)}], NULL) AS problems
            FROM (SELECT n, {fields}, {dup}{point} FROM prov_stage) s
        ) p
        WHERE cardinality(problems) > 0 ORDER BY n LIMIT {MAX_PROBLEMS}
    """
    return sql, [(h, f"{code}|{reason}") for h, code, reason in reasons]


def merge_sql(staged: list[str]) -> str:
    """The one statement that adds new houses and updates known ones (only where something changed)."""
    given = [f for f in ATTRIBUTES if f in staged]
    cols = ", ".join(given)
    values = ", ".join("s." + ATTRIBUTES[f] for f in given)
    sets = ", ".join(f"{f} = EXCLUDED.{f}" for f in given)
    old = ", ".join(f"f.{f}" for f in given)
    new = ", ".join(f"EXCLUDED.{f}" for f in given)
    return f"""
        WITH m AS (
            INSERT INTO farmhouses AS f (code, provincial_code, {cols}, geom, status, source, created_by, updated_by)
            SELECT s.provincial_code, s.provincial_code, {values}, {POINT}, '存量', 'province', :actor, :actor
            FROM prov_stage s
            ON CONFLICT (provincial_code) WHERE provincial_code IS NOT NULL DO UPDATE SET
                {sets}, geom = EXCLUDED.geom, version = f.version + 1, updated_at = now(),
                updated_by = EXCLUDED.updated_by
            WHERE f.deleted_at IS NULL
              AND (ROW({old}, ST_AsBinary(f.geom)) IS DISTINCT FROM ROW({new}, ST_AsBinary(EXCLUDED.geom)))
            RETURNING (f.xmax = 0) AS added
        )
        SELECT count(*) FILTER (WHERE added) AS inserted, count(*) FILTER (WHERE NOT added) AS updated FROM m
    """


def _copy(conn: Connection, path: Path, staged: list[str]) -> tuple[int, str]:
    """Stream the file into ``prov_stage``; the row count and the file's SHA-256."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    digest = hashlib.sha256()
    cols = ", ".join(staged)
    try:
        with raw.cursor() as cur:
            # FORCE_NULL: a quoted empty field ("") is blank too, as an unquoted one.
            sql = f"COPY prov_stage ({cols}) FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8', FORCE_NULL ({cols}))"
            with cur.copy(sql) as cp:
                with path.open("rb") as f:
                    while chunk := f.read(CHUNK):
                        digest.update(chunk)
                        cp.write(chunk)
            return cur.rowcount, digest.hexdigest()
    except psycopg.errors.DataError as e:  # a row with too many or too few fields, or bytes that are not UTF-8
        line = re.search(r"line (\d+)", (e.diag.context or "") + str(e))
        row = int(line.group(1)) if line else None
        what = "不是 UTF-8 编码的文本" if isinstance(e, psycopg.errors.CharacterNotInRepertoire) else "列数与表头不符"
        message = f"第 {row} 行{what}，整个文件未导入。" if row else f"文件{what}，整个文件未导入。"
        raise ProvincialRefused(_refusal("bad_row_shape", message, [_problem(row, None, "bad_row_shape", message)]))


class Steps:
    """Seconds spent per step of a run (the report's ``steps``): ``with steps("name"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t, 3)


def run(conn: Connection, path: Path, actor: str) -> dict[str, Any]:
    """Stage, check and merge ``path`` in ``conn``'s transaction; raises :class:`ProvincialRefused` (the caller rolls
    back) when any row is refused. Returns the report."""
    started = time.perf_counter()
    step = Steps()
    header = read_header(path)
    staged, ignored = map_columns(header)
    cols = ", ".join(f"{name} text" for name in staged)
    conn.execute(sa.text("DROP TABLE IF EXISTS pg_temp.prov_stage"))
    conn.execute(
        sa.text(f"CREATE TEMP TABLE prov_stage (n bigint GENERATED ALWAYS AS IDENTITY, {cols}) ON COMMIT DROP")
    )
    with step("copy"):
        rows, sha = _copy(conn, path, staged)
    counts: dict[str, Any] = {"file": path.name, "sha256": sha, "rows": rows, "ignored_columns": ignored}
    if rows == 0:
        raise ProvincialRefused(_refusal("empty_file", "文件中没有数据行。", **counts))
    with step("prepare"):
        conn.execute(sa.text("ANALYZE prov_stage"))
        conn.execute(sa.text("DROP TABLE IF EXISTS pg_temp.prov_districts"))
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE prov_districts ON COMMIT DROP AS "
                "SELECT name, ST_Subdivide(geom, 64) AS g FROM districts WHERE deleted_at IS NULL"
            )
        )
        conn.execute(sa.text("CREATE INDEX ON prov_districts USING gist (g)"))
        conn.execute(sa.text("ANALYZE prov_districts"))
    sql, reasons = validation_sql(staged)
    with step("check"):
        found = conn.execute(sa.text(sql)).all()
    if found:
        values = _refused_values(conn, [r.n for r in found])
        problems = []
        for r in found:
            for k in r.problems:
                header_name, code_reason = reasons[k]
                code, reason = code_reason.split("|", 1)
                field = BY_NAME[header_name].field
                value = values.get(r.n, {}).get(field)
                if field in PERSONAL and value:  # the report is read by others: personal data stays masked
                    value = personal.mask(PERSONAL[field], value)
                shown = f"：{value[:40]}" if value else ""
                problems.append(
                    _problem(r.n + 1, header_name, code, f"第 {r.n + 1} 行「{header_name}」{reason}{shown}")
                )
        total = found[0].total
        message = f"{total} 行数据不符合要求（第一处：{problems[0]['message']}），整个文件未导入。"
        raise ProvincialRefused(_refusal("rows_refused", message, problems, refused_rows=total, **counts))
    with step("kept_deleted"):
        kept_deleted = conn.execute(
            sa.text(
                "SELECT count(*) FROM prov_stage s JOIN farmhouses f ON f.provincial_code = s.provincial_code "
                "WHERE f.deleted_at IS NOT NULL"
            )
        ).scalar_one()
    if rows >= BULK_MIN_ROWS:  # as the core's bulk loads: the trigram index's entries merged in large batches
        for name, value in LOAD_SETTINGS.items():
            conn.execute(sa.text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    with step("merge"):
        merged = conn.execute(sa.text(merge_sql(staged)), {"actor": actor}).one()
    with step("report"):
        by_district = dict(
            conn.execute(sa.text("SELECT district, count(*) FROM prov_stage GROUP BY district ORDER BY district")).all()
        )
    report = {
        "status": "done",
        **counts,
        "inserted": merged.inserted,
        "updated": merged.updated,
        "unchanged": rows - merged.inserted - merged.updated - kept_deleted,
        "kept_deleted": kept_deleted,
        "by_district": by_district,
        "seconds": round(time.perf_counter() - started, 3),
        "steps": step.seconds,
    }
    audit.record(conn, actor, "vil_provincial_import", "farmhouses", detail=report)
    return report


def _refused_values(conn: Connection, ns: list[int]) -> dict[int, dict[str, str]]:
    rows = conn.execute(sa.text("SELECT to_jsonb(s) AS r FROM prov_stage s WHERE n = ANY(:ns)"), {"ns": ns}).all()
    return {r.r["n"]: r.r for r in rows}


def _log(conn: Connection, path: Path, actor: str, report: dict[str, Any]) -> int:
    return conn.execute(
        sa.text(
            "INSERT INTO vil_provincial_imports (file_name, file_sha256, actor, finished_at, status, rows, inserted, "
            "updated, unchanged, problem_count, report) VALUES (:f, :sha, :a, now(), :st, :rows, :ins, :upd, :unch, "
            ":pc, CAST(:rep AS jsonb)) RETURNING id"
        ),
        {
            "f": path.name,
            "sha": report.get("sha256"),
            "a": actor,
            "st": report["status"],
            "rows": report.get("rows", 0),
            "ins": report.get("inserted", 0),
            "upd": report.get("updated", 0),
            "unch": report.get("unchanged", 0),
            "pc": report.get("refused_rows", len(report.get("problems", []))) if report["status"] == "refused" else 0,
            "rep": json.dumps(report, ensure_ascii=False),
        },
    ).scalar_one()


def import_provincial(path: str | Path, actor: str) -> dict[str, Any]:
    """Import the export at ``path`` in one transaction (as the schema owner: the file covers every district) and
    keep the run's report; returns the report (``status`` done or refused) with the run's ``id``."""
    from geo.db import admin_transaction

    path = Path(path)
    try:
        with admin_transaction() as conn:
            report = run(conn, path, actor)
            report["id"] = _log(conn, path, actor, report)
            committing = time.perf_counter()
        report["steps"]["commit"] = round(time.perf_counter() - committing, 3)
    except ProvincialRefused as e:
        report = e.report
        with admin_transaction() as conn:
            report["id"] = _log(conn, path, actor, report)
            audit.record(conn, actor, "vil_provincial_import", "farmhouses", detail=_summary(report))
    return report


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "problems"} | {"problems": report.get("problems", [])[:20]}


router = APIRouter(prefix="/api/villages/provincial", tags=["villages"])
RUN_COLUMNS = (
    "id, file_name, file_sha256, actor, started_at, finished_at, status, rows, inserted, updated, unchanged, "
    "problem_count"
)


@router.get("/imports", summary="省农房存量数据的导入记录")
def list_imports(
    limit: Annotated[int, Query(ge=1, le=100, title="条数")] = 20,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    """The latest runs of the importer, newest first (the counts; the whole report by ``/imports/{id}``)."""
    who.require("farmhouse.import", "查看省农房数据导入记录")
    rows = conn.execute(
        sa.text(f"SELECT {RUN_COLUMNS} FROM vil_provincial_imports ORDER BY id DESC LIMIT :n"), {"n": limit}
    ).mappings()
    return {"imports": [dict(r) for r in rows]}


@router.get("/imports/{import_id}", summary="一次导入的报告")
def get_import(
    import_id: Annotated[int, PathParam(ge=1, le=ID_MAX, title="导入记录 ID")],
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_read, scope="function"),
) -> dict:
    who.require("farmhouse.import", "查看省农房数据导入记录")
    row = (
        conn.execute(
            sa.text(f"SELECT {RUN_COLUMNS}, report FROM vil_provincial_imports WHERE id = :i"), {"i": import_id}
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", f"导入记录 {import_id} 不存在。", "import_id")
    return dict(row)


def _import_command(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"文件不存在：{path}", file=sys.stderr)
        return 2
    report = import_provincial(path, args.actor)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif report["status"] == "done":
        print(
            f"导入完成（第 {report['id']} 次）：{report['rows']} 行，新增 {report['inserted']}，更新 {report['updated']}，"
            f"未变 {report['unchanged']}，已删除未恢复 {report['kept_deleted']}，用时 {report['seconds']} 秒"
        )
        if report["ignored_columns"]:
            print("未识别而忽略的列：" + "、".join(report["ignored_columns"]))
        for district, n in report["by_district"].items():
            print(f"  {district}\t{n}")
    else:
        print(report["message"], file=sys.stderr)
        for p in report["problems"][:50]:
            print("  " + p["message"], file=sys.stderr)
    return 0 if report["status"] == "done" else 1


@command("villages", help="smart villages: import the provincial farmhouse stock")
def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="villages_command", required=True)
    imp = sub.add_parser("import-provincial", help="import the Zhejiang rural-housing system's CSV export")
    imp.add_argument("file")
    imp.add_argument("--actor", default="provincial-import", help="who runs it (the operation log's actor)")
    imp.add_argument("--json", action="store_true", help="print the whole report as JSON")
    imp.set_defaults(func=_import_command)
