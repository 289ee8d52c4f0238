-- rls_enabled_everywhere.sql: Every table in schema public has row level security enabled and at least one policy.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_enabled_everywhere.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Every ordinary or partitioned table in schema public has RLS enabled and at least one policy.
-- Tables are matched by namespace oid (not by name), so a table of another schema cannot mask one here.
DO $$
DECLARE
  no_rls      text;
  no_policy   text;
  n_tables    integer;
BEGIN
  SELECT count(*),
         string_agg(c.relname, ', ' ORDER BY c.relname) FILTER (WHERE NOT c.relrowsecurity),
         string_agg(c.relname, ', ' ORDER BY c.relname) FILTER (
           WHERE NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
    INTO n_tables, no_rls, no_policy
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p');

  PERFORM pg_temp.ok(format('expected at least the 18 tables of 0001/0002 in public, found %s', n_tables), n_tables >= 18);
  PERFORM pg_temp.ok(format('tables in public without row level security: %s', no_rls), no_rls IS NULL);
  PERFORM pg_temp.ok(format('tables in public without any policy: %s', no_policy), no_policy IS NULL);
END $$;

-- No policy grants anything to PUBLIC (policies name their roles: anon, authenticated, service_role).
DO $$
DECLARE
  bad text;
BEGIN
  SELECT string_agg(format('%s.%s', c.relname, p.polname), ', ') INTO bad
  FROM pg_policy p
  JOIN pg_class c ON c.oid = p.polrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND 0::oid = ANY (p.polroles);
  PERFORM pg_temp.ok(format('policies that apply to PUBLIC: %s', bad), bad IS NULL);
END $$;

RESET ROLE;
SELECT 'ok';
