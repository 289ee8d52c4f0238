-- rls_enabled_everywhere.sql: Every table in schema public has row level security enabled and at least one policy.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_enabled_everywhere.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

SET client_min_messages = warning;
RESET ROLE;

-- Helpers (session-temporary; callable after SET ROLE because pg_temp is the session's own schema).
CREATE FUNCTION pg_temp.ok(p_label text, p_cond boolean) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  IF p_cond IS DISTINCT FROM true THEN
    RAISE EXCEPTION 'FAIL: %', p_label;
  END IF;
END $$;

-- The statement must raise p_sqlstate (and, if given, a message LIKE p_message_like).
CREATE FUNCTION pg_temp.expect_error(p_label text, p_sql text, p_sqlstate text,
                                     p_message_like text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  v_state text;
  v_msg   text;
BEGIN
  BEGIN
    EXECUTE p_sql;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    IF v_state <> p_sqlstate OR (p_message_like IS NOT NULL AND v_msg NOT LIKE p_message_like) THEN
      RAISE EXCEPTION 'FAIL: % - expected SQLSTATE % (%), got % (%)',
        p_label, p_sqlstate, coalesce(p_message_like, 'any message'), v_state, v_msg;
    END IF;
    RETURN;
  END;
  RAISE EXCEPTION 'FAIL: % - statement was allowed but must be refused: %', p_label, p_sql;
END $$;

-- The statement must succeed and affect (or return) exactly p_expected rows.
CREATE FUNCTION pg_temp.expect_rows(p_label text, p_sql text, p_expected bigint) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  EXECUTE p_sql;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> p_expected THEN
    RAISE EXCEPTION 'FAIL: % - % row(s), expected %', p_label, n, p_expected;
  END IF;
END $$;

-- The write must have no effect: refused with insufficient_privilege (no grant, or a
-- row-level security violation), or allowed but touching 0 rows.
CREATE FUNCTION pg_temp.expect_no_effect(p_label text, p_sql text) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  BEGIN
    EXECUTE p_sql;
    GET DIAGNOSTICS n = ROW_COUNT;
  EXCEPTION WHEN insufficient_privilege THEN
    RETURN;
  END;
  IF n <> 0 THEN
    RAISE EXCEPTION 'FAIL: % - statement affected % row(s) but must affect none: %', p_label, n, p_sql;
  END IF;
END $$;

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
