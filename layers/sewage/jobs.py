"""Scheduled work of the sewage module: the readings' monthly partitions are created ahead."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from geo.modules import job
from layers.sewage.hj212 import BEIJING
from layers.sewage.settings import hj212_settings


@job(cron="17 2 * * *", title="创建在线监测数据的月分区", retry=2)
def ensure_partitions(conn: sa.Connection, now: datetime) -> dict:
    """This month's partition back to the oldest day readings are accepted for, and two months ahead."""
    days = hj212_settings().max_age_days
    start = (now.astimezone(BEIJING) - timedelta(days=days)).date()
    months = days // 28 + 4
    made = conn.execute(sa.text("SELECT sewage_ensure_partitions(:s, :n)"), {"s": start, "n": months}).scalars().all()
    return {"created": list(made)}
