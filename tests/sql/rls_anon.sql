-- rls_anon.sql: anon reads nothing private and writes nothing; only the public catalog is readable.
--
-- Run against a freshly migrated database, as the superuser that applied the migrations:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/rls_anon.sql
-- A failed check raises an exception whose message starts with 'FAIL:'; success ends with 'ok'.

\ir lib/checks.sql

-- Two users with fixed ids (re-runnable: previous rows and everything cascading from them go first).
DELETE FROM auth.users WHERE id IN ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000b');
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'alice@example.test', '{"full_name":"Alice A","avatar_url":"https://img.test/a.png"}'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'bob@example.test',   '{"full_name":"Bob B"}');

-- Private data for both users (as the superuser).
INSERT INTO public.company_settings (id, company_name) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'Alice Co');
INSERT INTO public.clients (user_id, name) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'A1'), ('bbbbbbbb-0000-4000-8000-00000000000b', 'B1');
INSERT INTO public.line_items (user_id, name, cost) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'Mowing', 40);
INSERT INTO public.quotes (user_id, client_name, quote_number, quote_year, quote_seq)
VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 'B1', 'Q-2025-0001', 2025, 1);
INSERT INTO public.quote_counters (user_id, year, last_seq) VALUES ('bbbbbbbb-0000-4000-8000-00000000000b', 2025, 1);
INSERT INTO public.user_roles (user_id, role) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'admin');
INSERT INTO public.user_usage (user_id, month_year, quotes_count) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', '2025-01', 1);
INSERT INTO public.performance_metrics (function_name, route, method, status, duration_ms)
VALUES ('quote-processor', '/functions/v1/quote-processor', 'GET', 200, 3);
INSERT INTO public.stripe_products (id, name) VALUES ('prod_test_pro', 'Pro');
INSERT INTO public.stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval")
VALUES ('price_test_pro_month', 'prod_test_pro', 'usd', 1900, 'recurring', 'month');
INSERT INTO public.stripe_customers (user_id, stripe_customer_id) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_test_alice');
INSERT INTO public.subscriptions (user_id, stripe_subscription_id, stripe_price_id, status)
VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'sub_test_alice', 'price_test_pro_month', 'active');
INSERT INTO public.payment_methods (id, user_id) VALUES ('pm_test_alice', 'aaaaaaaa-0000-4000-8000-00000000000a');
INSERT INTO public.billing_history (id, user_id, amount, status) VALUES ('in_test_alice', 'aaaaaaaa-0000-4000-8000-00000000000a', 1900, 'paid');
INSERT INTO public.subscription_changes (user_id, change_type) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'plan_change');
INSERT INTO public.stripe_webhook_events (stripe_event_id, event_type, stripe_customer_id) VALUES ('evt_test_1', 'invoice.paid', 'cus_test_alice');

-- Catalog: anon holds no write privilege anywhere in public, and SELECT only on the public catalog.
DO $$
DECLARE
  bad text;
BEGIN
  SELECT string_agg(format('%s(%s)', c.relname, p.priv), ', ') INTO bad
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(priv)
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND has_table_privilege('anon', c.oid, p.priv)
    AND NOT (p.priv = 'SELECT' AND c.relname IN ('stripe_products', 'stripe_prices', 'plan_limits'));
  PERFORM pg_temp.ok(format('anon holds unexpected table privileges: %s', bad), bad IS NULL);

  SELECT string_agg(c.relname, ', ') INTO bad
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind = 'S'
    AND (has_sequence_privilege('anon', c.oid, 'USAGE') OR has_sequence_privilege('anon', c.oid, 'UPDATE'));
  PERFORM pg_temp.ok(format('anon can use sequences: %s', bad), bad IS NULL);
END $$;

SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false);

-- Every table of schema public: anon reads nothing and deletes nothing, except the public catalog.
DO $$
DECLARE
  t record;
  n bigint;
BEGIN
  FOR t IN
    SELECT c.oid::regclass AS rel, c.relname
    FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
    WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p')
    ORDER BY c.relname
  LOOP
    IF t.relname IN ('stripe_products', 'stripe_prices', 'plan_limits') THEN
      EXECUTE format('SELECT count(*) FROM %s', t.rel) INTO n;
      PERFORM pg_temp.ok(format('anon reads the public catalog table %s', t.relname), n > 0);
    ELSE
      BEGIN
        EXECUTE format('SELECT count(*) FROM %s', t.rel) INTO n;
      EXCEPTION WHEN insufficient_privilege THEN
        n := 0;
      END;
      PERFORM pg_temp.ok(format('anon sees %s row(s) of private table %s', n, t.relname), n = 0);
    END IF;
    PERFORM pg_temp.expect_no_effect(format('anon deletes from %s', t.relname), format('DELETE FROM %s', t.rel));
  END LOOP;

  PERFORM pg_temp.expect_error('anon inserts a client',
    $q$INSERT INTO public.clients (user_id, name) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'x')$q$, '42501');
  PERFORM pg_temp.expect_error('anon inserts a subscription',
    $q$INSERT INTO public.subscriptions (user_id, status) VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'active')$q$, '42501');
  PERFORM pg_temp.expect_error('anon edits the free plan',
    $q$UPDATE public.plan_limits SET max_quotes = -1$q$, '42501');
  PERFORM pg_temp.expect_error('anon edits a price',
    $q$UPDATE public.stripe_prices SET unit_amount = 0$q$, '42501');
END $$;

-- anon with a forged sub claim but without the authenticated role still reads nothing private.
SELECT set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"anon"}', false);
DO $$
BEGIN
  PERFORM pg_temp.expect_error('anon with a sub claim reads clients', $q$SELECT * FROM public.clients$q$, '42501');
  PERFORM pg_temp.expect_error('anon with a sub claim reads subscriptions', $q$SELECT * FROM public.subscriptions$q$, '42501');
END $$;

RESET ROLE;
SELECT 'ok';
