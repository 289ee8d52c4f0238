-- rls_roles_admin.sql: No self-granted admin; is_admin() follows active/expired/inactive admin rows and the service role.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_roles_admin.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

INSERT INTO public.user_roles (user_id, role) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'user');
INSERT INTO public.performance_metrics (function_name, route, method, status, duration_ms, user_id) VALUES
  ('quote-processor', '/functions/v1/quote-processor', 'GET', 200, 12.5, 'aaaaaaaa-0000-4000-8000-00000000000a'),
  ('subscription-status', '/functions/v1/subscription-status', 'GET', 200, 8.0, 'bbbbbbbb-0000-4000-8000-00000000000b');

-- ------------------------------------------------------------------ Alice, no role
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is false for a user without roles', NOT public.is_admin());
  PERFORM pg_temp.ok('a normal user sees no other user''s roles', (SELECT count(*) = 0 FROM public.user_roles));
  PERFORM pg_temp.ok('a normal user sees no performance_metrics', (SELECT count(*) = 0 FROM public.performance_metrics));
  PERFORM pg_temp.expect_error('Alice grants herself admin',
    $q$INSERT INTO public.user_roles (user_id, role) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'admin')$q$,
    '42501', '%row-level security%');
  PERFORM pg_temp.expect_rows('Alice turns Bob''s role into admin',
    $q$UPDATE public.user_roles SET role = 'admin'$q$, 0);
  PERFORM pg_temp.expect_rows('Alice deletes Bob''s role',
    $q$DELETE FROM public.user_roles$q$, 0);
  PERFORM pg_temp.expect_error('Alice writes a metric',
    $q$INSERT INTO public.performance_metrics (function_name, route, method, status, duration_ms)
       VALUES ('x', '/x', 'GET', 200, 1)$q$, '42501');
END $$;

-- Alice gets the plain 'user' role: she can read it but not promote it.
RESET ROLE;
INSERT INTO public.user_roles (user_id, role) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'user');
SET ROLE authenticated;
DO $$
BEGIN
  PERFORM pg_temp.ok('Alice sees exactly her own role row',
    (SELECT count(*) = 1 AND bool_and(user_id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.user_roles));
  PERFORM pg_temp.expect_rows('Alice promotes her own user role to admin',
    $q$UPDATE public.user_roles SET role = 'admin' WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, 0);
  PERFORM pg_temp.ok('is_admin() still false with a user role', NOT public.is_admin());
END $$;

-- ------------------------------------------------------------------ Alice becomes an active admin
RESET ROLE;
INSERT INTO public.user_roles (user_id, role, granted_at) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'admin', now());
SET ROLE authenticated;
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is true with an active admin role (alongside a user role)', public.is_admin());
  PERFORM pg_temp.ok('an admin sees all roles', (SELECT count(*) = 3 FROM public.user_roles));
  PERFORM pg_temp.ok('an admin sees all performance_metrics', (SELECT count(*) = 2 FROM public.performance_metrics));
  PERFORM pg_temp.expect_rows('an admin grants Bob the moderator role',
    $q$INSERT INTO public.user_roles (user_id, role, granted_by)
       VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'moderator', 'aaaaaaaa-0000-4000-8000-00000000000a')$q$, 1);
  PERFORM pg_temp.expect_rows('an admin configures plan limits',
    $q$INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients, pdf_export)
       VALUES ('prod_test_admin_plan', 'Admin-made', 50, -1, true)$q$, 1);
END $$;

-- ------------------------------------------------------------------ Bob (user + moderator) is not an admin
SELECT set_config('request.jwt.claims', '{"sub":"bbbbbbbb-0000-4000-8000-00000000000b","role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is false for a moderator', NOT public.is_admin());
  PERFORM pg_temp.ok('Bob sees his two roles only',
    (SELECT count(*) = 2 AND bool_and(user_id = 'bbbbbbbb-0000-4000-8000-00000000000b') FROM public.user_roles));
  PERFORM pg_temp.expect_rows('Bob deactivates Alice''s admin role',
    $q$UPDATE public.user_roles SET is_active = false WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, 0);
  PERFORM pg_temp.expect_rows('Bob deletes Alice''s admin role',
    $q$DELETE FROM public.user_roles WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, 0);
  PERFORM pg_temp.expect_error('Bob grants himself admin',
    $q$INSERT INTO public.user_roles (user_id, role) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'admin')$q$,
    '42501', '%row-level security%');
END $$;

-- ------------------------------------------------------------------ expired admin role
RESET ROLE;
UPDATE public.user_roles SET expires_at = now() - interval '1 minute'
 WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a' AND role = 'admin';
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is false once the admin role has expired', NOT public.is_admin());
  PERFORM pg_temp.ok('an expired admin sees no performance_metrics', (SELECT count(*) = 0 FROM public.performance_metrics));
  PERFORM pg_temp.expect_error('an expired admin cannot manage roles',
    $q$INSERT INTO public.user_roles (user_id, role) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'admin')$q$,
    '42501', '%row-level security%');
END $$;

-- ------------------------------------------------------------------ inactive (unexpired) admin role
RESET ROLE;
UPDATE public.user_roles SET expires_at = now() + interval '1 day', is_active = false
 WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a' AND role = 'admin';
SET ROLE authenticated;
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is false for an inactive admin role', NOT public.is_admin());
END $$;

-- ------------------------------------------------------------------ active again, with a future expiry
RESET ROLE;
UPDATE public.user_roles SET is_active = true
 WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a' AND role = 'admin';
SET ROLE authenticated;
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is true for an active admin role that expires in the future', public.is_admin());
END $$;

-- ------------------------------------------------------------------ service role, anon
SET ROLE service_role;
SELECT set_config('request.jwt.claims', '', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is true for the service role (SET ROLE, no claims)', public.is_admin());
END $$;
SELECT set_config('request.jwt.claims', '{"role":"service_role"}', false);
DO $$
BEGIN
  PERFORM pg_temp.ok('is_admin() is true for the service role (JWT role claim)', public.is_admin());
END $$;

SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false);
DO $$
BEGIN
  PERFORM pg_temp.expect_error('anon executes is_admin()', $q$SELECT public.is_admin()$q$, '42501');
  PERFORM pg_temp.expect_error('anon reads user_roles', $q$SELECT * FROM public.user_roles$q$, '42501');
END $$;

RESET ROLE;
SELECT 'ok';
