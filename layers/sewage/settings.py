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


class SewageAlarmSettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_SEWAGE_ALARM_")

    # A facility that has sent readings in the last 7 days and none for this many minutes: 数据中断.
    no_data_minutes: Whole(5, 7 * 24 * 60) = 30
    # The same value this many readings in a row (one code, real-time or minute data): 数据恒值.
    stuck_readings: Whole(3, 1000) = 10
    # Every flow reading of this many minutes (at least two) zero: 零流量.
    zero_flow_minutes: Whole(5, 24 * 60) = 30
    # Readings refused as out of the physical range in this many minutes: 超出量程.
    range_minutes: Whole(5, 24 * 60) = 60
    # A district account gets at most one alarm SMS in this many minutes (the alarms opened meanwhile are summed up).
    sms_interval_minutes: Whole(1, 24 * 60) = 60


def alarm_settings() -> SewageAlarmSettings:
    return module_settings(SewageAlarmSettings)
