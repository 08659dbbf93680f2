"""Discharge limits and alarms of the sewage facilities (VT-15).

- ``sewage_limit_sets`` / ``sewage_limits``: the limits table shipped in the repo (``layers/sewage/limits.csv``,
  loaded here): per set (GB 18918-2002 一级A / 一级B / 二级, DB33/2169-2018 表1 现有 / 表2 新建, DB33/973-2021
  一级 / 二级) and code the highest value (above 12 ℃ water where the standard distinguishes), the value for water
  at or below 12 ℃, the lowest value (pH), the clause cited, and whether the value was verified against a text
  (``verified`` / ``unverified``) with where. A set may fall back to another for the codes it does not name
  (DB33/2169-2018 names four pollutants; the others are GB 18918-2002 一级A's).
- ``sewage_limit_overrides``: a facility's own value for one code, set by an administrator (``sewage.limits``)
  with a reason; every change is in the operation log (before/after).
- ``sewage_plant_limits``: a ``security_invoker`` view (the caller's row-level security applies) of every
  facility's applicable limits: its set (``sewage_limit_set(kind, discharge_standard, commissioned_on)``), then
  the fallback set, then the overrides on top.
- ``sewage_alarms`` / ``sewage_alarm_events``: an alarm (超标, 数据中断, 数据恒值, 超出量程, 零流量) per
  facility, kind and code, opened by the job ``sewage.evaluate_alarms``, acknowledged with a note, closed by the
  job when the condition clears or by hand with a note; one open alarm per (facility, kind, code) at a time (a
  partial unique index). Its events are its history. Both carry the facility's district (row-level security).
"""

import csv
from pathlib import Path

from alembic import op

from geo.migrations.layer_table import install_scope_policy

revision = "sew_0004"
down_revision = "sew_0003"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"
LIMITS_CSV = Path(__file__).resolve().parent.parent / "limits.csv"

# id, title, document, fallback set
SETS = (
    ("GB18918-1A", "一级A", "GB 18918-2002 城镇污水处理厂污染物排放标准", None),
    ("GB18918-1B", "一级B", "GB 18918-2002 城镇污水处理厂污染物排放标准", None),
    ("GB18918-2", "二级", "GB 18918-2002 城镇污水处理厂污染物排放标准", None),
    ("DB33/2169-T1", "准IV类（现有）", "DB33/2169-2018 城镇污水处理厂主要水污染物排放标准", "GB18918-1A"),
    ("DB33/2169-T2", "准IV类（新建）", "DB33/2169-2018 城镇污水处理厂主要水污染物排放标准", "GB18918-1A"),
    ("DB33/973-1", "农村一级", "DB33/973-2021 农村生活污水集中处理设施水污染物排放标准", None),
    ("DB33/973-2", "农村二级", "DB33/973-2021 农村生活污水集中处理设施水污染物排放标准", None),
)

PERMISSIONS = {"city_supervisor": ["sewage.alarm"], "district_staff": ["sewage.alarm"]}


