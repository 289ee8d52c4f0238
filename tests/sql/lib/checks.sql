-- The checks every file of tests/sql uses, included with `\ir lib/checks.sql`: quiet notices,
-- the migrating superuser's own role, and session-temporary helpers that raise 'FAIL: ...'.

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
