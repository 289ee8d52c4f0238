-- rls_one_statement_requests.sql: the functions that do a request's work as the caller in one
-- statement (migrations/0019) apply Row Level Security as the caller, leave nothing behind, and
-- are callable by their owner only (whoever calls them may act as any user).
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_one_statement_requests.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
DELETE FROM public.stripe_webhook_events WHERE stripe_event_id = 'evt_test_bob_pending';
INSERT INTO auth.users (id, email) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test');
INSERT INTO public.stripe_customers (user_id, stripe_customer_id, email) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice', 'alice@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'cus_test_bob', 'bob@example.test');
INSERT INTO public.clients (user_id, name) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'A1'), ('bbbbbbbb-0000-4000-8000-00000000000b', 'B1'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'B2');
INSERT INTO public.stripe_webhook_events (stripe_event_id, event_type, stripe_customer_id, payload, processed)
VALUES ('evt_test_bob_pending', 'invoice.paid', 'cus_test_bob', '{}', false);

-- Each call is a statement of its own, in its own transaction (psql's autocommit), as in the
-- components: the identity it takes lasts until the end of that transaction.
\set alice '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}'
\set bob '{"sub":"bbbbbbbb-0000-4000-8000-00000000000b","role":"authenticated"}'

SELECT public.subscription_status_as(:'alice', 'aaaaaaaa-0000-4000-8000-00000000000a', true)::jsonb -> 0 AS r \gset
SELECT pg_temp.ok(format('Alice reads her own customer and client count (got %s)', :'r'),
  (:'r'::jsonb) ->> 'stripe_customer_id' = 'cus_test_alice' AND ((:'r'::jsonb) ->> 'clients_count')::int = 1
  AND (:'r'::jsonb) ->> 'plan_key' = 'free' AND (:'r'::jsonb) -> 'backlog' = 'null'::jsonb);
SELECT pg_temp.ok('the role is the login''s again after the statement', current_user = session_user);
SELECT pg_temp.ok('no claims are left after the statement', coalesce(current_setting('request.jwt.claims', true), '') = '');

SELECT public.subscription_status_as(:'alice', 'bbbbbbbb-0000-4000-8000-00000000000b', true)::jsonb -> 0 AS r \gset
SELECT pg_temp.ok(format('Alice passing Bob''s id sees neither his customer nor his backlog (got %s)', :'r'),
  (:'r'::jsonb) ->> 'stripe_customer_id' IS NULL AND (:'r'::jsonb) -> 'backlog' = 'null'::jsonb
  AND ((:'r'::jsonb) ->> 'clients_count')::int = 1);

SELECT public.subscription_status_as(:'bob', 'bbbbbbbb-0000-4000-8000-00000000000b', true)::jsonb -> 0 AS r \gset
SELECT pg_temp.ok(format('Bob sees his customer, clients and pending event (got %s)', :'r'),
  (:'r'::jsonb) ->> 'stripe_customer_id' = 'cus_test_bob' AND ((:'r'::jsonb) ->> 'clients_count')::int = 2
  AND ((:'r'::jsonb) ->> 'backlog_total')::int = 1 AND (:'r'::jsonb) -> 'backlog' -> 0 ->> 'id' = 'evt_test_bob_pending');

SELECT public.subscription_status_as(:'bob', 'bbbbbbbb-0000-4000-8000-00000000000b', false)::jsonb -> 0 AS r \gset
SELECT pg_temp.ok(format('without diagnostics there is no backlog (got %s)', :'r'), (:'r'::jsonb) -> 'backlog' = 'null'::jsonb);

-- Inside one transaction, the identity holds after the call: a second call is refused
-- (the caller's role may not call it), so nothing runs as the login by mistake.
DO $$
BEGIN
  PERFORM public.subscription_status_as('{"sub":"aaaaaaaa-0000-4000-8000-00000000000a"}', 'aaaaaaaa-0000-4000-8000-00000000000a', true);
  PERFORM pg_temp.ok('within the transaction the role is the caller''s', current_user = 'authenticated');
  PERFORM public.subscription_status_as('{"sub":"bbbbbbbb-0000-4000-8000-00000000000b"}', 'bbbbbbbb-0000-4000-8000-00000000000b', true);
  RAISE EXCEPTION 'FAIL: a second call in the same transaction ran';
EXCEPTION WHEN insufficient_privilege THEN
  NULL;
END $$;

-- Only the owner may call them: anyone else could name any user in the claims.
DO $$
DECLARE
  role_name text;
  fn regprocedure;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    FOREACH fn IN ARRAY ARRAY['public.enter_as_user(text)'::regprocedure,
                              'public.subscription_status_as(text,uuid,boolean)'::regprocedure] LOOP
      PERFORM pg_temp.ok(format('%s must not execute %s', role_name, fn), NOT has_function_privilege(role_name, fn, 'EXECUTE'));
    END LOOP;
  END LOOP;
END $$;
SET ROLE authenticated;
DO $$
BEGIN
  PERFORM public.subscription_status_as('{"sub":"bbbbbbbb-0000-4000-8000-00000000000b"}', 'bbbbbbbb-0000-4000-8000-00000000000b', true);
  RAISE EXCEPTION 'FAIL: a user called subscription_status_as';
EXCEPTION WHEN insufficient_privilege THEN
  NULL;
END $$;
RESET ROLE;

DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
DELETE FROM public.stripe_webhook_events WHERE stripe_event_id = 'evt_test_bob_pending';
SELECT 'ok';
