-- rls_quote_numbers.sql: next_quote_number(): per-user, per-year numbering that is never reused; counters are read-only to users.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_quote_numbers.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

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
