"""The expert pool becomes a view of the personnel register (DC-03): an expert is a person of ``persons``.

``experts`` (migration 0006) is renamed ``st_experts`` and keeps the expert-role fields (group, specialties,
employer, title, availability, account, soft delete) with ``person_id`` (one pool entry per person); the personal
fields — name, ID number, phone — move to ``persons`` (matched on the ID number: the same number twice is one
person). ``experts`` is now a view with the old columns (and ``person_id``), so every read of the pool, the draw
and the reviews reads as before; writing it (INSERT, UPDATE, DELETE: ``INSTEAD OF`` triggers) writes both tables:
the person is created or updated by ID number, marked 专家 with the kind 标化工地评审 and given the pool entry's
group and specialties, then the pool entry. Changing an entry's ID number points it to the person of the new number
(created when new); the old person stays in the register.

The view and its triggers read and write the register as their owner: the pool is guarded by ``site.experts`` as
it was (the persons' district scope does not hide experts from the commission's expert managers), like the table
it replaces, which had no row-level security. ``st_expert_reviews`` (a ``security_invoker`` view: the caller's
row-level security applies) lists each person's reviews with the site's project, for the person's record.
"""

from alembic import op

revision = "st_0003"
down_revision = "st_0002"
branch_labels = None
depends_on = "per_0001"

APP_ROLE = "chengjian_app"

ROLE_COLUMNS = (
    "group_name",
    "specialties",
    "enterprise_name",
    "enterprise_uscc",
    "title",
    "available",
    "unavailable_reason",
    "user_id",
    "deleted_at",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)

WRITE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION st_experts_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    pid bigint;
    actor text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM st_experts WHERE id = OLD.id;
        RETURN OLD;
    END IF;
    actor := coalesce(NEW.updated_by, NEW.created_by, 'system');
    IF TG_OP = 'INSERT' OR (NEW.id_number, NEW.name, NEW.phone, NEW.group_name, NEW.specialties)
            IS DISTINCT FROM (OLD.id_number, OLD.name, OLD.phone, OLD.group_name, OLD.specialties) THEN
        INSERT INTO persons AS p (id_number, name, phone, categories, expert_kinds, specialties, expert_groups,
                                  created_by, updated_by)
        VALUES (upper(NEW.id_number), NEW.name, NEW.phone, '{{expert}}', '{{st_review}}',
                coalesce(NEW.specialties, '{{}}'), array_remove(ARRAY[NEW.group_name], NULL), actor, actor)
        ON CONFLICT (id_number) DO UPDATE SET
            name = EXCLUDED.name,
            phone = EXCLUDED.phone,
            categories = ARRAY(SELECT DISTINCT c FROM unnest(p.categories || EXCLUDED.categories) c ORDER BY c),
            expert_kinds = ARRAY(SELECT DISTINCT c FROM unnest(p.expert_kinds || EXCLUDED.expert_kinds) c ORDER BY c),
            specialties = ARRAY(SELECT DISTINCT c FROM unnest(p.specialties || EXCLUDED.specialties) c ORDER BY c),
            expert_groups = ARRAY(SELECT DISTINCT c FROM unnest(p.expert_groups || EXCLUDED.expert_groups) c
                                  ORDER BY c),
            deleted_at = NULL,
            deleted_by = NULL,
            version = p.version + 1,
            updated_at = now(),
            updated_by = EXCLUDED.updated_by
        WHERE (p.name, p.phone, p.deleted_at) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.phone, NULL)
           OR NOT (p.categories @> EXCLUDED.categories AND p.expert_kinds @> EXCLUDED.expert_kinds
                   AND p.specialties @> EXCLUDED.specialties AND p.expert_groups @> EXCLUDED.expert_groups)
        RETURNING p.id INTO pid;
        IF pid IS NULL THEN
            SELECT id INTO pid FROM persons WHERE id_number = upper(NEW.id_number);
        END IF;
    ELSE
        pid := OLD.person_id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO st_experts (id, person_id, {", ".join(ROLE_COLUMNS)})
        VALUES (NEW.id, pid, {", ".join("NEW." + c for c in ROLE_COLUMNS)});
    ELSE
        UPDATE st_experts SET id = NEW.id, person_id = pid, {", ".join(f"{c} = NEW.{c}" for c in ROLE_COLUMNS)}
        WHERE id = OLD.id;
    END IF;
    NEW.person_id := pid;
    NEW.id_number := upper(NEW.id_number);
    RETURN NEW;
