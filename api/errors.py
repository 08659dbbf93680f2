"""One error shape for every 4xx: ``{code, message (Chinese), field, detail}``."""

from __future__ import annotations

import functools
import math
import re
import typing
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo import bounds, calendar
from geo import errors as domain
from geo.db import admin_engine
from geo.layer.registry import registry


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.code, self.message, self.field = status, code, message, field
        self.detail = detail or {}
        self.headers = headers

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field, "detail": self.detail}


# The core's domain errors (geo/errors.py) as HTTP statuses: the one place where the two meet.
DOMAIN_STATUS: tuple[tuple[type[domain.DomainError], int], ...] = (
    (domain.NotFound, 404),
    (domain.Conflict, 409),
    (domain.Invalid, 422),
    (domain.Forbidden, 403),
    (domain.TooLarge, 413),
    (domain.PreconditionRequired, 428),
)


def status_of(exc: domain.DomainError) -> int:
    """The HTTP status of a domain error (the first kind it is an instance of; 400 for an unmapped kind)."""
    return next((status for kind, status in DOMAIN_STATUS if isinstance(exc, kind)), 400)


_QUOTED = re.compile(r"「([^」]*)」")


def short_echoes(message: str, detail: Any) -> tuple[str, Any]:
    """An error never repeats a long value whole: what the message quotes (「…」) and ``detail.value`` are cut to a
    short prefix (geo.errors.excerpt), whichever code raised it."""
    message = _QUOTED.sub(lambda m: f"「{domain.excerpt(m.group(1))}」", message)
    if isinstance(detail, dict) and isinstance(detail.get("value"), str):
        detail = {**detail, "value": domain.excerpt(detail["value"])}
    return message, detail


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    message, detail = short_echoes(message, detail)
    return JSONResponse(
        {"code": code, "message": message, "field": field, "detail": detail or {}}, status_code=status, headers=headers
    )


def _echo(value: Any) -> Any:
    """A refused value as the error repeats it: numbers and short text as given, anything else as a short text."""
    if value is None or isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return domain.excerpt(value)


def not_found(what: str = "记录") -> ApiError:
    return ApiError(404, "not_found", f"{what}不存在或已删除。")


_STATUS_TEXT = {
    400: ("bad_request", "请求格式不正确。"),
    401: ("unauthorized", "请先登录。"),
    403: ("forbidden", "没有权限执行此操作。"),
    404: ("not_found", "请求的资源不存在。"),
    405: ("method_not_allowed", "不支持此请求方法。"),
    406: ("not_acceptable", "不支持请求的格式。"),
    413: ("payload_too_large", "上传内容过大。"),
    415: ("unsupported_media_type", "不支持的内容类型。"),
}


def _column_of(constraint: str | None, table: str | None) -> str | None:
    """The column a constraint named ``<table>_<column>[_live]_(idx|key)`` is about. PostgreSQL leaves the key out
    of the error detail on tables with row-level security, so the name is what is left."""
    if not constraint or not table or not constraint.startswith(table + "_"):
        return None
    rest = re.sub(r"(_live)?_(idx|key|fkey)$", "", constraint[len(table) + 1 :])
    return rest or None


_RLS_TABLE = re.compile(r'row-level security policy for table "(\w+)"')
# The arguments of the scope check in a table's write policy: chengjian_scope_ok(<district>, <layer>, <granted id>)
# (geo/migrations/layer_table.py install_scope_policy), e.g. "chengjian_scope_ok(district, 'sites'::text, site_id)".
_SCOPE_CHECK = re.compile(r"chengjian_scope_ok\((\w+)(?:::\w+)?, [^,]+, (\w+)(?:::\w+)?\)")


@functools.lru_cache(maxsize=256)
def scope_field(table: str) -> str | None:
    """The field a row-level security refusal on ``table`` is about, as the client sees it: a layer's district
    follows from its geometry (``geometry``); another table's write policy keys on the record it belongs to (e.g.
    ``site_id``: the site fixes the district too), else on its ``district`` column; None when the policy names
    neither (or the table has no scope policy)."""
    layer = next((lyr for lyr in registry.all() if lyr.table == table), None)
    if layer is not None and "district" in layer.attr_names:
        return "geometry"
    with admin_engine().connect() as conn:
        checks = conn.execute(
            sa.text(
                "SELECT with_check FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t "
                "AND cmd IN ('INSERT', 'UPDATE') AND with_check IS NOT NULL ORDER BY cmd"
            ),
            {"t": table},
        ).scalars()
        found = next((m for m in map(_SCOPE_CHECK.search, checks) if m), None)
    if found is None:
        return None
    district, granted = found.groups()
    if granted not in ("NULL", "id"):
        return granted
    return district if district != "NULL" else None


