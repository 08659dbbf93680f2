"""The greenway module's settings (``CHENGJIAN_GREENWAY_…``), read with ``geo.settings.module_settings``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from geo.bounds import Whole
from geo.settings import ModuleSettings, module_settings


class GreenwaySettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_GREENWAY_")

    # The annual construction plan of year Y is due on this month and day of year Y (default 31 March).
    plan_due_month: Whole(1, 12) = 3
    plan_due_day: Whole(1, 31) = 31
    # Monthly progress and fund reports are due on this day of the following month (days above 28 count as the 28th).
    monthly_due_day: Whole(1, 31) = 10


def gw_settings() -> GreenwaySettings:
    return module_settings(GreenwaySettings)