END
$fn$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE experts RENAME TO st_experts")
    op.execute("ALTER TABLE st_experts RENAME CONSTRAINT experts_pkey TO st_experts_pkey")
    op.execute("ALTER TABLE st_experts ADD COLUMN person_id bigint REFERENCES persons (id)")
    # The pool's people into the register (an ID number already there: the same person).
    op.execute("""
        INSERT INTO persons AS p (id_number, name, phone, categories, expert_kinds, specialties, expert_groups,
                                  created_at, created_by, updated_by)
        SELECT upper(id_number), name, phone, '{expert}', '{st_review}', specialties, ARRAY[group_name], created_at,
               coalesce(created_by, 'migration'), 'migration'
        FROM st_experts
        ON CONFLICT (id_number) DO UPDATE SET
            categories = ARRAY(SELECT DISTINCT c FROM unnest(p.categories || EXCLUDED.categories) c ORDER BY c),
            expert_kinds = ARRAY(SELECT DISTINCT c FROM unnest(p.expert_kinds || EXCLUDED.expert_kinds) c ORDER BY c)
    """)
    op.execute("UPDATE st_experts x SET person_id = p.id FROM persons p WHERE p.id_number = upper(x.id_number)")
    op.execute("""
        ALTER TABLE st_experts
            ALTER COLUMN person_id SET NOT NULL,
            ADD CONSTRAINT st_experts_person_key UNIQUE (person_id),
            DROP COLUMN name,
            DROP COLUMN id_number,
            DROP COLUMN phone
    """)
    op.execute(f"""
        CREATE VIEW experts AS
        SELECT x.id, p.name, p.id_number, p.phone, {", ".join("x." + c for c in ROLE_COLUMNS)}, x.person_id
        FROM st_experts x JOIN persons p ON p.id = x.person_id
    """)
    # What an INSERT into the view leaves out gets the table's defaults.
    op.execute("""
        ALTER VIEW experts ALTER COLUMN id SET DEFAULT nextval(pg_get_serial_sequence('st_experts', 'id'));
        ALTER VIEW experts ALTER COLUMN specialties SET DEFAULT '{}';
        ALTER VIEW experts ALTER COLUMN available SET DEFAULT true;
        ALTER VIEW experts ALTER COLUMN version SET DEFAULT 1;
        ALTER VIEW experts ALTER COLUMN created_at SET DEFAULT now();
        ALTER VIEW experts ALTER COLUMN updated_at SET DEFAULT now()
    """)
    op.execute(WRITE_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION st_experts_write() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER experts_write INSTEAD OF INSERT OR UPDATE OR DELETE ON experts "
        "FOR EACH ROW EXECUTE FUNCTION st_experts_write()"
    )
    op.execute("""
        CREATE VIEW st_expert_reviews WITH (security_invoker = true) AS
        SELECT a.id, x.person_id, a.expert_id, a.evaluation_id, a.site_id, pr.code AS project_code,
               pr.name AS project_name, a.window_from, a.window_to, a.status, a.district
        FROM st_assignments a
        JOIN st_experts x ON x.id = a.expert_id
        LEFT JOIN LATERAL (SELECT code, name FROM projects WHERE site_id = a.site_id ORDER BY id LIMIT 1) pr ON true
    """)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON st_experts, experts TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON st_expert_reviews TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS st_expert_reviews")
    op.execute("DROP VIEW IF EXISTS experts")
    op.execute("DROP FUNCTION IF EXISTS st_experts_write()")
    op.execute("""
        ALTER TABLE st_experts
            ADD COLUMN name text,
            ADD COLUMN id_number text,
            ADD COLUMN phone text,
            DROP CONSTRAINT IF EXISTS st_experts_person_key
    """)
    op.execute(
        "UPDATE st_experts x SET name = p.name, id_number = p.id_number, phone = p.phone "
        "FROM persons p WHERE p.id = x.person_id"
    )
    op.execute("""
        ALTER TABLE st_experts
            ALTER COLUMN name SET NOT NULL,
            ALTER COLUMN id_number SET NOT NULL,
            ALTER COLUMN phone SET NOT NULL,
            ADD CONSTRAINT experts_id_number_key UNIQUE (id_number),
            DROP COLUMN person_id
    """)
    op.execute("ALTER TABLE st_experts RENAME CONSTRAINT st_experts_pkey TO experts_pkey")
    op.execute("ALTER TABLE st_experts RENAME TO experts")
