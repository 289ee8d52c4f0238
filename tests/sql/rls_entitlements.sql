-- rls_entitlements.sql: get_entitlements(): subscription choice, plan limits, free fallback (run as the service role).
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_entitlements.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

INSERT INTO public.stripe_products (id, name, active) VALUES
  ('prod_test_pro', 'Pro', true),
  ('prod_test_premium', 'Premium', true);
INSERT INTO public.stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval") VALUES
  ('price_test_pro_month', 'prod_test_pro', 'usd', 1900, 'recurring', 'month'),
  ('price_test_premium_month', 'prod_test_premium', 'usd', 4900, 'recurring', 'month');

-- Seed state of plan_limits: the free plan and the operator's paid_default (0009).
DO $$
BEGIN
  PERFORM pg_temp.ok('plan_limits is seeded with the free plan (5 quotes, 3 clients, no features) and paid_default',
    (SELECT array_agg(plan_key ORDER BY plan_key) = ARRAY['free', 'paid_default'] FROM public.plan_limits)
    AND (SELECT name = 'Free' AND max_quotes = 5 AND max_clients = 3
                AND NOT (pdf_export OR email_quotes OR custom_branding OR analytics OR api_access OR bulk_operations)
           FROM public.plan_limits WHERE plan_key = 'free'));
END $$;

INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients, pdf_export, email_quotes, bulk_operations)
VALUES ('prod_test_pro', 'Pro plan', 100, -1, true, true, true);   -- prod_test_premium deliberately unconfigured

-- Users can never see the function's answer directly, and cannot change what it reads.
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);
DO $$
BEGIN
  PERFORM pg_temp.expect_error('a user calls get_entitlements',
    $q$SELECT * FROM public.get_entitlements(auth.uid())$q$, '42501');
END $$;
RESET ROLE;

SET ROLE service_role;
SELECT set_config('request.jwt.claims', '{"role":"service_role"}', false);

-- 1. no subscription at all: free row, not entitled
DO $$
DECLARE r record;
BEGIN
  SELECT * INTO STRICT r FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('no subscription -> free (got %s)', r),
    r.plan_key = 'free' AND r.plan_name = 'Free' AND r.subscription_id IS NULL AND r.subscription_status IS NULL
    AND r.price_id IS NULL AND NOT r.entitled AND NOT r.past_due AND r.limits_configured
    AND r.max_quotes = 5 AND r.max_clients = 3 AND NOT r.pdf_export AND NOT r.bulk_operations);
END $$;

RESET ROLE;
-- Alice: an active Pro subscription (older) and a past_due Premium one (newer).
INSERT INTO public.subscriptions (id, stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
                                  created, current_period_start, current_period_end, cancel_at_period_end) VALUES
  ('a4000000-0000-4000-8000-000000000001', 'sub_test_alice_pro', 'aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice',
   'price_test_pro_month', 'active', now() - interval '30 days', '2030-01-01T00:00:00Z', '2030-02-01T00:00:00Z', true),
  ('a4000000-0000-4000-8000-000000000002', 'sub_test_alice_premium', 'aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice',
   'price_test_premium_month', 'past_due', now() - interval '1 day', NULL, NULL, false);
SET ROLE service_role;

-- 2. active preferred over a newer past_due; limits from the product's plan_limits row
DO $$
DECLARE r record;
BEGIN
  SELECT * INTO STRICT r FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('active Pro beats newer past_due Premium (got %s)', r),
    r.plan_key = 'prod_test_pro' AND r.plan_name = 'Pro'
    AND r.subscription_id = 'a4000000-0000-4000-8000-000000000001'
    AND r.stripe_subscription_id = 'sub_test_alice_pro' AND r.subscription_status = 'active'
    AND r.price_id = 'price_test_pro_month' AND r.unit_amount = 1900 AND r.currency = 'usd' AND r."interval" = 'month'
    AND r.current_period_start = '2030-01-01T00:00:00Z' AND r.current_period_end = '2030-02-01T00:00:00Z'
    AND r.cancel_at_period_end AND r.entitled AND NOT r.past_due AND r.limits_configured
    AND r.max_quotes = 100 AND r.max_clients = -1 AND r.pdf_export AND r.email_quotes AND r.bulk_operations
    AND NOT r.custom_branding AND NOT r.analytics AND NOT r.api_access);
END $$;

-- 3. the active one is canceled: past_due Premium applies, Premium has no plan_limits row
RESET ROLE;
UPDATE public.subscriptions SET status = 'canceled' WHERE id = 'a4000000-0000-4000-8000-000000000001';
SET ROLE service_role;
DO $$
DECLARE r record;
BEGIN
  SELECT * INTO STRICT r FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('past_due entitles with a warning; a paid product without limits -> paid_default, never free (got %s)', r),
    r.plan_key = 'prod_test_premium' AND r.plan_name = 'Premium'
    AND r.subscription_id = 'a4000000-0000-4000-8000-000000000002' AND r.subscription_status = 'past_due'
    AND r.entitled AND r.past_due AND NOT r.limits_configured
    AND r.max_quotes = -1 AND r.max_clients = -1 AND r.pdf_export AND r.bulk_operations);
END $$;

