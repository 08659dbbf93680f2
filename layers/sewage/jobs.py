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


REFRESH_MONTH = """
WITH d AS (DELETE FROM sewage_month_dirty RETURNING plant_id, code_id, month),
x AS (
    SELECT d.plant_id, d.code_id, d.month, extract(day FROM dl.bucket AT TIME ZONE 'Asia/Shanghai')::int AS day,
           sum(dl.n)::float8 AS n, sum(dl.total) AS total, min(dl.low) AS low, max(dl.high) AS high
    FROM d JOIN sewage_monitors m ON m.plant_id = d.plant_id
    JOIN sewage_daily dl ON dl.monitor_id = m.id AND dl.code_id = d.code_id
         AND dl.bucket >= (d.month::timestamp AT TIME ZONE 'Asia/Shanghai')
         AND dl.bucket < ((d.month + 1 * interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')
    GROUP BY 1, 2, 3, 4
)
INSERT INTO sewage_month AS t (plant_id, code_id, month, n, total, low, high)
SELECT plant_id, code_id, month, sewage_place(array_agg(day), array_agg(n)),
       sewage_place(array_agg(day), array_agg(total)), sewage_place(array_agg(day), array_agg(low)),
       sewage_place(array_agg(day), array_agg(high))
FROM x GROUP BY plant_id, code_id, month
ON CONFLICT (month, plant_id, code_id) DO UPDATE SET
    n = excluded.n, total = excluded.total, low = excluded.low, high = excluded.high
"""


def refresh_month(conn: sa.Connection) -> int:
    """Recompute the month rows the stored readings touched since the last run; returns how many."""
    return conn.execute(sa.text(REFRESH_MONTH)).rowcount


@job(cron="* * * * *", title="汇总在线监测数据的月度日值")
def refresh_month_values(conn: sa.Connection, now: datetime) -> dict:
    """The month rows of daily values, from the daily roll-ups the latest readings touched."""
    return {"rows": refresh_month(conn)}