def _unwrap(annotation: Any) -> Any:
    """``Model | None`` → ``Model``; ``list[Model]`` → ``Model`` (what a location's next part indexes)."""
    for arg in typing.get_args(annotation):
        if arg is not type(None):
            found = _unwrap(arg)
            if hasattr(found, "model_fields"):
                return found
    return annotation


def field_label(request: Request, loc: list[str]) -> str:
    """The Chinese name of the body field at ``loc``: its declared title (or description), else its name."""
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    model = _unwrap(body.field_info.annotation) if body is not None else None
    label = loc[-1] if loc else ""
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            continue
        info = fields[part]
        label = info.title or info.description or part
        model = _unwrap(info.annotation)
    return label


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.detail, exc.headers)

    @app.exception_handler(domain.DomainError)
    async def _domain_error(request: Request, exc: domain.DomainError):
        return error_response(status_of(exc), exc.code, exc.message, exc.field, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(x) for x in first.get("loc", [])]
        if loc and loc[0] in ("body", "query", "path", "header"):  # where it was; a field may be named "body" too
            loc = loc[1:]
        field = ".".join(loc) or None
        kind = first.get("type", "")
        if kind in bounds.CODES and (first.get("ctx") or {}).get("geo_bounds"):  # a declared bound (geo/bounds.py)
            return error_response(
                422,
                kind,
                f"「{field_label(request, loc)}」{first.get('msg', '')}",
                field,
                {"value": _echo(first.get("input"))},
            )
        if kind == "json_invalid":
            msg = "请求内容不是有效的 JSON。"
        elif kind == "missing":
            msg = f"缺少必填参数「{field}」。"
        else:
            msg = f"参数「{field}」格式不正确。" if field else "请求参数格式不正确。"
        return error_response(
            422,
            "request_invalid",
            msg,
            field,
            {"errors": [{"loc": e.get("loc"), "type": e.get("type"), "msg": e.get("msg")} for e in errs][:20]},
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        """Constraint violations the checks before the write could not see (a race, a reference)."""
        diag = getattr(exc.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        key = re.match(r"Key \((\w+)\)", getattr(diag, "message_detail", None) or "")
        field = key.group(1) if key else _column_of(constraint, getattr(diag, "table_name", None))
        detail = {"constraint": constraint}
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "23505":  # unique_violation
            return error_response(409, "duplicate", "该编号已存在，不能重复登记。", field, detail)
        if sqlstate == "23503":  # foreign_key_violation
            return error_response(422, "reference_missing", "引用的记录不存在。", field, detail)
        return error_response(409, "constraint_violation", "数据不满足约束条件。", field, detail)

    @app.exception_handler(ProgrammingError)
    async def _programming(request: Request, exc: ProgrammingError):
        """Row-level security refusing a write: the record would fall outside the principal's data scope. Or a
        working-day count in SQL (``chengjian_working_days`` and the like, in any query) that reached a year the
        calendar does not cover: the calendar's own error (geo/calendar.py), not a server failure."""
        missing = calendar.missing_from(exc)
        if missing is not None:
            return error_response(status_of(missing), missing.code, missing.message, missing.field, missing.detail)
        if getattr(exc.orig, "sqlstate", None) == "42501" and "row-level security" in str(exc.orig):
            table = getattr(getattr(exc.orig, "diag", None), "table_name", None)
            if table is None:
                named = _RLS_TABLE.search(str(exc.orig))
                table = named.group(1) if named else None
            return error_response(
                403,
                "out_of_scope",
                "超出您的数据权限范围：只能录入和修改本辖区（或本单位参与项目）的数据。",
                await run_in_threadpool(scope_field, table) if table else None,
                {"table": table},
            )
        raise exc

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        """A value PostgreSQL cannot hold, where no check before it looked (a body's text, a body's integer): the
        query parameters and declared integers are checked up front (api/params.py); this is the net behind them."""
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if "NUL (0x00)" in str(exc.orig) or sqlstate == "22021":  # psycopg refuses NUL in text; bad encoding
            return error_response(422, "invalid_character", "内容含有不允许的控制字符（如空字符 U+0000）。", None)
        if sqlstate == "22003":  # numeric_value_out_of_range
            return error_response(422, "out_of_range", "数值超出允许范围。", None)
        raise exc

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code, msg = _STATUS_TEXT.get(exc.status_code, ("http_error", "请求失败。"))
        return error_response(
            exc.status_code, code, msg, None, {"reason": str(exc.detail)}, getattr(exc, "headers", None)
        )
