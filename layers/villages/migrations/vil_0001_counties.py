"""Smart villages and towns (智慧村镇, VT-01…14): the module's base — the districts and counties as the housing
business sees them.

- ``vil_counties``: one row per district or county of Hangzhou (13). ``has_system`` says whether it runs a farmhouse
  system of its own (it then pushes its records by API, VT-11, and its archives can be fetched on demand from
  ``archive_url``); the others (建德市、淳安县、桐庐县 in the demo) enter and edit their data in the city system
  (VT-09). ``archive_url`` and ``timeout_s`` are the county archive API's address and time limit (the contract is
  documented in ``layers/villages/NOTES.md``). Editable by administrators; readable by every account.

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


def downgrade() -> None:
    op.execute("DROP TABLE vil_counties")
