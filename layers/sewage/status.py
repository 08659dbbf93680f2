"""Each facility's online status, for the one map: 离线 (no reading for ``offline_minutes``), 故障 (a latest reading
flagged D, fault, or F, stopped), 超标 (a latest value outside its discharge limit) or 正常. Recomputed every minute
by a job, written only where it changed (the layer's tiles follow the change).

The limits are the facility's applicable ones (``sewage_plant_limits``: the limits table of ``limits.csv`` with
its cited clauses, the facility's overrides on top; see ``limits.py``); where a standard gives a second value for
water at or below 12 ℃ (ammonia nitrogen, total nitrogen) it applies when the facility's latest water temperature
(``w01010``) is 12 ℃ or below. The alarms (``alarms.py``) judge the hourly averages against the same limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from geo.modules import job

OFFLINE_MINUTES = 15

STATUS_SQL = """
WITH latest AS (
    SELECT m.plant_id, c.code, r.value, r.flag, r.data_time
    FROM sewage_monitors m
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (code_id) code_id, value, flag, data_time FROM sewage_readings
        WHERE monitor_id = m.id AND data_time > :since AND cn IN (2011, 2051)
        ORDER BY code_id, data_time DESC
    ) r
    JOIN sewage_codes c ON c.id = r.code_id
    WHERE m.active
), cold AS (
    SELECT plant_id FROM latest WHERE code = 'w01010' AND value <= 12
), judged AS (
    SELECT p.id,
        CASE
            WHEN count(x.code) = 0 THEN '离线'
            WHEN bool_or(x.flag IN ('D', 'F')) THEN '故障'
            WHEN bool_or(
                x.value > CASE WHEN p.id IN (SELECT plant_id FROM cold) THEN coalesce(l.max_cold, l.max) ELSE l.max END
                OR x.value < l.min
            ) THEN '超标'
            ELSE '正常'
        END AS status
    FROM sewage_plants p
    LEFT JOIN latest x ON x.plant_id = p.id
    LEFT JOIN sewage_plant_limits l ON l.plant_id = p.id AND l.code = x.code
    WHERE p.deleted_at IS NULL
    GROUP BY p.id
)
UPDATE sewage_plants p SET online_status = j.status, status_at = :now
FROM judged j WHERE p.id = j.id AND p.online_status IS DISTINCT FROM j.status
RETURNING p.id, j.status
"""


def refresh(conn: sa.Connection, now: datetime, offline_minutes: int = OFFLINE_MINUTES) -> dict:
    changed = conn.execute(sa.text(STATUS_SQL), {"since": now - timedelta(minutes=offline_minutes), "now": now}).all()
    out: dict[str, int] = {}
    for _, status in changed:
        out[status] = out.get(status, 0) + 1
    return {"changed": out}


@job(cron="* * * * *", title="刷新污水处理设施在线状态")
def refresh_status(conn: sa.Connection, now: datetime) -> dict:
    """Every facility's online status from its latest readings."""
    return refresh(conn, now)
