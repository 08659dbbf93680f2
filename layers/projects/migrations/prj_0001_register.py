"""The project register (项目库, DC-01) grows out of the standardized-site module's ``projects`` table (core migration
0006): the national investment project code (投资项目代码), every construction permit number, the dates of the life
cycle's stages and the current stage, the site point and boundary. The first revision of the projects module's branch.

- ``project_code`` is unique where given (projects registered before the register knew it have none); its shape and
  its division part (a Hangzhou county-level code, or 330100 for the city itself, or a code Hangzhou used before the
  2021 redistricting) are checked here too, so that no writer can store a malformed one; the year window is the
  application's (it moves with today).
- ``permit_nos`` holds every construction permit number of the project; ``permit_no`` (0006) stays its first one. A
  trigger keeps the two in step whoever writes the row (the standardized-site module writes ``permit_no`` only).
- ``stage`` is the furthest stage whose date is known: a generated column, so it is never out of step.
- ``geom`` and ``district`` default to the linked site's pin and district (a trigger, for rows written without them);
  ``boundary`` is the site's fence where there is one. Existing rows are backfilled from their site the same way, and
  ``st_supervised_on`` from their standardized-site registration.

Row-level security is 0006's (``district``, and the ``sites`` grant through ``site_id``) and stays as it is. The
register's permissions (``registers.view/edit/import/export``, declared by the enterprise register) are held by the
roles' patterns of 0005 (``*.view`` …): nothing to grant here.
"""

from alembic import op

from geo.migrations.layer_table import create_search_index

revision = "prj_0001"
down_revision = None
branch_labels = ("projects",)
depends_on = "st_0002"

APP_ROLE = "chengjian_app"

# Hangzhou's county-level divisions as of 2021 (geo/divisions.py), the city itself, and those it had before
# (下城区 330103 and 江干区 330104 until 2021; the application checks their years).
DIVISIONS = (
    "330100", "330102", "330103", "330104", "330105", "330106", "330108", "330109", "330110", "330111", "330112",
    "330113", "330114", "330122", "330127", "330182",
)  # fmt: skip

# The furthest stage reached, from the stage dates (0006 has permit_no without a date on some rows).
STAGE_SQL = """CASE
    WHEN completion_date IS NOT NULL THEN '竣工验收'
    WHEN st_supervised_on IS NOT NULL THEN '标化监管'
    WHEN start_date IS NOT NULL THEN '开工'
    WHEN permit_date IS NOT NULL OR permit_no IS NOT NULL THEN '施工许可'
    WHEN drawing_review_on IS NOT NULL THEN '施工图审查'
    WHEN planning_permit_on IS NOT NULL THEN '规划许可'
    WHEN approved_on IS NOT NULL THEN '立项'
    ELSE '前期'
END"""

SEARCH = ("project_code", "code", "name", "permit_no", "address", "builder_name", "construction_name")


def upgrade() -> None:
    divisions = ", ".join(f"'{d}'" for d in DIVISIONS)
    op.execute(f"""
        ALTER TABLE projects
            ADD COLUMN project_code text UNIQUE
                CONSTRAINT projects_code_shape CHECK (
                    project_code ~ '^[0-9]{{4}}-[0-9]{{6}}-[0-9]{{2}}-[0-9]{{2}}-[0-9]{{6}}$'
                    AND substr(project_code, 6, 6) IN ({divisions})),
            ADD COLUMN permit_nos text[] NOT NULL DEFAULT '{{}}',
            ADD COLUMN approved_on date,
            ADD COLUMN planning_permit_on date,
            ADD COLUMN drawing_review_on date,
            ADD COLUMN st_supervised_on date,
            ADD COLUMN geom geometry(Point, 4326),
            ADD COLUMN boundary geometry(MultiPolygon, 4326)
                CONSTRAINT projects_boundary_valid CHECK (ST_IsValid(boundary) AND NOT ST_IsEmpty(boundary))
    """)
    op.execute(f"ALTER TABLE projects ADD COLUMN stage text GENERATED ALWAYS AS ({STAGE_SQL}) STORED")
    op.execute("""
        CREATE FUNCTION projects_fill() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.permit_no IS NOT NULL AND NOT NEW.permit_no = ANY (NEW.permit_nos) THEN
                NEW.permit_nos := array_prepend(NEW.permit_no, NEW.permit_nos);
            ELSIF NEW.permit_no IS NULL AND cardinality(NEW.permit_nos) > 0 THEN
                NEW.permit_no := NEW.permit_nos[1];
            END IF;
            IF NEW.site_id IS NOT NULL AND (NEW.geom IS NULL OR NEW.district IS NULL) THEN
                SELECT coalesce(NEW.geom, s.geom), coalesce(NEW.district, s.district)
                INTO NEW.geom, NEW.district FROM sites s WHERE s.id = NEW.site_id;
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER projects_fill BEFORE INSERT OR UPDATE ON projects
        FOR EACH ROW EXECUTE FUNCTION projects_fill()
    """)
    # Backfill: the trigger fills permit numbers, pin and district; the fence and the registration date here.
    op.execute("UPDATE projects SET permit_nos = permit_nos")
    op.execute("""
        UPDATE projects p SET boundary = f.geom
        FROM (SELECT DISTINCT ON (site_id) site_id, geom FROM site_fences WHERE deleted_at IS NULL
              ORDER BY site_id, id) f
        WHERE f.site_id = p.site_id AND p.boundary IS NULL
    """)
    op.execute("""
        UPDATE projects p SET st_supervised_on = (r.created_at AT TIME ZONE 'Asia/Shanghai')::date
        FROM st_registrations r WHERE r.project_id = p.id AND p.st_supervised_on IS NULL
    """)
    op.execute("CREATE INDEX projects_geom_idx ON projects USING gist (geom)")
    op.execute("CREATE INDEX projects_boundary_idx ON projects USING gist (boundary)")
    op.execute("CREATE INDEX projects_permit_nos_idx ON projects USING gin (permit_nos)")
    op.execute("CREATE INDEX projects_district_stage_idx ON projects (district, stage)")
    create_search_index("projects", SEARCH)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS projects_search_idx")
    op.execute("DROP INDEX IF EXISTS projects_bigram_idx")
    op.execute("DROP TRIGGER IF EXISTS projects_fill ON projects")
    op.execute("DROP FUNCTION IF EXISTS projects_fill()")
    op.execute("""
        ALTER TABLE projects DROP COLUMN IF EXISTS stage, DROP COLUMN IF EXISTS project_code,
            DROP COLUMN IF EXISTS permit_nos, DROP COLUMN IF EXISTS approved_on,
            DROP COLUMN IF EXISTS planning_permit_on, DROP COLUMN IF EXISTS drawing_review_on,
            DROP COLUMN IF EXISTS st_supervised_on, DROP COLUMN IF EXISTS geom, DROP COLUMN IF EXISTS boundary
    """)