-- 4. Bob: active Pro (older) vs trialing Premium (newer): both entitle, the newest wins;
--    statuses that do not entitle are ignored even when newer.
RESET ROLE;
INSERT INTO public.subscriptions (id, stripe_subscription_id, user_id, stripe_price_id, status, created) VALUES
  ('b4000000-0000-4000-8000-000000000001', 'sub_test_bob_pro', 'bbbbbbbb-0000-4000-8000-00000000000b',
   'price_test_pro_month', 'active', now() - interval '10 days'),
  ('b4000000-0000-4000-8000-000000000002', 'sub_test_bob_premium', 'bbbbbbbb-0000-4000-8000-00000000000b',
   'price_test_premium_month', 'trialing', now() - interval '5 days'),
  ('b4000000-0000-4000-8000-000000000003', 'sub_test_bob_unpaid', 'bbbbbbbb-0000-4000-8000-00000000000b',
   'price_test_pro_month', 'unpaid', now() - interval '1 day'),
  ('b4000000-0000-4000-8000-000000000004', 'sub_test_bob_incomplete', 'bbbbbbbb-0000-4000-8000-00000000000b',
   'price_test_pro_month', 'incomplete', now());
SET ROLE service_role;
DO $$
DECLARE r record;
BEGIN
  SELECT * INTO STRICT r FROM public.get_entitlements('bbbbbbbb-0000-4000-8000-00000000000b');
  PERFORM pg_temp.ok(format('newest of active/trialing wins (got %s)', r),
    r.subscription_id = 'b4000000-0000-4000-8000-000000000002' AND r.subscription_status = 'trialing'
    AND r.entitled AND NOT r.past_due AND NOT r.limits_configured AND r.plan_key = 'prod_test_premium');
END $$;

-- 5. only non-entitling statuses left: free, not entitled
RESET ROLE;
UPDATE public.subscriptions SET status = 'canceled'
 WHERE id IN ('b4000000-0000-4000-8000-000000000001', 'b4000000-0000-4000-8000-000000000002');
UPDATE public.subscriptions SET status = 'paused' WHERE id = 'a4000000-0000-4000-8000-000000000002';
SET ROLE service_role;
DO $$
DECLARE r record;
BEGIN
  SELECT * INTO STRICT r FROM public.get_entitlements('bbbbbbbb-0000-4000-8000-00000000000b');
  PERFORM pg_temp.ok(format('canceled/unpaid/incomplete -> free (got %s)', r),
    r.plan_key = 'free' AND r.subscription_id IS NULL AND NOT r.entitled AND r.limits_configured AND r.max_quotes = 5);
  SELECT * INTO STRICT r FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('canceled/paused -> free (got %s)', r),
    r.plan_key = 'free' AND NOT r.entitled AND NOT r.past_due);
END $$;

-- 6. a free-plan subscription row (no Stripe id, no price)
RESET ROLE;
INSERT INTO public.subscriptions (id, user_id, status) VALUES
  ('a4000000-0000-4000-8000-000000000003', 'aaaaaaaa-0000-4000-8000-00000000000a', 'active');
SET ROLE service_role;
DO $$
DECLARE r record;
BEGIN
  SELECT * INTO STRICT r FROM public.get_entitlements('aaaaaaaa-0000-4000-8000-00000000000a');
  PERFORM pg_temp.ok(format('free-plan subscription row -> free limits, configured (got %s)', r),
    r.plan_key = 'free' AND r.plan_name = 'Free' AND r.subscription_id = 'a4000000-0000-4000-8000-000000000003'
    AND r.stripe_subscription_id IS NULL AND r.entitled AND r.limits_configured AND r.max_quotes = 5);
END $$;

-- 7. the free and paid_default rows are protected; and should the free row vanish anyway,
--    the documented defaults apply
RESET ROLE;
DO $$
DECLARE r record;
BEGIN
  PERFORM pg_temp.expect_error('deleting the paid_default plan_limits row',
    $q$DELETE FROM public.plan_limits WHERE plan_key = 'paid_default'$q$, '23001');
  PERFORM pg_temp.expect_error('renaming the paid_default plan_limits row',
    $q$UPDATE public.plan_limits SET plan_key = 'paid' WHERE plan_key = 'paid_default'$q$, '23001');
  PERFORM pg_temp.expect_error('deleting the free plan_limits row',
    $q$DELETE FROM public.plan_limits WHERE plan_key = 'free'$q$, '23001');
  PERFORM pg_temp.expect_error('renaming the free plan_limits row',
    $q$UPDATE public.plan_limits SET plan_key = 'gratis' WHERE plan_key = 'free'$q$, '23001');
  PERFORM pg_temp.expect_rows('editing the free plan_limits row is allowed',
    $q$UPDATE public.plan_limits SET max_clients = 4 WHERE plan_key = 'free'$q$, 1);
  SELECT * INTO STRICT r FROM public.get_entitlements('bbbbbbbb-0000-4000-8000-00000000000b');
  PERFORM pg_temp.ok('an edited free row is used', r.max_clients = 4);

  ALTER TABLE public.plan_limits DISABLE TRIGGER plan_limits_protect_free;
  DELETE FROM public.plan_limits WHERE plan_key = 'free';
  SELECT * INTO STRICT r FROM public.get_entitlements('bbbbbbbb-0000-4000-8000-00000000000b');
  PERFORM pg_temp.ok(format('missing free row -> hard defaults, limits_configured = false (got %s)', r),
    r.plan_key = 'free' AND NOT r.limits_configured AND r.max_quotes = 5 AND r.max_clients = 3
    AND NOT (r.pdf_export OR r.email_quotes OR r.custom_branding OR r.analytics OR r.api_access OR r.bulk_operations));
  INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients) VALUES ('free', 'Free', 5, 3);
  ALTER TABLE public.plan_limits ENABLE TRIGGER plan_limits_protect_free;
END $$;

RESET ROLE;
SELECT 'ok';
