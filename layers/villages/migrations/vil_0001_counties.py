"""Smart villages and towns (智慧村镇, VT-01…14): the module's base — the districts and counties as the housing
business sees them.

- ``vil_counties``: one row per district or county of Hangzhou (13). ``has_system`` says whether it runs a farmhouse
  system of its own (it then pushes its records by API, VT-11, and its archives can be fetched on demand from
  ``archive_url``); the others (建德市、淳安县、桐庐县 in the demo) enter and edit their data in the city system
  (VT-09). ``archive_url`` and ``timeout_s`` are the county archive API's address and time limit (the contract is
  documented in ``layers/villages/NOTES.md``). Editable by administrators; readable by every account.

- ``vil_stages``: the configurable, ordered list of post-approval supervision stages of a farmhouse under
  construction (开工放样、基槽验线、主体结构、竣工验收 by default; administrators add, rename, reorder or retire
  stages: a retired stage keeps its history). ``due_days`` is the expected number of days after the previous stage
  (after the approval for the first), used to flag overdue inspections.
- ``farmhouses`` gains the columns that several parts of the module write: ``stage`` (the last post-approval stage
  passed, maintained by the inspections), ``approval_no`` / ``approved_on`` (the approval result), ``source`` (how the
  row came: demo, import, entry, county, province), ``county_record_id`` / ``county_version`` (a county system's own
  id and version of the record, VT-11), ``provincial_code`` (the Zhejiang rural-housing system's house code, VT-12)
  and ``realestate_unit_no`` (不动产单元号, 28 characters, VT-13).

The business tables of the module branch off this revision (``vil_0002``…), each owned by one part of the module.

Revision ID: vil_0001
"""

from alembic import op

revision = "vil_0001"
down_revision = None
branch_labels = ("villages",)
depends_on = ("0012_calendar",)

APP_ROLE = "chengjian_app"
WITHOUT_SYSTEM = ("建德市", "淳安县", "桐庐县")
COUNTIES = {
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330111": "富阳区",
    "330112": "临安区",
    "330113": "临平区",
    "330114": "钱塘区",
    "330122": "桐庐县",
    "330127": "淳安县",
    "330182": "建德市",
}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE vil_counties (
            district text PRIMARY KEY,
            code text NOT NULL UNIQUE CHECK (code ~ '^3301[0-9]{2}$'),
            has_system boolean NOT NULL,
            archive_url text CHECK (archive_url IS NULL OR archive_url ~ '^https?://'),
            timeout_s double precision NOT NULL DEFAULT 10 CHECK (timeout_s > 0 AND timeout_s <= 120),
            version integer NOT NULL DEFAULT 1,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text
        )
    """)
    rows = ", ".join(
        f"('{name}', '{code}', {'false' if name in WITHOUT_SYSTEM else 'true'})" for code, name in COUNTIES.items()
    )
    op.execute(f"INSERT INTO vil_counties (district, code, has_system) VALUES {rows}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON vil_counties TO {APP_ROLE}")
    op.execute("""
        CREATE TABLE vil_stages (
            code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
            name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 20),
            seq integer NOT NULL CHECK (seq > 0),
            due_days integer NOT NULL DEFAULT 30 CHECK (due_days BETWEEN 1 AND 720),
            active boolean NOT NULL DEFAULT true,
            version integer NOT NULL DEFAULT 1,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text,
            UNIQUE (seq) DEFERRABLE INITIALLY DEFERRED
        )
    """)
    op.execute("""
        INSERT INTO vil_stages (code, name, seq, due_days) VALUES
            ('layout', '开工放样', 1, 30), ('trench', '基槽验线', 2, 20),
            ('structure', '主体结构', 3, 90), ('completion', '竣工验收', 4, 60)
    """)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON vil_stages TO {APP_ROLE}")
    op.execute("""
        ALTER TABLE farmhouses
            ADD COLUMN stage text,
            ADD COLUMN approval_no text,
            ADD COLUMN approved_on date,
            ADD COLUMN source text NOT NULL DEFAULT 'demo'
                CHECK (source IN ('demo', 'import', 'entry', 'county', 'province')),
            ADD COLUMN county_record_id text,
            ADD COLUMN county_version bigint,
            ADD COLUMN provincial_code text,
            ADD COLUMN realestate_unit_no text CHECK (realestate_unit_no IS NULL OR length(realestate_unit_no) = 28)
    """)
    op.execute(
        "CREATE UNIQUE INDEX farmhouses_county_record_idx ON farmhouses (district, county_record_id) "
        "WHERE county_record_id IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX farmhouses_provincial_code_idx ON farmhouses (provincial_code) "
        "WHERE provincial_code IS NOT NULL"
    )
    op.execute("CREATE INDEX farmhouses_stage_idx ON farmhouses (district, stage) WHERE stage IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX farmhouses_stage_idx")
    op.execute("DROP INDEX farmhouses_provincial_code_idx")
    op.execute("DROP INDEX farmhouses_county_record_idx")
    for column in (
        "stage",
        "approval_no",
        "approved_on",
        "source",
        "county_record_id",
        "county_version",
        "provincial_code",
        "realestate_unit_no",
    ):
        op.execute(f"ALTER TABLE farmhouses DROP COLUMN {column}")
    op.execute("DROP TABLE vil_stages")
    op.execute("DROP TABLE vil_counties")
