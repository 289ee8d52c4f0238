-- rls_cross_user.sql: No cross-user reads or writes on users, company_settings, clients, line_items and quotes.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_cross_user.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

-- Setup as the superuser (bypasses RLS): one row of each kind for both users.
INSERT INTO public.company_settings (id, company_name) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'Alice Landscaping'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'Bob Lawns');
INSERT INTO public.clients (id, user_id, name, email) VALUES
  ('a1000000-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-00000000000a', 'Client of Alice', 'ca@example.test'),
  ('b1000000-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-00000000000b', 'Client of Bob',   'cb@example.test');
INSERT INTO public.line_items (id, user_id, name, unit, cost) VALUES
  ('a2000000-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-00000000000a', 'Mowing', 'hour', 45.00),
  ('b2000000-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-00000000000b', 'Mulch',  'bag',  7.50);
INSERT INTO public.quotes (id, user_id, client_id, client_name, quote_number, quote_year, quote_seq, subtotal, total) VALUES
  ('a3000000-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-00000000000a',
   'a1000000-0000-4000-8000-000000000001', 'Client of Alice', 'Q-2025-0001', 2025, 1, 100.00, 100.00),
  ('b3000000-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-00000000000b',
   'b1000000-0000-4000-8000-000000000001', 'Client of Bob',   'Q-2025-0001', 2025, 1, 200.00, 200.00);

