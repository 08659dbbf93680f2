"""The standardized-site module's settings (``CHENGJIAN_ST_…``), read with ``geo.settings.module_settings``."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from geo.bounds import Amount, Whole
from geo.settings import ModuleSettings, module_settings


class StandardSitesSettings(ModuleSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_ST_")

    # A site photo taken outside the site's electronic fence: refused (with the distance) or accepted and flagged.
    # Any other value stops the app at start-up (it used to mean "refuse" silently).
    outside_fence: Literal["refuse", "flag"] = "refuse"
    # Monthly reports submitted after this day of the following month are late (days above 28 count as the 28th).
    report_due_day: Whole(1, 31) = 10
    # An expert's review whose total is below this needs comments.
    comments_below: Amount(100) = 60.0


def st_settings() -> StandardSitesSettings:
    return module_settings(StandardSitesSettings)