def _q(v: str | None) -> str:
    return "NULL" if v in (None, "") else "'" + v.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE sewage_limit_sets (
            id text PRIMARY KEY,
            title text NOT NULL,
            document text NOT NULL,
            fallback text REFERENCES sewage_limit_sets (id)
        )
    """)
    for sid, title, doc, fallback in SETS:
        op.execute(
            f"INSERT INTO sewage_limit_sets (id, title, document, fallback) "
            f"VALUES ({_q(sid)}, {_q(title)}, {_q(doc)}, {_q(fallback)})"
        )
    op.execute("""
        CREATE TABLE sewage_limits (
            set_id text NOT NULL REFERENCES sewage_limit_sets (id),
            code text NOT NULL REFERENCES sewage_codes (code),
            max double precision NOT NULL,
            max_cold double precision,
            min double precision,
            clause text NOT NULL,
            verified boolean NOT NULL,
            source text,
            PRIMARY KEY (set_id, code),
            CHECK (NOT verified OR source IS NOT NULL)
        )
    """)
    with LIMITS_CSV.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            op.execute(
                "INSERT INTO sewage_limits (set_id, code, max, max_cold, min, clause, verified, source) VALUES "
                f"({_q(r['set'])}, {_q(r['code'])}, {float(r['max'])}, {r['max_cold'] or 'NULL'}, "
                f"{r['min'] or 'NULL'}, {_q(r['clause'])}, {r['verified'] == 'verified'}, {_q(r['source'])})"
            )
    op.execute("""
        CREATE FUNCTION sewage_limit_set(kind text, standard text, commissioned date) RETURNS text
        LANGUAGE sql IMMUTABLE AS $fn$
            SELECT CASE
                WHEN kind = '农村污水处理终端' THEN CASE WHEN standard = '二级' THEN 'DB33/973-2' ELSE 'DB33/973-1' END
                WHEN standard = '一级A' THEN 'GB18918-1A'
                WHEN standard = '一级B' THEN 'GB18918-1B'
                WHEN standard = '二级' THEN 'GB18918-2'
                WHEN standard = '准IV类' THEN
                    CASE WHEN commissioned >= DATE '2019-01-01' THEN 'DB33/2169-T2' ELSE 'DB33/2169-T1' END
            END
        $fn$
    """)
    op.execute("""
        CREATE TABLE sewage_limit_overrides (
            plant_id bigint NOT NULL REFERENCES sewage_plants (id) ON DELETE CASCADE,
            code text NOT NULL REFERENCES sewage_codes (code),
            district text,
            max double precision NOT NULL,
            max_cold double precision,
            min double precision,
            reason text NOT NULL,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (plant_id, code),
            CHECK (min IS NULL OR min < max)
        )
    """)
    op.execute("""
        CREATE VIEW sewage_plant_limits WITH (security_invoker = true) AS
        WITH base AS (
            SELECT p.id AS plant_id, p.district, s.id AS set_id, s.fallback
            FROM sewage_plants p
            JOIN sewage_limit_sets s ON s.id = sewage_limit_set(p.kind, p.discharge_standard, p.commissioned_on)
            WHERE p.deleted_at IS NULL
        ), std AS (
            SELECT DISTINCT ON (b.plant_id, l.code) b.plant_id, b.district, b.set_id AS plant_set, l.set_id,
                   l.code, l.max, l.max_cold, l.min, l.clause, l.verified, l.source
            FROM base b JOIN sewage_limits l ON l.set_id IN (b.set_id, b.fallback)
            ORDER BY b.plant_id, l.code, (l.set_id = b.set_id) DESC
        )
        SELECT coalesce(s.plant_id, o.plant_id) AS plant_id, coalesce(s.code, o.code) AS code,
               coalesce(o.max, s.max) AS max, CASE WHEN o.plant_id IS NULL THEN s.max_cold ELSE o.max_cold END AS max_cold,
               CASE WHEN o.plant_id IS NULL THEN s.min ELSE o.min END AS min,
               s.plant_set, s.set_id, s.clause, s.verified, s.source,
               o.plant_id IS NOT NULL AS overridden, o.reason AS override_reason,
               s.max AS standard_max, s.max_cold AS standard_max_cold, s.min AS standard_min
        FROM std s FULL JOIN sewage_limit_overrides o ON o.plant_id = s.plant_id AND o.code = s.code
    """)
    op.execute("""
        CREATE TABLE sewage_alarms (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            plant_id bigint NOT NULL REFERENCES sewage_plants (id) ON DELETE CASCADE,
            district text,
            kind text NOT NULL CHECK (kind IN ('超标', '数据中断', '数据恒值', '超出量程', '零流量')),
            code text NOT NULL DEFAULT '',
            state text NOT NULL DEFAULT '待处理' CHECK (state IN ('待处理', '已确认', '已关闭')),
            active boolean GENERATED ALWAYS AS (state <> '已关闭') STORED,
            message text NOT NULL,
            value double precision,
            limit_value double precision,
            opened_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            notified_at timestamptz,
            sms_count integer,
            acked_at timestamptz,
            acked_by text,
            ack_note text,
            closed_at timestamptz,
            closed_by text,
            close_note text
        )
    """)
    op.execute("CREATE UNIQUE INDEX sewage_alarms_open_key ON sewage_alarms (plant_id, kind, code) WHERE active")
    op.execute("CREATE INDEX sewage_alarms_plant_idx ON sewage_alarms (plant_id, opened_at DESC)")
    op.execute("CREATE INDEX sewage_alarms_district_idx ON sewage_alarms (district, state)")
    op.execute("""
        CREATE TABLE sewage_alarm_events (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            alarm_id bigint NOT NULL REFERENCES sewage_alarms (id) ON DELETE CASCADE,
            district text,
            at timestamptz NOT NULL,
            action text NOT NULL CHECK (action IN ('opened', 'acknowledged', 'closed', 'notified')),
            actor text NOT NULL,
            note text
        )
    """)
    op.execute("CREATE INDEX sewage_alarm_events_alarm_idx ON sewage_alarm_events (alarm_id, id)")
    for table in ("sewage_alarms", "sewage_alarm_events", "sewage_limit_overrides"):
        install_scope_policy(table, "district")
    op.execute(f"GRANT SELECT ON sewage_limit_sets, sewage_limits, sewage_plant_limits TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON sewage_limit_overrides TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON sewage_alarms TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON sewage_alarm_events TO {APP_ROLE}")
    for table in ("sewage_alarms", "sewage_alarm_events"):
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {APP_ROLE}")
    for role, perms in PERMISSIONS.items():
        for perm in perms:
            op.execute(
                f"INSERT INTO role_permissions (role, permission) VALUES ('{role}', '{perm}') ON CONFLICT DO NOTHING"
            )


def downgrade() -> None:
    for role, perms in PERMISSIONS.items():
        for perm in perms:
            op.execute(f"DELETE FROM role_permissions WHERE role = '{role}' AND permission = '{perm}'")
    op.execute("DROP TABLE IF EXISTS sewage_alarm_events, sewage_alarms")
    op.execute("DROP VIEW IF EXISTS sewage_plant_limits")
    op.execute("DROP TABLE IF EXISTS sewage_limit_overrides")
    op.execute("DROP FUNCTION IF EXISTS sewage_limit_set(text, text, date)")
    op.execute("DROP TABLE IF EXISTS sewage_limits, sewage_limit_sets")
