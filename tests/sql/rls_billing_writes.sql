-- rls_billing_writes.sql: Users read their own billing rows and can never write subscriptions, usage, plan limits or Stripe data.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_billing_writes.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

-- Billing data for both users (as the superuser, i.e. what the webhook handler would write).
INSERT INTO public.stripe_products (id, name, active) VALUES
  ('prod_test_pro', 'Pro', true),
  ('prod_test_premium', 'Premium', true);
INSERT INTO public.stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval") VALUES
  ('price_test_pro_month', 'prod_test_pro', 'usd', 1900, 'recurring', 'month'),
  ('price_test_premium_month', 'prod_test_premium', 'usd', 4900, 'recurring', 'month');
INSERT INTO public.stripe_customers (user_id, stripe_customer_id, email) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice', 'alice@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'cus_test_bob', 'bob@example.test');
INSERT INTO public.subscriptions (id, stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status) VALUES
  ('a4000000-0000-4000-8000-000000000001', NULL, 'aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice', NULL, 'active'),
  ('b4000000-0000-4000-8000-000000000001', 'sub_test_bob', 'bbbbbbbb-0000-4000-8000-00000000000b', 'cus_test_bob',
   'price_test_premium_month', 'active');
INSERT INTO public.payment_methods (id, user_id, stripe_customer_id, card_brand, card_last4) VALUES
  ('pm_test_alice', 'aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice', 'visa', '4242'),
  ('pm_test_bob',   'bbbbbbbb-0000-4000-8000-00000000000b', 'cus_test_bob',   'visa', '1881');
INSERT INTO public.billing_history (id, user_id, stripe_customer_id, subscription_id, amount, status) VALUES
  ('in_test_bob', 'bbbbbbbb-0000-4000-8000-00000000000b', 'cus_test_bob', 'sub_test_bob', 4900, 'paid');
INSERT INTO public.subscription_changes (user_id, subscription_id, change_type) VALUES
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'sub_test_bob', 'payment_succeeded');
INSERT INTO public.stripe_webhook_events (stripe_event_id, event_type, stripe_customer_id, payload) VALUES
  ('evt_test_alice', 'customer.subscription.updated', 'cus_test_alice', '{}'),
  ('evt_test_bob',   'invoice.paid',                  'cus_test_bob',   '{}');
INSERT INTO public.user_usage (user_id, month_year, quotes_count) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), 5),
  ('bbbbbbbb-0000-4000-8000-00000000000b', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), 2);

-- ------------------------------------------------------------------ as Alice (free plan, quota used up)
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated"}', false);

