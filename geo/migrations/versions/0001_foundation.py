"""Foundation: audit log and the first layers.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

from geo.migrations.layer_table import create_layer_table, create_search_index, drop_layer_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LAYERS = [
    "greenways",
    "sewage_plants",
    "farmhouses",
    "review_projects",
    "site_fences",
    "sites",
    "townships",
    "districts",
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("""
        CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            client text,
            action text NOT NULL,
            layer text,
            feature_id bigint,
            before jsonb,
            after jsonb
        )
    """)
    op.execute("CREATE INDEX audit_log_layer_idx ON audit_log (layer, feature_id, at)")
    op.execute("CREATE INDEX audit_log_at_idx ON audit_log (at)")

    create_layer_table(
        "districts",
        "MultiPolygon",
        """
        code text NOT NULL UNIQUE, name text NOT NULL, kind text
    """,
    )
    create_layer_table(
        "townships",
        "MultiPolygon",
        """
        code text NOT NULL, name text NOT NULL, district text
    """,
    )
    create_layer_table(
        "sites",
        "Point",
        """
        code text NOT NULL, name text NOT NULL, district text, address text, permit_no text,
        builder text, construction_unit text, supervision_unit text, project_type text,
        floor_area_m2 double precision, investment_wan double precision,
        start_date date, planned_end_date date, status text
    """,
    )
    create_layer_table(
        "site_fences",
        "MultiPolygon",
        """
        site_id bigint NOT NULL REFERENCES sites (id), name text, district text
    """,
        extra_generated="area_m2 double precision GENERATED ALWAYS AS (ST_Area(geom::geography)) STORED",
    )
    op.execute("CREATE INDEX site_fences_site_idx ON site_fences (site_id)")
    create_layer_table(
        "review_projects",
        "Point",
        """
        code text NOT NULL, name text NOT NULL, district text, builder text, designer text, agency text,
        review_category text, grade text, floor_area_m2 double precision, investment_wan double precision,
        submitted_at date, concluded_at date, status text
    """,
    )
    create_layer_table(
        "farmhouses",
        "Point",
        """
        code text NOT NULL, owner_name text, district text, township text, village text, address text,
        floors bigint, structure text, built_year bigint, floor_area_m2 double precision, status text,
        danger_grade text, governance text, difficult_family boolean
    """,
    )
    create_layer_table(
        "sewage_plants",
        "Point",
        """
        code text NOT NULL, name text NOT NULL, district text, kind text NOT NULL,
        capacity_t_d double precision, process text, discharge_standard text, operator text, status text,
        commissioned_on date
    """,
    )
    create_layer_table(
        "greenways",
        "LineString",
        """
        code text NOT NULL, name text NOT NULL, district text, level text, kind text, status text,
        plan_year bigint, fund_wan double precision
    """,
        extra_generated="length_m double precision GENERATED ALWAYS AS (ST_Length(geom::geography)) STORED",
    )

    # Business codes are unique among live records.
    for name in LAYERS:
        if name not in ("districts", "site_fences"):
            op.execute(f"CREATE UNIQUE INDEX {name}_code_live_idx ON {name} (code) WHERE deleted_at IS NULL")
        op.execute(f"CREATE INDEX {name}_district_idx ON {name} (district)" if name != "districts" else "SELECT 1")

    create_search_index("districts", ["code", "name"])
    create_search_index("townships", ["code", "name"])
    create_search_index(
        "sites", ["code", "name", "address", "permit_no", "builder", "construction_unit", "supervision_unit"]
    )
    create_search_index("site_fences", ["name"])
    create_search_index("review_projects", ["code", "name", "builder", "designer", "agency"])
    create_search_index("farmhouses", ["code", "owner_name", "township", "village", "address"])
    create_search_index("sewage_plants", ["code", "name", "operator"])
    create_search_index("greenways", ["code", "name"])


def downgrade() -> None:
    for name in LAYERS:
        drop_layer_table(name)
    op.execute("DROP TABLE IF EXISTS audit_log")
