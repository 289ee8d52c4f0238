-- rls_privileged_functions.sql: increment_usage / get_entitlements are service-only; get_current_usage is own-only for users.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_privileged_functions.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

INSERT INTO public.clients (user_id, name) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'A1'), ('aaaaaaaa-0000-4000-8000-00000000000a', 'A2'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'B1');
INSERT INTO public.user_usage (user_id, month_year, quotes_count, pdf_exports_count) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), 4, 1),
  ('aaaaaaaa-0000-4000-8000-00000000000a', '2001-01', 99, 99);   -- an old month, never counted

-- ------------------------------------------------------------------ catalog: who may execute what
DO $$
DECLARE
  bad text;
BEGIN
  SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'public' AND p.prosecdef
    AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    AND has_function_privilege('anon', p.oid, 'EXECUTE');
  PERFORM pg_temp.ok(format('no SECURITY DEFINER function is executable by anon (found: %s)', bad), bad IS NULL);

  -- SECURITY DEFINER functions open to authenticated must each check the caller themselves;
  -- this list is deliberate: extend it only for such functions.
  SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'public' AND p.prosecdef
    AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    AND has_function_privilege('authenticated', p.oid, 'EXECUTE')
    AND p.oid NOT IN ('public.is_admin()'::regprocedure, 'public.next_quote_number(integer)'::regprocedure,
                      'public.my_webhook_backlog(integer)'::regprocedure,
                      'public.claim_quote_emails(integer)'::regprocedure);
  PERFORM pg_temp.ok(format('unexpected SECURITY DEFINER functions executable by authenticated: %s', bad), bad IS NULL);

  PERFORM pg_temp.ok('increment_usage: service_role only',
    has_function_privilege('service_role', 'public.increment_usage(uuid,text,integer)', 'EXECUTE')
    AND NOT has_function_privilege('authenticated', 'public.increment_usage(uuid,text,integer)', 'EXECUTE')
    AND NOT has_function_privilege('anon', 'public.increment_usage(uuid,text,integer)', 'EXECUTE'));
  PERFORM pg_temp.ok('get_entitlements: service_role only',
    has_function_privilege('service_role', 'public.get_entitlements(uuid)', 'EXECUTE')
    AND NOT has_function_privilege('authenticated', 'public.get_entitlements(uuid)', 'EXECUTE')
    AND NOT has_function_privilege('anon', 'public.get_entitlements(uuid)', 'EXECUTE'));
END $$;

-- ------------------------------------------------------------------ as Alice
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);
DO $$
DECLARE
  r record;
BEGIN
  PERFORM pg_temp.expect_error('Alice calls increment_usage for herself',
    $q$SELECT public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'quotes', -4)$q$, '42501');
  PERFORM pg_temp.expect_error('Alice calls increment_usage for Bob',
    $q$SELECT public.increment_usage('bbbbbbbb-0000-4000-8000-00000000000b', 'quotes', 100)$q$, '42501');
  PERFORM pg_temp.expect_error('Alice calls get_entitlements',
    $q$SELECT * FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a')$q$, '42501');
  PERFORM pg_temp.expect_error('Alice reads Bob''s usage through get_current_usage',
    $q$SELECT * FROM public.get_current_usage('bbbbbbbb-0000-4000-8000-00000000000b')$q$, '42501');

  SELECT * INTO r FROM public.get_current_usage('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('Alice reads her own current usage (got %s)', r),
    r.quotes_count = 4 AND r.clients_count = 2 AND r.pdf_exports_count = 1 AND r.api_calls_count = 0
    AND r.bulk_operations_count = 0
    AND r.period_start = date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    AND r.period_end = r.period_start + interval '1 month');
END $$;

-- ------------------------------------------------------------------ as the service role
SET ROLE service_role;
SELECT set_config('request.jwt.claims', '{"role":"service_role"}', false);
DO $$
DECLARE
  r record;
BEGIN
  PERFORM pg_temp.ok('increment_usage returns the new value (existing row)',
    public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'quotes') = 5);
  PERFORM pg_temp.ok('increment_usage by 3',
    public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'pdf_exports', 3) = 4);
  PERFORM pg_temp.ok('increment_usage creates the month row for a new user',
    public.increment_usage('bbbbbbbb-0000-4000-8000-00000000000b', 'api_calls') = 1);
  PERFORM pg_temp.ok('increment_usage bulk_operations',
    public.increment_usage('bbbbbbbb-0000-4000-8000-00000000000b', 'bulk_operations', 2) = 2);
  PERFORM pg_temp.expect_error('increment_usage rejects an unknown type',
    $q$SELECT public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'items')$q$, '22023');
  PERFORM pg_temp.expect_error('increment_usage rejects a zero amount',
    $q$SELECT public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'quotes', 0)$q$, '22023');
  PERFORM pg_temp.expect_error('increment_usage rejects a negative amount',
    $q$SELECT public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'quotes', -5)$q$, '22023');
  PERFORM pg_temp.expect_error('increment_usage rejects a null user',
    $q$SELECT public.increment_usage(NULL, 'quotes')$q$, '22023');

  SELECT * INTO r FROM public.get_current_usage('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('service role reads Alice''s usage (got %s)', r),
    r.quotes_count = 5 AND r.pdf_exports_count = 4 AND r.clients_count = 2);
  SELECT * INTO r FROM public.get_current_usage('bbbbbbbb-0000-4000-8000-00000000000b');
  PERFORM pg_temp.ok(format('service role reads Bob''s usage (got %s)', r),
    r.quotes_count = 0 AND r.api_calls_count = 1 AND r.bulk_operations_count = 2 AND r.clients_count = 1);
  SELECT * INTO r FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok('service role calls get_entitlements', r.plan_key = 'free');
END $$;

-- ------------------------------------------------------------------ as anon
SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false);
DO $$
BEGIN
  PERFORM pg_temp.expect_error('anon calls increment_usage',
    $q$SELECT public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', 'quotes')$q$, '42501');
  PERFORM pg_temp.expect_error('anon calls get_entitlements',
    $q$SELECT * FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a')$q$, '42501');
  PERFORM pg_temp.expect_error('anon calls get_current_usage',
    $q$SELECT * FROM public.get_current_usage('aaaaaaaa-0000-4000-8000-00000000000a')$q$, '42501');
  PERFORM pg_temp.expect_error('anon calls next_quote_number',
    $q$SELECT public.next_quote_number(2030)$q$, '42501');
END $$;

RESET ROLE;
SELECT 'ok';
