"""The map's search keeps its indexes under row-level security; two-character names are found through an index.

Under row-level security PostgreSQL evaluates the policy (``chengjian_scope_ok``) before any condition of the query
that is not LEAKPROOF, and only LEAKPROOF conditions may drive an index scan ahead of it. ``ILIKE`` (``texticlike``)
is not LEAKPROOF, and rightly so: it raises "LIKE pattern must not end with escape character" only when the text
matches the pattern up to that escape, so a crafted pattern evaluated on a row the policy then hides tells whether
that row starts a certain way. Neither are ``||`` (``textcat``, which builds the search document) nor ``@>`` on
arrays. So as ``chengjian_app`` a search scanned the whole table whatever the scope (1,000,000 farmhouses: 0.5–3 s).
Declaring those functions LEAKPROOF would be untrue; this revision does not.

Instead ``chengjian_search_ids(table, columns, q, lim)`` runs the search as the owner of the tables (``SECURITY
DEFINER``: no row-level security, every index usable) and applies the table's own read policy explicitly, taken
from the catalog (``pg_policy``: the permissive SELECT policies for ``chengjian_app`` or PUBLIC, OR-ed; the
restrictive ones AND-ed; ``false`` when row-level security is on and no policy applies; ``true`` when it is off).
It returns at most ``lim`` ids. Callers select the rows by those ids *under row-level security* (``geo.layer.store.
search_clause``), so the policy still decides what anyone sees; the function only finds candidates fast. It is safe
to expose to the app role because it reveals nothing that role cannot read: the table and every column must be
readable by ``chengjian_app`` (checked), the scope is the caller's own transaction settings that the policy reads
anyway, the pattern is built here from ``q`` with ``\\``, ``%`` and ``_`` escaped (so ``ILIKE`` never raises), and
the columns are quoted identifiers (no SQL from the caller). Only ``chengjian_app`` may execute it.

The policy is applied with the caller's scope as constants: ``chengjian_scope_ok(d, layer, id)`` becomes
``chengjian_scope_in('<scope>', '<districts>', '<grants>', d, layer, id)`` (the same test with the settings as
arguments, IMMUTABLE, inlined), which the planner folds for this one-shot plan: nothing for ``all``,
``district = ANY ('{余杭区}')`` for a district account, so the district index can narrow the candidates too.

The document is ``geo.migrations.layer_table.search_document(columns)``, the expression of the trigram index
(``<table>_search_idx``) and of the new bigram index (``<table>_bigram_idx`` on ``chengjian_bigrams(document)``):
pg_trgm cannot look up a term of fewer than three characters (a two-character Chinese name scanned the whole
table even for the owner), the bigram index can. The function matches ``lower(document) LIKE lower(pattern)``
(what ILIKE does) with the at most three rarest of the query's bigrams by the index's statistics (each further
one is a posting list to read, and a digit pair is in most documents), so it uses the bigram index; the trigram
index stays for the lists' ``q`` (``geo.layer.store.where_clause``). Every table with a search index gets its
bigram index here (``create_search_index`` creates both for new tables); on 1,000,000 farmhouses the build takes a
few minutes.

Measured with ``bench/search.py`` (1,000,000 farmhouses, a district account against the owner; see there).

Revision ID: 0011_search
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

from geo.migrations.layer_table import BIGRAMS_FUNCTION

revision = "0011_search"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_ROLE = "chengjian_app"

# chengjian_scope_ok (migration 0005) with the settings it reads as arguments: IMMUTABLE (it reads nothing else), so
# with constant settings the planner folds it away. Only chengjian_search_ids uses it (one-shot plans).
SCOPE_IN_FUNCTION = """
CREATE OR REPLACE FUNCTION chengjian_scope_in(scope text, districts text, grants jsonb, d text, grant_layer text,
                                              grant_id bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(scope, '') = 'all'
        OR (d IS NOT NULL AND d = ANY (string_to_array(nullif(districts, ''), ',')))
        OR (grant_id IS NOT NULL
            AND grant_id = ANY (string_to_array(nullif(grants ->> grant_layer, ''), ',')::bigint[]))
$fn$
"""

SEARCH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION chengjian_search_ids(tbl regclass, cols text[], q text, lim integer,
                                                starts text[] DEFAULT '{{}}')
RETURNS SETOF bigint LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, public AS $fn$
DECLARE
    doc text;
    policy text;
    bigrams text := '';
    grants jsonb;
    picked text[];
    c text;
BEGIN
    IF coalesce(cardinality(cols), 0) = 0 OR lim < 1 OR q = '' THEN
        RETURN;
    END IF;
    -- What the search reads (a table-wide grant covers every column).
    FOREACH c IN ARRAY cols || starts || ARRAY['id', 'deleted_at'] LOOP
        IF NOT has_column_privilege('{APP_ROLE}', tbl, c, 'SELECT') THEN
            RAISE EXCEPTION 'chengjian_search_ids: {APP_ROLE} may not read %.%', tbl, c
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    -- The text layer_table.search_document builds: the indexes' expression.
    SELECT string_agg(format('coalesce(%I::text, %L)', col, ''), ' || '' '' || ' ORDER BY n) INTO doc
    FROM unnest(cols) WITH ORDINALITY AS u (col, n);
    -- The read policy, as row-level security would apply it to the app role.
    SELECT CASE
        WHEN NOT r.relrowsecurity THEN 'true'
        ELSE coalesce(
            (SELECT '(' || string_agg('(' || pg_get_expr(p.polqual, p.polrelid) || ')', ' OR ') || ')'
             FROM pg_policy p
             WHERE p.polrelid = tbl AND p.polpermissive AND p.polcmd IN ('r', '*') AND p.polqual IS NOT NULL
               AND (0::oid = ANY (p.polroles) OR to_regrole('{APP_ROLE}') = ANY (p.polroles))),
            'false')
        || coalesce(
            (SELECT ' AND ' || string_agg('(' || pg_get_expr(p.polqual, p.polrelid) || ')', ' AND ')
             FROM pg_policy p
             WHERE p.polrelid = tbl AND NOT p.polpermissive AND p.polcmd IN ('r', '*') AND p.polqual IS NOT NULL
               AND (0::oid = ANY (p.polroles) OR to_regrole('{APP_ROLE}') = ANY (p.polroles))),
            '')
    END INTO policy
    FROM pg_class r WHERE r.oid = tbl;
    -- The scope the caller's transaction states, as constants: chengjian_scope_ok(d, layer, id) is
    -- chengjian_scope_in(<scope>, <districts>, <grants>, d, layer, id), which the planner folds to what it means for
    -- this scope (nothing for 'all', "district = ANY('{{西湖区}}')" for a district account): an index can serve it.
    SELECT jsonb_object_agg(m[1], coalesce(current_setting('chengjian.grants_' || m[1], true), '')) INTO grants
    FROM regexp_matches(policy, 'chengjian_scope_ok\\([^,]+, ''([a-z0-9_]+)''::text', 'g') AS m;
    policy := replace(policy, 'chengjian_scope_ok(', format('chengjian_scope_in(%L, %L, %L::jsonb, ',
        coalesce(current_setting('chengjian.scope', true), ''), coalesce(current_setting('chengjian.districts', true), ''),
        coalesce(grants, '{{}}'::jsonb)));
    -- starts: the rows where one of these columns starts with q instead (btree ranges: a code's prefix).
    IF cardinality(starts) > 0 THEN
        RETURN QUERY EXECUTE format('SELECT id FROM %s WHERE deleted_at IS NULL AND (%s) AND (%s) LIMIT $2', tbl,
            (SELECT string_agg(format('(%1$I >= $1 AND %1$I < $1 || chr(1114111) AND starts_with(%1$I, $1))', col),
                               ' OR ') FROM unnest(starts) AS col),
            policy)
        USING q, lim;
        RETURN;
    END IF;
    -- The (at most three) rarest of q's bigrams by the index's statistics: enough to narrow the candidates, while
    -- every further one costs a posting list to read (a digit pair is in most documents).
    IF length(q) >= 2 AND EXISTS (
        SELECT FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
        WHERE i.indrelid = tbl AND x.relname = (SELECT relname FROM pg_class WHERE oid = tbl) || '_bigram_idx'
    ) THEN
        SELECT array_agg(b) INTO picked FROM (
            SELECT u.b FROM (SELECT DISTINCT unnest(chengjian_bigrams(q)) AS b) u
            LEFT JOIN (
                SELECT unnest(s.most_common_elems::text::text[]) AS e, unnest(s.most_common_elem_freqs) AS f
                FROM pg_stats s JOIN pg_class t ON t.oid = tbl JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE s.schemaname = n.nspname AND s.tablename = t.relname || '_bigram_idx'
            ) st ON st.e = u.b
            ORDER BY coalesce(st.f, 0), u.b LIMIT 3
        ) rarest;
        bigrams := format(' AND chengjian_bigrams(%s) @> $2', doc);
    END IF;
    -- lower(doc) LIKE lower(pattern) is what ILIKE does; written so, it leaves the trigram index (lists' q) aside.
    RETURN QUERY EXECUTE format(
        'SELECT id FROM %s WHERE deleted_at IS NULL AND lower(%s) LIKE lower($1)%s AND (%s) LIMIT $3',
        tbl, doc, bigrams, policy)
    USING '%' || replace(replace(replace(q, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%', picked, lim;
END
$fn$
"""

# A bigram index beside every trigram search index (the same document: the trigram index's own expression).
BIGRAM_INDEXES = """DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT t.relname AS tbl, pg_get_indexdef(i.indexrelid, 1, true) AS doc
        FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relnamespace = current_schema()::regnamespace AND x.relname = t.relname || '_search_idx'
    LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING gin (chengjian_bigrams(%s))',
                       r.tbl || '_bigram_idx', r.tbl, r.doc);
    END LOOP;
END $$"""


def upgrade() -> None:
    op.execute(BIGRAMS_FUNCTION)
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    op.execute(BIGRAM_INDEXES)
    op.execute(SCOPE_IN_FUNCTION)
    op.execute(SEARCH_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION chengjian_search_ids(regclass, text[], text, integer, text[]) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION chengjian_search_ids(regclass, text[], text, integer, text[]) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS chengjian_search_ids(regclass, text[], text, integer, text[])")
    op.execute("DROP FUNCTION IF EXISTS chengjian_scope_in(text, text, jsonb, text, text, bigint)")
    op.execute("DROP FUNCTION IF EXISTS chengjian_bigrams(text) CASCADE")
