"""Shared dependencies: the layer from the path (with its view permission), database connections that carry the
principal's data scope."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.errors import ApiError
from geo import scope as scopes
from geo.db import get_engine
from geo.layer.registry import Layer, registry


def get_layer(layer_id: str, who: Principal = Depends(principal)) -> Layer:
    layer = registry.get(layer_id)
    if layer is None:
        raise ApiError(
            404,
            "layer_not_found",
            f"图层「{layer_id}」不存在。",
            "layer",
            {"layers": [lyr.id for lyr in registry.all()]},
        )
    who.require_view(layer)
    return layer


def db_read(who: Principal = Depends(principal)) -> Iterator[Connection]:
    """A connection whose transaction states the principal's scope (never committed)."""
    with get_engine().connect() as conn:
        scopes.apply(conn, who.scope)
        yield conn


def db_write(who: Principal = Depends(principal)) -> Iterator[Connection]:
    """One transaction per request, scoped to the principal: committed when the endpoint returns, rolled back on
    any error. Declare it ``Depends(db_write, scope="function")`` (and ``db_read`` alike): the commit then happens
    before the response is sent, so a client that reads right after a 2xx sees its write, and a failing commit is
    answered as an error instead of after a success (tests/test_features.py checks every route)."""
    with get_engine().begin() as conn:
        scopes.apply(conn, who.scope)
        yield conn
