"""Shared dependencies: the layer from the path (with its view permission), database connections."""
from __future__ import annotations

from typing import Iterator

from fastapi import Depends
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.errors import ApiError
from geo.db import get_engine
from layers.registry import Layer, registry


def get_layer(layer_id: str, who: Principal = Depends(principal)) -> Layer:
    layer = registry.get(layer_id)
    if layer is None:
        raise ApiError(404, "layer_not_found", f"图层「{layer_id}」不存在。", "layer",
                       {"layers": [lyr.id for lyr in registry.all()]})
    who.require_view(layer)
    return layer


def db_read() -> Iterator[Connection]:
    with get_engine().connect() as conn:
        yield conn


def db_write() -> Iterator[Connection]:
    """One transaction per request: committed when the endpoint returns, rolled back on any error."""
    with get_engine().begin() as conn:
        yield conn
