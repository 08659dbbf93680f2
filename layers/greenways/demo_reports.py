"""Demo data of the greenway reports: the districts' plans, monthly progress and fund reports of the demo's year and
the year before, consistent with the demo's segments (``demo.py``), written set-based (one statement per kind).

- plans: every segment whose ``plan_year`` is the year, its length (rounded down to 0.1 m), grade, fund and dates;
- progress: the segments built that year (已建成) are completed in equal parts from March to November, those under
  construction (在建) 60 % of the way, the planned ones (规划) not at all; each monthly report lists every segment of
  the plan (0 in a month without work), so the year's total never exceeds the planned length;
- funds: each month, half of the plan's budget over twelve months from the city and half from the district, 80–90 %
  of it spent;
- states, as of the demo's reference date: last year all accepted; this year accepted up to two months back, the
  last month's reports waiting in the city's inbox (one district's progress returned with a reason, two districts
  not yet reported); about one report in seven submitted after its due date (late).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from etl.demo import REF_DATE
from layers.greenways.reports import due_on
from layers.greenways.settings import gw_settings

# Strings: the reports are built from the segments in set-based SQL (jsonb_agg over generate_series), which Core
# would only obscure.
PLANS = sa.text("""
    INSERT INTO gw_reports (kind, district, year, month, items, due_on, created_by, updated_by)
    SELECT 'plan', g.district, g.year, NULL,
           jsonb_agg(jsonb_build_object(
               'segment_id', g.id, 'planned_length_m', floor(g.length_m * 10) / 10,
               'grade', coalesce(g.level, '区县级'), 'budget_wan', coalesce(g.fund_wan, 0),
               'start_on', make_date(g.year, 3, 1),
               'end_on', CASE WHEN g.status = '规划' THEN make_date(g.year + 1, 6, 30)
                              ELSE make_date(g.year, 11, 30) END) ORDER BY g.id),
           CASE WHEN g.year = :y0 THEN CAST(:due0 AS date) ELSE CAST(:due1 AS date) END,
           'demo', 'demo'
      FROM (SELECT *, plan_year::int AS year FROM greenways) g
     WHERE g.deleted_at IS NULL AND g.year IN (:y0, :y1)
     GROUP BY g.district, g.year
    ON CONFLICT DO NOTHING
""")
PROGRESS = sa.text("""
    INSERT INTO gw_reports (kind, district, year, month, items, due_on, created_by, updated_by)
    SELECT 'progress', p.district, p.year, m.month,
           jsonb_agg(jsonb_build_object(
               'segment_id', (x->>'segment_id')::bigint,
               'completed_m', CASE WHEN m.month BETWEEN 3 AND 11 AND g.status = '已建成'
                                   THEN floor((x->>'planned_length_m')::float8 / 9 * 10) / 10
                                   WHEN m.month BETWEEN 3 AND 11 AND g.status = '在建'
                                   THEN floor((x->>'planned_length_m')::float8 * 0.6 / 9 * 10) / 10
                                   ELSE 0 END) ORDER BY (x->>'segment_id')::bigint),
           (make_date(p.year, m.month, 1) + interval '1 month')::date + (least(:mday, 28) - 1),
           'demo', 'demo'
      FROM gw_reports p
      JOIN LATERAL generate_series(1, CASE WHEN p.year = :y1 THEN :months1 ELSE 12 END) AS m(month) ON true
      CROSS JOIN LATERAL jsonb_array_elements(p.items) x
      JOIN greenways g ON g.id = (x->>'segment_id')::bigint
     WHERE p.kind = 'plan' AND p.id >= :first
     GROUP BY p.district, p.year, m.month
    ON CONFLICT DO NOTHING
""")
FUNDS = sa.text("""
    INSERT INTO gw_reports (kind, district, year, month, items, due_on, created_by, updated_by)
    SELECT 'funds', p.district, p.year, m.month,
           jsonb_build_array(
               jsonb_build_object('source', '市级资金', 'allocated_wan', round((b.total / 24)::numeric, 2),
                                  'spent_wan', round((b.total / 24 * 0.9)::numeric, 2)),
               jsonb_build_object('source', '区县资金', 'allocated_wan', round((b.total / 24)::numeric, 2),
                                  'spent_wan', round((b.total / 24 * 0.8)::numeric, 2))),
           (make_date(p.year, m.month, 1) + interval '1 month')::date + (least(:mday, 28) - 1),
           'demo', 'demo'
      FROM gw_reports p
      CROSS JOIN LATERAL (SELECT sum((x->>'budget_wan')::float8) AS total FROM jsonb_array_elements(p.items) x) b
      JOIN LATERAL generate_series(1, CASE WHEN p.year = :y1 THEN :months1 ELSE 12 END) AS m(month) ON true
     WHERE p.kind = 'plan' AND p.id >= :first
    ON CONFLICT DO NOTHING
