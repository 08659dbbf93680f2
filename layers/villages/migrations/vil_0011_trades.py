"""The craftsmen's trades become a configurable list (VT-04): ``vil_trades``.

- ``vil_trades``: the trades (工种) a craftsman may be registered with — a code, the Chinese name, the order
  (``seq``) and ``active``. Administrators add, rename, reorder or retire a trade (``farmhouse.trades``); a retired
  trade stays on the craftsmen who carry it but is no longer offered nor accepted for a new registration or import.
  Seeded with the former fixed list (泥瓦工、木工、钢筋工、砌筑工、架子工、水电工、油漆工、混凝土工、抹灰工、石工).
- ``vil_craftsmen.trades`` keeps the trades' names (what the clerks and the merged lists write); its CHECK against
  the fixed list is replaced by a trigger that refuses a name not in ``vil_trades`` (a rename rewrites the
  craftsmen's arrays in the same transaction, ``trades.py``). No district data: no row-level security (like
  ``vil_stages``).

Revision ID: vil_0011
"""

from alembic import op

revision = "vil_0011"
down_revision = "vil_0005"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"
TRADES = (
    ("mason", "泥瓦工"),
    ("carpenter", "木工"),
    ("rebar", "钢筋工"),
    ("bricklayer", "砌筑工"),
    ("scaffolder", "架子工"),
    ("plumber", "水电工"),
    ("painter", "油漆工"),
    ("concrete", "混凝土工"),
    ("plasterer", "抹灰工"),
    ("stonemason", "石工"),
)

KNOWN = """
CREATE OR REPLACE FUNCTION vil_craftsmen_trades_known() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    unknown text;
BEGIN
    SELECT t INTO unknown FROM unnest(NEW.trades) t WHERE NOT EXISTS (SELECT 1 FROM vil_trades x WHERE x.name = t)
     LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'trade % is not in vil_trades', unknown USING ERRCODE = 'check_violation',
            CONSTRAINT = 'vil_craftsmen_trades_known';
    END IF;
    RETURN NEW;
END
$fn$
"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE vil_trades (
            code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
            name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 10 AND name !~ '[、,，;；[:space:]]'),
            seq integer NOT NULL CHECK (seq > 0),
            active boolean NOT NULL DEFAULT true,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text,
            UNIQUE (seq) DEFERRABLE INITIALLY DEFERRED
        )
    """)
    rows = ", ".join(f"('{c}', '{n}', {i})" for i, (c, n) in enumerate(TRADES, start=1))
    op.execute(f"INSERT INTO vil_trades (code, name, seq) VALUES {rows}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON vil_trades TO {APP_ROLE}")
    op.execute("ALTER TABLE vil_craftsmen DROP CONSTRAINT vil_craftsmen_trades_check")
    op.execute(KNOWN)
    op.execute(
        "CREATE TRIGGER vil_craftsmen_trades_known BEFORE INSERT OR UPDATE OF trades ON vil_craftsmen "
        "FOR EACH ROW EXECUTE FUNCTION vil_craftsmen_trades_known()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER vil_craftsmen_trades_known ON vil_craftsmen")
    op.execute("DROP FUNCTION vil_craftsmen_trades_known()")
    names = ", ".join(f"'{n}'" for _, n in TRADES)
    op.execute(f"ALTER TABLE vil_craftsmen ADD CONSTRAINT vil_craftsmen_trades_check CHECK (trades <@ ARRAY[{names}])")
    op.execute("DROP TABLE vil_trades")
