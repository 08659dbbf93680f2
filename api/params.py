"""Request parameters checked in one place, before any endpoint sees them.

- ``RefuseControlCharacters`` (ASGI middleware, every request): a C0 control character (NUL and the like; tab,
  newline and carriage return are allowed in query values, where multi-line text makes sense) in a query parameter's
  name or value or in the path is refused with 422 ``invalid_character`` naming the parameter (``path`` for the path).
  PostgreSQL cannot store NUL in text, and no parameter means anything with the others.
- ``check_integers`` (a dependency of every API route, from ``create_app``): a parameter the route declares as an
  integer (path, query, also in its dependencies) must fit PostgreSQL's bigint, like every id: a larger path id is a
  record that does not exist (404), a larger query value (offset, limit, an id filter) is refused with 422
  ``out_of_range`` naming it."""

from __future__ import annotations

import json
import re
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, not_found

BIGINT_MAX = 2**63 - 1
QUERY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # C0 controls but tab, newline, carriage return
PATH_CONTROL = re.compile(r"[\x00-\x1f]")


def _refusal(field: str, char: str) -> bytes:
    return json.dumps(
        {
            "code": "invalid_character",
            "message": f"参数「{field}」含有不允许的控制字符（U+{ord(char):04X}）。",
            "field": field,
            "detail": {"character": f"U+{ord(char):04X}"},
        },
        ensure_ascii=False,
    ).encode()


def control_character(scope: Scope) -> tuple[str, str] | None:
    """(parameter, character) of the first control character in the request's path or query, else None."""
    bad = PATH_CONTROL.search(scope.get("path") or "")  # already percent-decoded by the server
    if bad:
        return "path", bad.group()
    query = (scope.get("query_string") or b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        bad = QUERY_CONTROL.search(name) or QUERY_CONTROL.search(value)
        if bad:
            return QUERY_CONTROL.sub("", name) or "query", bad.group()
    return None


class RefuseControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = control_character(scope) if scope["type"] == "http" else None
        if found is None:
            return await self.app(scope, receive, send)
        body = _refusal(*found)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 422, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return get_origin(annotation) in (Union, UnionType) and int in get_args(annotation)


def _int_params(dependant, kind: str) -> list[str]:
    names = [f.alias for f in getattr(dependant, f"{kind}_params") if _is_int(f.field_info.annotation)]
    for sub in dependant.dependencies:
        names += _int_params(sub, kind)
    return names


_DECLARED: dict[int, tuple[object, list[str], list[str]]] = {}  # id(route): (route, path ints, query ints)


def _beyond_bigint(value: str) -> bool:
    try:
        return abs(int(value)) > BIGINT_MAX
    except ValueError:
        return False  # not an integer at all: the route's own validation answers


def check_integers(request: Request) -> None:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _DECLARED.get(id(route))
    if known is None or known[0] is not route:
        known = _DECLARED[id(route)] = (route, _int_params(dependant, "path"), _int_params(dependant, "query"))
    _, path_ints, query_ints = known
    for name in path_ints:
        if _beyond_bigint(str(request.path_params.get(name, ""))):
            raise not_found()
    for name in query_ints:
        for value in request.query_params.getlist(name):
            if _beyond_bigint(value):
                raise ApiError(
                    422, "out_of_range", f"参数「{name}」超出范围。", name, {"max": BIGINT_MAX, "min": -BIGINT_MAX}
                )
