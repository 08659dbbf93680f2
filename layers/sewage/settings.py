"""The sewage module's settings (``CHENGJIAN_HJ212_…``): the HJ 212 listener, its batching and what it accepts."""

from __future__ import annotations

from typing import Annotated

from pydantic_settings import SettingsConfigDict

from geo.bounds import Range, Whole
from geo.settings import ModuleSettings, Port, module_settings


class Hj212Settings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_HJ212_")

    # The TCP listener (`chengjian sewage listen`, started by `make run`).
    host: str = "0.0.0.0"
    port: Port = 9212
    # Readings are written by COPY in batches: when this many are waiting, or this many milliseconds after the first.
    flush_rows: Whole(1, 1_000_000) = 5_000
    flush_ms: Whole(1, 60_000) = 200
    # Readings older than this many days (or more than 10 minutes ahead of the clock) are refused.
    max_age_days: Whole(1, 365) = 31
    # How many refused packets and readings are kept (the oldest go first).
    rejects_kept: Whole(100, 10_000_000) = 10_000
    # Monitors the demo simulator runs beside the listener in `make run` (0: none; tests leave it at 0).
    demo_monitors: Annotated[int, Range(0, 10_000, whole=True)] = 0
    demo_interval_s: Annotated[float, Range(0.1, 3600)] = 10.0


def hj212_settings() -> Hj212Settings:
    return module_settings(Hj212Settings)
