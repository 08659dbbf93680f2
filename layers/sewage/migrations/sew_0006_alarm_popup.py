"""Each facility's open alarms on the one map: ``sewage_plants.open_alarms`` (how many alarms are not closed) and
``sewage_plants.alarm_kind`` (the kind of the most serious of them, ``无`` when none), read-only layer attributes
shown in the facility's popup. Kept by ``layers/sewage/alarms.py`` (``recount``) wherever an alarm opens or closes
(the alarm job, a hand close); the layer's change trigger then renews its tiles. Filled here from the alarms
already stored.

Merges the branch's two heads (``sew_0004`` alarms, ``sew_0005`` reports).
"""

from alembic import op

revision = "sew_0006"
down_revision = ("sew_0004", "sew_0005")
branch_labels = None
depends_on = None

# The most serious first: the same order as ``layers.sewage.alarms.SEVERITY``.
SEVERITY = ("超标", "数据中断", "零流量", "超出量程", "数据恒值")


def upgrade() -> None:
    kinds = ", ".join(f"'{k}'" for k in ("无", *SEVERITY))
    order = "ARRAY[" + ", ".join(f"'{k}'" for k in SEVERITY) + "]::text[]"
    op.execute(f"""
        ALTER TABLE sewage_plants
            ADD COLUMN open_alarms bigint NOT NULL DEFAULT 0 CHECK (open_alarms >= 0),
            ADD COLUMN alarm_kind text NOT NULL DEFAULT '无' CHECK (alarm_kind IN ({kinds}))
    """)
    op.execute(f"""
        UPDATE sewage_plants p SET open_alarms = x.n, alarm_kind = x.worst
        FROM (
            SELECT plant_id, count(*) AS n, (array_agg(kind ORDER BY array_position({order}, kind)))[1] AS worst
            FROM sewage_alarms WHERE active GROUP BY plant_id
        ) x
        WHERE p.id = x.plant_id
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE sewage_plants DROP COLUMN IF EXISTS alarm_kind, DROP COLUMN IF EXISTS open_alarms")
