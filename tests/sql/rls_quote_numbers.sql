-- rls_quote_numbers.sql: next_quote_number(): per-user, per-year numbering that is never reused; counters are read-only to users.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_quote_numbers.sql
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

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

-- ------------------------------------------------------------------ Alice
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);
DO $$
DECLARE
  v integer;
BEGIN
  PERFORM pg_temp.ok('Alice: first number of 2031 is 1',  public.next_quote_number(2031) = 1);
  PERFORM pg_temp.ok('Alice: second number of 2031 is 2', public.next_quote_number(2031) = 2);
  PERFORM pg_temp.ok('Alice: third number of 2031 is 3',  public.next_quote_number(2031) = 3);
  PERFORM pg_temp.ok('Alice: a new year starts at 1',      public.next_quote_number(2032) = 1);

  -- allocate and insert in the same statement (as quote-processor does, in one transaction)
  INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq)
  SELECT auth.uid(), 'Client', format('Q-2031-%s', lpad(s::text, 4, '0')), 2031, s
  FROM public.next_quote_number(2031) AS s;
  PERFORM pg_temp.ok('Alice: the quote got number Q-2031-0004',
    (SELECT quote_seq = 4 FROM public.quotes WHERE quote_number = 'Q-2031-0004'));

  -- numbers are never reused after a delete
  DELETE FROM public.quotes WHERE quote_number = 'Q-2031-0004';
  PERFORM pg_temp.ok('Alice: after deleting quote 4 the next number is 5', public.next_quote_number(2031) = 5);

  -- default year = current UTC year
  v := public.next_quote_number();
  PERFORM pg_temp.ok('Alice: the default year is the current UTC year',
    (SELECT last_seq = v FROM public.quote_counters
      WHERE year = extract(year FROM now() AT TIME ZONE 'UTC')::integer));

  PERFORM pg_temp.expect_error('invalid year', $q$SELECT public.next_quote_number(20310)$q$, '22023');
  PERFORM pg_temp.expect_error('null year', $q$SELECT public.next_quote_number(NULL)$q$, '22023');

  -- the counter table is read-only to users
  PERFORM pg_temp.expect_error('Alice resets her counter',
    $q$UPDATE public.quote_counters SET last_seq = 0$q$, '42501');
  PERFORM pg_temp.expect_error('Alice deletes her counter',
    $q$DELETE FROM public.quote_counters$q$, '42501');
  PERFORM pg_temp.expect_error('Alice inserts a counter for Bob',
    $q$INSERT INTO public.quote_counters (user_id, year, last_seq)
       VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 2031, 1000)$q$, '42501');
END $$;

-- ------------------------------------------------------------------ Bob
SELECT set_config('request.jwt.claims', '{"sub":"bbbbbbbb-0000-4000-8000-00000000000b","role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('Bob sees none of Alice''s counters', (SELECT count(*) = 0 FROM public.quote_counters));
  PERFORM pg_temp.ok('Bob: first number of 2031 is 1 (independent of Alice)', public.next_quote_number(2031) = 1);
  PERFORM pg_temp.ok('Bob sees only his own counter',
    (SELECT count(*) = 1 AND bool_and(user_id = 'bbbbbbbb-0000-4000-8000-00000000000b') FROM public.quote_counters));
  -- the same quote number can exist for two users
  INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq)
  VALUES (auth.uid(), 'Client', 'Q-2031-0001', 2031, 1);
END $$;

-- ------------------------------------------------------------------ no user
SELECT set_config('request.jwt.claims', '{"role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.expect_error('next_quote_number without a sub claim',
    $q$SELECT public.next_quote_number(2031)$q$, '42501');
END $$;

-- ------------------------------------------------------------------ verify as the superuser
RESET ROLE;
DO $$
BEGIN
  PERFORM pg_temp.ok('counters: Alice 2031 = 5, Alice 2032 = 1, Bob 2031 = 1',
    (SELECT last_seq = 5 FROM public.quote_counters WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a' AND year = 2031)
    AND (SELECT last_seq = 1 FROM public.quote_counters WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a' AND year = 2032)
    AND (SELECT last_seq = 1 FROM public.quote_counters WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b' AND year = 2031));
  PERFORM pg_temp.expect_error('a duplicate quote number for the same user is rejected',
    $q$INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq)
       VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'x', 'Q-2031-0001', 2031, 7)$q$, '23505');
  PERFORM pg_temp.expect_error('a duplicate (year, seq) for the same user is rejected',
    $q$INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq)
       VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'x', 'OTHER-1', 2031, 1)$q$, '23505');
END $$;

RESET ROLE;
SELECT 'ok';