DO $$
BEGIN
  -- reads: own rows only
  PERFORM pg_temp.ok('Alice sees only her own subscription',
    (SELECT count(*) = 1 AND bool_and(user_id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.subscriptions));
  PERFORM pg_temp.ok('Alice sees only her own stripe_customers row',
    (SELECT count(*) = 1 AND bool_and(stripe_customer_id = 'cus_test_alice') FROM public.stripe_customers));
  PERFORM pg_temp.ok('Alice sees only her own payment methods',
    (SELECT count(*) = 1 AND bool_and(id = 'pm_test_alice') FROM public.payment_methods));
  PERFORM pg_temp.ok('Alice sees no billing_history of Bob', (SELECT count(*) = 0 FROM public.billing_history));
  PERFORM pg_temp.ok('Alice sees no subscription_changes of Bob', (SELECT count(*) = 0 FROM public.subscription_changes));
  PERFORM pg_temp.ok('Alice sees no webhook events (not even her own customer''s)',
    (SELECT count(*) = 0 FROM public.stripe_webhook_events));
  PERFORM pg_temp.ok('Alice sees only her own usage row',
    (SELECT count(*) = 1 AND bool_and(user_id = 'aaaaaaaa-0000-4000-8000-00000000000a') FROM public.user_usage));
  PERFORM pg_temp.ok('Alice can read the public catalog and plan limits',
    (SELECT count(*) = 2 FROM public.stripe_products) AND (SELECT count(*) = 2 FROM public.stripe_prices)
    AND (SELECT count(*) = 1 FROM public.plan_limits WHERE plan_key = 'free'));

  -- subscriptions: no self-granted paid plan
  PERFORM pg_temp.expect_error('Alice inserts an active premium subscription for herself',
    $q$INSERT INTO public.subscriptions (user_id, stripe_price_id, status)
       VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'price_test_premium_month', 'active')$q$, '42501');
  PERFORM pg_temp.expect_error('Alice upgrades her own subscription',
    $q$UPDATE public.subscriptions SET stripe_price_id = 'price_test_premium_month'
       WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, '42501');
  PERFORM pg_temp.expect_error('Alice extends her own subscription period',
    $q$UPDATE public.subscriptions SET current_period_end = now() + interval '10 years'$q$, '42501');
  PERFORM pg_temp.expect_error('Alice deletes her own subscription',
    $q$DELETE FROM public.subscriptions WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$q$, '42501');
  PERFORM pg_temp.expect_error('Alice upserts a subscription',
    $q$INSERT INTO public.subscriptions (stripe_subscription_id, user_id, status)
       VALUES ('sub_test_bob', 'aaaaaaaa-0000-4000-8000-00000000000a', 'active')
       ON CONFLICT (stripe_subscription_id) DO UPDATE SET user_id = EXCLUDED.user_id$q$, '42501');

  -- usage counters: read only
  PERFORM pg_temp.expect_error('Alice resets her usage counters',
    $q$UPDATE public.user_usage SET quotes_count = 0$q$, '42501');
  PERFORM pg_temp.expect_error('Alice deletes her usage row',
    $q$DELETE FROM public.user_usage$q$, '42501');
  PERFORM pg_temp.expect_error('Alice inserts a usage row for next month',
    $q$INSERT INTO public.user_usage (user_id, month_year)
       VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', '2999-01')$q$, '42501');

  -- plan limits: readable, not writable by a normal user
  PERFORM pg_temp.expect_error('Alice inserts an unlimited plan for a product',
    $q$INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients)
       VALUES ('prod_test_pro', 'Pro', -1, -1)$q$, '42501', '%row-level security%');
  PERFORM pg_temp.expect_rows('Alice makes the free plan unlimited',
    $q$UPDATE public.plan_limits SET max_quotes = -1, max_clients = -1, bulk_operations = true$q$, 0);
  PERFORM pg_temp.expect_rows('Alice deletes plan limits',
    $q$DELETE FROM public.plan_limits$q$, 0);

  -- Stripe customers, payment methods, invoices, changes, events: no writes
  PERFORM pg_temp.expect_error('Alice maps herself to Bob''s Stripe customer',
    $q$UPDATE public.stripe_customers SET stripe_customer_id = 'cus_test_bob2'$q$, '42501');
  PERFORM pg_temp.expect_error('Alice inserts a stripe_customers row',
    $q$INSERT INTO public.stripe_customers (user_id, stripe_customer_id)
       VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_other')$q$, '42501');
  PERFORM pg_temp.expect_error('Alice deletes her stripe_customers row',
    $q$DELETE FROM public.stripe_customers$q$, '42501');
  PERFORM pg_temp.expect_error('Alice inserts a payment method',
    $q$INSERT INTO public.payment_methods (id, user_id) VALUES ('pm_x', 'aaaaaaaa-0000-4000-8000-00000000000a')$q$, '42501');
  PERFORM pg_temp.expect_error('Alice inserts an invoice',
    $q$INSERT INTO public.billing_history (id, user_id, amount, status)
       VALUES ('in_x', 'aaaaaaaa-0000-4000-8000-00000000000a', 1, 'paid')$q$, '42501');
  PERFORM pg_temp.expect_error('Alice inserts a subscription change',
    $q$INSERT INTO public.subscription_changes (user_id, change_type)
       VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'plan_change')$q$, '42501');
  PERFORM pg_temp.expect_error('Alice marks webhook events processed',
    $q$UPDATE public.stripe_webhook_events SET processed = true$q$, '42501');
  PERFORM pg_temp.expect_error('Alice writes a product',
    $q$UPDATE public.stripe_products SET active = false$q$, '42501');
  PERFORM pg_temp.expect_error('Alice writes a price',
    $q$UPDATE public.stripe_prices SET unit_amount = 0$q$, '42501');
END $$;

-- ------------------------------------------------------------------ verify as the superuser
RESET ROLE;
DO $$
BEGIN
  PERFORM pg_temp.ok('subscriptions unchanged',
    (SELECT count(*) = 2 FROM public.subscriptions)
    AND (SELECT stripe_price_id IS NULL FROM public.subscriptions WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'));
  PERFORM pg_temp.ok('usage counters unchanged',
    (SELECT quotes_count = 5 FROM public.user_usage WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'));
  PERFORM pg_temp.ok('plan_limits unchanged',
    (SELECT count(*) = 2 FROM public.plan_limits)
    AND (SELECT max_quotes = 5 AND max_clients = 3 AND NOT bulk_operations FROM public.plan_limits WHERE plan_key = 'free'));
  PERFORM pg_temp.ok('stripe_customers unchanged',
    (SELECT stripe_customer_id = 'cus_test_alice' FROM public.stripe_customers
      WHERE user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'));
END $$;

RESET ROLE;
SELECT 'ok';
