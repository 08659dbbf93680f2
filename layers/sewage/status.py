"""Each facility's online status, for the one map: 离线 (no reading for ``offline_minutes``), 故障 (a latest reading
flagged D, fault, or F, stopped), 超标 (a latest value above its discharge limit) or 正常. Recomputed every minute
by a job, written only where it changed (the layer's tiles follow the change).

The limits are the maximum daily-average effluent concentrations of the facility's discharge standard, used here
for the status colour only (the alarms, with a limits table editable per facility, come later):
- 一级A / 一级B / 二级: GB 18918-2002 表1 (基本控制项目最高允许排放浓度, 日均值); ammonia nitrogen's value for
  water above 12 ℃.
- 准IV类: DB33/2169-2018 表1 (浙江省城镇污水处理厂主要水污染物排放标准, 现有城镇污水处理厂); ammonia nitrogen
  and total nitrogen above 12 ℃.
pH is outside 6–9 in every standard.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from geo.modules import job

# standard -> code -> highest value
LIMITS: dict[str, dict[str, float]] = {
    "一级A": {"w01018": 50, "w21003": 5, "w21001": 15, "w21011": 0.5},
    "一级B": {"w01018": 60, "w21003": 8, "w21001": 20, "w21011": 1},
    "二级": {"w01018": 100, "w21003": 25, "w21011": 3},
    "准IV类": {"w01018": 30, "w21003": 1.5, "w21001": 10, "w21011": 0.3},
}
OFFLINE_MINUTES = 15

STATUS_SQL = """
WITH limits AS (
    SELECT * FROM unnest(CAST(:std AS text[]), CAST(:code AS text[]), CAST(:lim AS float8[])) AS l(standard, code, lim)
), latest AS (
    SELECT m.plant_id, c.code, r.value, r.flag, r.data_time
    FROM sewage_monitors m
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (code_id) code_id, value, flag, data_time FROM sewage_readings
        WHERE monitor_id = m.id AND data_time > :since AND cn IN (2011, 2051)
        ORDER BY code_id, data_time DESC
    ) r
    JOIN sewage_codes c ON c.id = r.code_id
    WHERE m.active
), judged AS (
    SELECT p.id,
        CASE
            WHEN count(x.code) = 0 THEN '离线'
            WHEN bool_or(x.flag IN ('D', 'F')) THEN '故障'
            WHEN bool_or(x.value > l.lim OR (x.code = 'w01001' AND (x.value < 6 OR x.value > 9))) THEN '超标'
            ELSE '正常'
        END AS status
    FROM sewage_plants p
    LEFT JOIN latest x ON x.plant_id = p.id
    LEFT JOIN limits l ON l.standard = p.discharge_standard AND l.code = x.code
    WHERE p.deleted_at IS NULL
    GROUP BY p.id
)
UPDATE sewage_plants p SET online_status = j.status, status_at = :now
FROM judged j WHERE p.id = j.id AND p.online_status IS DISTINCT FROM j.status
RETURNING p.id, j.status
"""


def refresh(conn: sa.Connection, now: datetime, offline_minutes: int = OFFLINE_MINUTES) -> dict:
    from datetime import timedelta

    std, code, lim = [], [], []
    for s, codes in LIMITS.items():
        for c, v in codes.items():
            std.append(s), code.append(c), lim.append(float(v))
    changed = conn.execute(
        sa.text(STATUS_SQL),
        {"std": std, "code": code, "lim": lim, "since": now - timedelta(minutes=offline_minutes), "now": now},
    ).all()
    out: dict[str, int] = {}
    for _, status in changed:
        out[status] = out.get(status, 0) + 1
    return {"changed": out}


@job(cron="* * * * *", title="刷新污水处理设施在线状态")
def refresh_status(conn: sa.Connection, now: datetime) -> dict:
    """Every facility's online status from its latest readings."""
    return refresh(conn, now)