-- The auth trigger created both profiles from raw_user_meta_data.
DO $$
BEGIN
  PERFORM pg_temp.ok('profile of Alice created by the auth.users trigger',
    (SELECT full_name = 'Alice A' AND avatar_url = 'https://img.test/a.png'
       FROM public.users WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a'));
  PERFORM pg_temp.ok('profile of Bob created by the auth.users trigger',
    (SELECT full_name = 'Bob B' AND avatar_url IS NULL
       FROM public.users WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b'));
END $$;

-- ------------------------------------------------------------------ as Alice
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);

DO $$
BEGIN
  -- reads: only her own rows
  PERFORM pg_temp.ok('Alice sees exactly her own profile',
    (SELECT count(*) = 1 AND bool_and(id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.users));
  PERFORM pg_temp.ok('Alice sees exactly her own company_settings',
    (SELECT count(*) = 1 AND bool_and(id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.company_settings));
  PERFORM pg_temp.ok('Alice sees exactly her own clients',
    (SELECT count(*) = 1 AND bool_and(user_id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.clients));
  PERFORM pg_temp.ok('Alice sees exactly her own line_items',
    (SELECT count(*) = 1 AND bool_and(user_id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.line_items));
  PERFORM pg_temp.ok('Alice sees exactly her own quotes',
    (SELECT count(*) = 1 AND bool_and(user_id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.quotes));
  PERFORM pg_temp.expect_rows('Alice reads Bob''s client by id',
    $q$SELECT * FROM public.clients WHERE id = 'b1000000-0000-4000-8000-000000000001'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice reads Bob''s quote by id',
    $q$SELECT * FROM public.quotes WHERE id = 'b3000000-0000-4000-8000-000000000001'$q$, 0);

  -- updates of Bob's rows touch nothing
  PERFORM pg_temp.expect_no_effect('Alice updates Bob''s profile',
    $q$UPDATE public.users SET full_name = 'hacked' WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$);
  PERFORM pg_temp.expect_rows('Alice updates Bob''s company_settings',
    $q$UPDATE public.company_settings SET company_name = 'hacked' WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice updates Bob''s clients',
    $q$UPDATE public.clients SET name = 'hacked' WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice updates Bob''s line_items',
    $q$UPDATE public.line_items SET cost = 0 WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice updates Bob''s quotes',
    $q$UPDATE public.quotes SET total = 0, status = 'accepted' WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice updates all quotes (only hers may change)',
    $q$UPDATE public.quotes SET notes = 'mine'$q$, 1);

  -- deletes of Bob's rows touch nothing
  PERFORM pg_temp.expect_rows('Alice deletes Bob''s company_settings',
    $q$DELETE FROM public.company_settings WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice deletes Bob''s clients',
    $q$DELETE FROM public.clients WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice deletes Bob''s line_items',
    $q$DELETE FROM public.line_items WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice deletes Bob''s quotes',
    $q$DELETE FROM public.quotes WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$q$, 0);
  PERFORM pg_temp.expect_error('Alice deletes a profile', $q$DELETE FROM public.users$q$, '42501');

  -- inserts in Bob's name are refused by RLS
  PERFORM pg_temp.expect_error('Alice inserts company_settings for Bob',
    $q$INSERT INTO public.company_settings (id, company_name) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'x')$q$,
    '42501', '%row-level security%');
  PERFORM pg_temp.expect_error('Alice inserts a client for Bob',
    $q$INSERT INTO public.clients (user_id, name) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'x')$q$,
    '42501', '%row-level security%');
  PERFORM pg_temp.expect_error('Alice inserts a line item for Bob',
    $q$INSERT INTO public.line_items (user_id, name, cost) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'x', 1)$q$,
    '42501', '%row-level security%');
  PERFORM pg_temp.expect_error('Alice inserts a quote for Bob',
    $q$INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq)
       VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'x', 'Q-2025-0099', 2025, 99)$q$,
    '42501', '%row-level security%');

  -- moving her own rows to Bob is refused by the WITH CHECK clauses
  PERFORM pg_temp.expect_error('Alice hands her client to Bob',
    $q$UPDATE public.clients SET user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'
       WHERE id = 'a1000000-0000-4000-8000-000000000001'$q$,
    '42501', '%row-level security%');
  -- (the quote-identity trigger refuses it even before the RLS check)
  PERFORM pg_temp.expect_error('Alice hands her quote to Bob',
    $q$UPDATE public.quotes SET user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'
       WHERE id = 'a3000000-0000-4000-8000-000000000001'$q$,
    '23514', '%cannot change%');
  PERFORM pg_temp.expect_error('Alice rewrites her profile id',
    $q$UPDATE public.users SET id = 'bbbbbbbb-0000-4000-8000-00000000000b'
       WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$,
    '42501');

  -- a quote cannot point at another user's client (composite foreign key)
  PERFORM pg_temp.expect_error('Alice links her quote to Bob''s client',
    $q$INSERT INTO public.quotes (user_id, client_id, client_name, quote_number, quote_year, quote_seq)
       VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'b1000000-0000-4000-8000-000000000001',
               'x', 'Q-2025-0002', 2025, 2)$q$,
    '23503');

  -- her own CRUD works
  PERFORM pg_temp.expect_rows('Alice inserts her own client',
    $q$INSERT INTO public.clients (id, user_id, name) VALUES
       ('a1000000-0000-4000-8000-000000000002', 'aaaaaaaa-0000-4000-8000-00000000000a', 'Second client')$q$, 1);
  PERFORM pg_temp.expect_rows('Alice inserts her own quote',
    $q$INSERT INTO public.quotes (user_id, client_id, client_name, quote_number, quote_year, quote_seq)
       VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'a1000000-0000-4000-8000-000000000002',
               'Second client', 'Q-2025-0002', 2025, 2)$q$, 1);
  PERFORM pg_temp.expect_rows('Alice updates her own profile name',
    $q$UPDATE public.users SET full_name = 'Alice Anders' WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, 1);
  PERFORM pg_temp.expect_rows('Alice updates her company_settings',
    $q$UPDATE public.company_settings SET default_tax_rate = 8.25$q$, 1);
  PERFORM pg_temp.expect_rows('Alice deletes her second client',
    $q$DELETE FROM public.clients WHERE id = 'a1000000-0000-4000-8000-000000000002'$q$, 1);
  PERFORM pg_temp.ok('deleting the client cleared client_id on her quote but kept the quote',
    (SELECT client_id IS NULL AND user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
       FROM public.quotes WHERE quote_number = 'Q-2025-0002'));
END $$;

-- ------------------------------------------------------------------ as Bob
SELECT set_config('request.jwt.claims', '{"sub":"bbbbbbbb-0000-4000-8000-00000000000b","role":"authenticated"}', false);

DO $$
BEGIN
  PERFORM pg_temp.ok('Bob sees exactly his own clients',
    (SELECT count(*) = 1 AND bool_and(user_id = 'bbbbbbbb-0000-4000-8000-00000000000b') FROM public.clients));
  PERFORM pg_temp.ok('Bob sees exactly his own quotes',
    (SELECT count(*) = 1 AND bool_and(user_id = 'bbbbbbbb-0000-4000-8000-00000000000b') FROM public.quotes));
  PERFORM pg_temp.ok('Bob sees exactly his own line_items',
    (SELECT count(*) = 1 AND bool_and(user_id = 'bbbbbbbb-0000-4000-8000-00000000000b') FROM public.line_items));
  PERFORM pg_temp.ok('Bob sees exactly his own company_settings',
    (SELECT count(*) = 1 AND bool_and(id = 'bbbbbbbb-0000-4000-8000-00000000000b') FROM public.company_settings));
  PERFORM pg_temp.expect_rows('Bob deletes Alice''s quotes',
    $q$DELETE FROM public.quotes WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, 0);
END $$;

-- ------------------------------------------------------------------ without a user (no sub claim)
SELECT set_config('request.jwt.claims', '{"role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('no sub claim: no clients visible', (SELECT count(*) = 0 FROM public.clients));
  PERFORM pg_temp.ok('no sub claim: no quotes visible',  (SELECT count(*) = 0 FROM public.quotes));
END $$;

-- ------------------------------------------------------------------ verify as the superuser
RESET ROLE;
DO $$
BEGIN
  PERFORM pg_temp.ok('Bob''s rows are untouched',
    (SELECT count(*) = 1 FROM public.clients   WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b' AND name = 'Client of Bob')
    AND (SELECT count(*) = 1 FROM public.quotes WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'
           AND total = 200.00 AND status = 'draft' AND notes IS NULL)
    AND (SELECT count(*) = 1 FROM public.line_items WHERE user_id = 'bbbbbbbb-0000-4000-8000-00000000000b' AND cost = 7.50)
    AND (SELECT company_name = 'Bob Lawns' FROM public.company_settings WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b')
    AND (SELECT full_name = 'Bob B' FROM public.users WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b'));
  PERFORM pg_temp.ok('Alice''s own updates were applied',
    (SELECT full_name = 'Alice Anders' FROM public.users WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a')
    AND (SELECT default_tax_rate = 8.25 FROM public.company_settings WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a'));
END $$;

RESET ROLE;
SELECT 'ok';
