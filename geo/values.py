"""Plain JSON values of what the database and numpy hand back: dates as ISO 8601 text, numpy scalars as Python's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np


def to_python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def to_json(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return to_python(value)
