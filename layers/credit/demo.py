"""Demo credit events (order 60, after the registers and the standardized-site flow): 50,000 administrative
licences and penalties as the credit platform would deliver them, over the enterprise and person registers when they
are installed (else over the units of the demo's projects), loaded in one ``INSERT … SELECT generate_series``, then
every subject scored in one statement. Deterministic (no random state); a re-run replaces the previous demo events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo.modules import seeder
from layers.credit import score

EVENTS = 50_000

# (kind, code, name, district) of the subjects, from whichever registers exist.
SOURCES = {
    "enterprises": "SELECT 'enterprise' AS kind, uscc AS code, name, district FROM enterprises",
    "persons": "SELECT 'person' AS kind, id_number AS code, name, district FROM persons",
}
FALLBACK = """
SELECT DISTINCT ON (code) 'enterprise' AS kind, code, name, district FROM (
    SELECT construction_uscc AS code, construction_name AS name, district FROM projects
    UNION ALL SELECT supervision_uscc, supervision_name, district FROM projects
    UNION ALL SELECT builder_uscc, builder_name, district FROM projects
) u WHERE code IS NOT NULL AND name IS NOT NULL ORDER BY code, district
"""

# Subjects in a fixed shuffled order (enterprises first): 70 % of the events fall on up to 10,000 enterprises, the rest
# on up to 8,000 persons, so that a subject has several events as in life.
LOAD = """
WITH x AS (SELECT *, row_number() OVER (ORDER BY kind, md5(code), code) AS r FROM ({subjects}) x0),
subj AS (
    SELECT array_agg(kind ORDER BY r) AS kinds, array_agg(code ORDER BY r) AS codes,
           array_agg(name ORDER BY r) AS names, array_agg(district ORDER BY r) AS districts, count(*)::int AS n,
           count(*) FILTER (WHERE kind = 'enterprise')::int AS ne
    FROM x
),
g AS (
    SELECT i,
           CASE WHEN subj.ne > 0 AND (i % 10 < 7 OR subj.ne = subj.n)
                THEN 1 + ((i::bigint * 7919) % least(subj.ne, 10000))::int
                ELSE subj.ne + 1 + ((i::bigint * 7919) % least(subj.n - subj.ne, 8000))::int END AS s,
           (i * 31) % 100 < 35 AS penalty, (i * 13) % 1095 AS age, subj.*
    FROM generate_series(1, :events) AS i, subj WHERE subj.n > 0
)
INSERT INTO credit_events (subject_kind, subject_code, subject_name, event_type, polarity, points, reason,
                           source, source_module, natural_key, document_no, authority, district, occurred_on,
                           created_by)
SELECT kinds[s], codes[s], names[s],
       CASE WHEN penalty THEN 'penalty' ELSE 'licence' END,
       CASE WHEN penalty THEN 'bad' ELSE 'good' END,
       CASE WHEN penalty THEN 1 + (i % 10) ELSE 1 + (i % 3) END,
       CASE WHEN penalty THEN (ARRAY['未按规定设置扬尘防治设施', '施工现场安全防护不到位', '未按图施工',
                                      '建筑垃圾未按规定处置', '违规分包'])[1 + i % 5] || '，予以处罚'
            ELSE (ARRAY['建筑业企业资质许可', '施工许可', '安全生产许可', '注册执业许可'])[1 + i % 4] END,
       'credit_import', 'credit',
       CASE WHEN penalty THEN 'penalty:' ELSE 'licence:' END || '杭建演〔' || i || '〕号:' || codes[s],
       CASE WHEN penalty THEN '杭建罚' ELSE '杭建许' END || '〔演示〕' || i || '号',
       coalesce(districts[s], '杭州市') || '住房和城乡建设局', districts[s],
       CAST(:today AS date) - age, 'demo'
FROM g
"""


def _exists(conn: Connection, table: str) -> bool:
    return conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar_one()


@seeder(order=60)
def seed(conn: Connection, world: Any) -> dict:
    # The previous run's demo imports (events the modules' demo flows fed through the hooks stay).
    conn.execute(sa.text("DELETE FROM credit_events WHERE created_by = 'demo' AND source = 'credit_import'"))
    parts = [sql for table, sql in SOURCES.items() if _exists(conn, table) and score.has_column(conn, table, "name")]
    subjects = " UNION ALL ".join(parts) if parts else FALLBACK
    n = conn.execute(
        sa.text(LOAD.format(subjects=subjects)), {"events": world.count(EVENTS), "today": score.today()}
    ).rowcount
    conn.execute(sa.text("DELETE FROM credit_subjects s WHERE NOT EXISTS (SELECT 1 FROM credit_events e "
                         "WHERE e.subject_kind = s.subject_kind AND e.subject_code = s.subject_code)"))  # fmt: skip
    score.rescore(conn)
    subjects_n = conn.execute(sa.text("SELECT count(*) FROM credit_subjects")).scalar_one()
    return {"credit_events": n, "credit_subjects": subjects_n}