""")
# Submitted (late for about one in seven, by a stable hash) and accepted by the city; then this year's last month:
# waiting, one returned, two districts not reported.
STATES = sa.text("""
    UPDATE gw_reports r
       SET late = s.late,
           submitted_at = (r.due_on + CASE WHEN s.late THEN 3 ELSE -2 END) + time '10:00' - interval '8 hours',
           submitted_by = 'demo', status = 'accepted',
           reviewed_at = (r.due_on + CASE WHEN s.late THEN 5 ELSE 1 END) + time '15:00' - interval '8 hours',
           reviewed_by = 'demo'
      FROM (SELECT id, abs(hashtext(district || kind || year || coalesce(month, 0))) % 7 = 0 AS late
              FROM gw_reports WHERE id >= :first) s
     WHERE r.id = s.id
""")
LAST_MONTH = sa.text("""
    UPDATE gw_reports
       SET status = CASE WHEN district = :returned AND kind = 'progress' THEN 'returned' ELSE 'submitted' END,
           reviewed_at = CASE WHEN district = :returned AND kind = 'progress' THEN reviewed_at END,
           reviewed_by = CASE WHEN district = :returned AND kind = 'progress' THEN reviewed_by END,
           return_reason = CASE WHEN district = :returned AND kind = 'progress'
                                THEN '现场照片不足，请补充各段施工照片后重新提交。' END
     WHERE id >= :first AND year = :y1 AND month = :months1
""")
MISSING = sa.text(
    "DELETE FROM gw_reports WHERE id >= :first AND year = :y1 AND month = :months1 AND district = ANY(:gone)"
)
HISTORY = sa.text("""
    INSERT INTO case_history (case_kind, case_id, district, action, from_state, to_state, reason, actor, at)
    SELECT 'gw_report', id, district, 'create', NULL, 'draft', NULL, 'demo', submitted_at - interval '2 days'
      FROM gw_reports WHERE id >= :first
    UNION ALL
    SELECT 'gw_report', id, district, 'submit', 'draft', 'submitted', NULL, 'demo', submitted_at
      FROM gw_reports WHERE id >= :first
    UNION ALL
    SELECT 'gw_report', id, district, CASE status WHEN 'returned' THEN 'return' ELSE 'accept' END, 'submitted',
           status, return_reason, 'demo', reviewed_at
      FROM gw_reports WHERE id >= :first AND status IN ('accepted', 'returned')
""")


def build_reports(conn, ref: date | None = None) -> dict:
    """The reports, as of ``ref`` (default: the demo's reference date); called by the segments' seeder."""
    ref = ref or date.fromisoformat(str(REF_DATE))
    s = gw_settings()
    # A demo reset empties the layers (the segments), not the reports: the demo's own reports of an earlier load go
    # first (their lines name the segments of that load); nobody else's are touched.
    conn.execute(sa.text("DELETE FROM gw_reports WHERE created_by = 'demo'"))
    y1 = ref.year
    months1 = max((m for m in range(1, 13) if due_on("progress", y1, m) < ref), default=0)  # months already due
    first = int(conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM gw_reports")).scalar_one())
    args = {"y0": y1 - 1, "y1": y1, "months1": months1, "first": first, "mday": s.monthly_due_day,
            "due0": due_on("plan", y1 - 1, None), "due1": due_on("plan", y1, None)}  # fmt: skip
    conn.execute(PLANS, args)
    conn.execute(PROGRESS, args)
    conn.execute(FUNDS, args)
    conn.execute(STATES, args)
    districts = (
        conn.execute(
            sa.text("SELECT DISTINCT district FROM gw_reports WHERE id >= :first AND year = :y1 ORDER BY 1"), args
        )
        .scalars()
        .all()
    )
    returned, gone = (districts[0], districts[-2:]) if len(districts) >= 3 else (None, [])
    conn.execute(LAST_MONTH, {**args, "returned": returned})
    conn.execute(MISSING, {**args, "gone": list(gone)})
    conn.execute(HISTORY, args)
    n = conn.execute(sa.text("SELECT count(*) FROM gw_reports WHERE id >= :first"), args).scalar_one()
    return {"greenway_reports": n}
