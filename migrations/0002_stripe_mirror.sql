-- 0002_stripe_mirror.sql
--
-- A mirror of the Stripe objects the backend needs (customers, products, prices, subscriptions,
-- payment methods, invoices), the webhook event log, the single plan-limit source
-- (`plan_limits`) and the entitlement rule (`get_entitlements`).
--
-- Stripe ids are natural keys; subscriptions have a surrogate uuid key and a unique, nullable
-- Stripe id (free plans are rows without a Stripe id). Every mirrored object carries
-- last_event_created / last_event_id so the webhook handler can ignore out-of-order events.
--
-- Users can READ their own billing rows. They can never WRITE subscriptions, customers,
-- payment methods, invoices, plan limits or webhook events: only the service role (the webhook
-- handler) writes these. Applied inside one transaction by the migration runner.

-- ---------------------------------------------------------------------------------------------
-- 1. Tables
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.stripe_customers (
  user_id            uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  stripe_customer_id text NOT NULL UNIQUE,
  email              text,
  metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
  deleted            boolean NOT NULL DEFAULT false,
  last_event_created timestamptz,
  last_event_id      text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.stripe_products (
  id                 text PRIMARY KEY,               -- Stripe product id (prod_...)
  active             boolean NOT NULL DEFAULT true,
  name               text,
  description        text,
  metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_event_created timestamptz,
  last_event_id      text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.stripe_prices (
  id                 text PRIMARY KEY,               -- Stripe price id (price_...)
  stripe_product_id  text NOT NULL REFERENCES public.stripe_products (id),
  active             boolean NOT NULL DEFAULT true,
  currency           text NOT NULL CHECK (char_length(currency) = 3),
  unit_amount        bigint CHECK (unit_amount >= 0), -- minor units; null for tiered/custom prices
  type               text CHECK (type IN ('one_time', 'recurring')),
  "interval"         text CHECK ("interval" IN ('day', 'week', 'month', 'year')),
  interval_count     integer NOT NULL DEFAULT 1 CHECK (interval_count > 0),
  trial_period_days  integer CHECK (trial_period_days >= 0),
  metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_event_created timestamptz,
  last_event_id      text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_prices_product_idx ON public.stripe_prices (stripe_product_id);

CREATE TABLE public.subscriptions (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stripe_subscription_id text UNIQUE,                 -- null for free plans
  user_id                uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  stripe_customer_id     text,
  stripe_price_id        text REFERENCES public.stripe_prices (id),
  status                 public.subscription_status NOT NULL,
  quantity               integer NOT NULL DEFAULT 1 CHECK (quantity >= 0),
  cancel_at_period_end   boolean NOT NULL DEFAULT false,
  created                timestamptz NOT NULL DEFAULT now(),
  current_period_start   timestamptz,
  current_period_end     timestamptz,
  ended_at               timestamptz,
  cancel_at              timestamptz,
  canceled_at            timestamptz,
  trial_start            timestamptz,
  trial_end              timestamptz,
  metadata               jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_event_created     timestamptz,
  last_event_id          text,
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user_id_idx ON public.subscriptions (user_id);
CREATE INDEX subscriptions_user_status_idx ON public.subscriptions (user_id, status);
CREATE INDEX subscriptions_customer_idx ON public.subscriptions (stripe_customer_id);

CREATE TABLE public.payment_methods (
  id                 text PRIMARY KEY,               -- Stripe payment method id (pm_...)
  user_id            uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  stripe_customer_id text,
  type               text NOT NULL DEFAULT 'card',
  card_brand         text,
  card_last4         text CHECK (card_last4 ~ '^[0-9]{4}$'),
  card_exp_month     integer CHECK (card_exp_month BETWEEN 1 AND 12),
  card_exp_year      integer,
  is_default         boolean NOT NULL DEFAULT false,
  detached_at        timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_methods_user_id_idx ON public.payment_methods (user_id);
CREATE INDEX payment_methods_customer_idx ON public.payment_methods (stripe_customer_id);

CREATE TABLE public.billing_history (
  id                 text PRIMARY KEY,               -- Stripe invoice id (in_...)
  user_id            uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  stripe_customer_id text,
  subscription_id    text,                           -- Stripe subscription id
  amount             bigint NOT NULL,                -- minor units
  currency           text NOT NULL DEFAULT 'usd' CHECK (char_length(currency) = 3),
  status             text NOT NULL,
  description        text,
  invoice_url        text,
  period_start       timestamptz,
  period_end         timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_history_user_created_idx ON public.billing_history (user_id, created_at DESC);
CREATE INDEX billing_history_customer_idx ON public.billing_history (stripe_customer_id);

CREATE TABLE public.subscription_changes (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id         uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  subscription_id text,                              -- Stripe subscription id
  change_type     text NOT NULL CHECK (change_type IN (
                    'plan_change', 'payment_succeeded', 'payment_failed', 'proration',
                    'cancellation', 'reactivation', 'status_change')),
  old_value       jsonb,
  new_value       jsonb,
  "timestamp"     timestamptz NOT NULL DEFAULT now(),
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_changes_user_ts_idx ON public.subscription_changes (user_id, "timestamp" DESC);
CREATE INDEX subscription_changes_subscription_idx ON public.subscription_changes (subscription_id);

CREATE TABLE public.stripe_webhook_events (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stripe_event_id    text NOT NULL UNIQUE,
  event_type         text NOT NULL,
  stripe_customer_id text,                           -- the customer the event concerns
  event_created      timestamptz,
  processed          boolean NOT NULL DEFAULT false,
  processed_at       timestamptz,
  error_message      text,
  payload            jsonb,
  received_at        timestamptz NOT NULL DEFAULT now(),
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_webhook_events_unprocessed_idx ON public.stripe_webhook_events (received_at)
  WHERE NOT processed;
CREATE INDEX stripe_webhook_events_customer_idx ON public.stripe_webhook_events (stripe_customer_id, processed);
CREATE INDEX stripe_webhook_events_type_idx ON public.stripe_webhook_events (event_type, received_at);

-- THE plan-limit source. plan_key is 'free' or a Stripe product id. -1 = unlimited.
CREATE TABLE public.plan_limits (
  plan_key        text PRIMARY KEY,
  name            text NOT NULL,
  max_quotes      integer NOT NULL CHECK (max_quotes >= -1),
  max_clients     integer NOT NULL CHECK (max_clients >= -1),
  pdf_export      boolean NOT NULL DEFAULT false,
  email_quotes    boolean NOT NULL DEFAULT false,
  custom_branding boolean NOT NULL DEFAULT false,
  analytics       boolean NOT NULL DEFAULT false,
  api_access      boolean NOT NULL DEFAULT false,
  bulk_operations boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.plan_limits IS
  'Single source of plan limits: plan_key = ''free'' or a Stripe product id; -1 means unlimited.';

INSERT INTO public.plan_limits
  (plan_key, name, max_quotes, max_clients,
   pdf_export, email_quotes, custom_branding, analytics, api_access, bulk_operations)
VALUES
  ('free', 'Free', 5, 3, false, false, false, false, false, false);

-- The 'free' row is the fallback of every entitlement: it can be edited, never removed or renamed.
CREATE FUNCTION public.protect_free_plan_limits() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF OLD.plan_key = 'free' AND (TG_OP = 'DELETE' OR NEW.plan_key <> 'free') THEN
    RAISE EXCEPTION 'the ''free'' plan_limits row cannot be deleted or renamed'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.protect_free_plan_limits() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER plan_limits_protect_free
  BEFORE UPDATE OR DELETE ON public.plan_limits
  FOR EACH ROW EXECUTE FUNCTION public.protect_free_plan_limits();

-- updated_at triggers (public.set_updated_at() from 0001)
CREATE TRIGGER stripe_customers_set_updated_at BEFORE UPDATE ON public.stripe_customers
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER stripe_products_set_updated_at BEFORE UPDATE ON public.stripe_products
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER stripe_prices_set_updated_at BEFORE UPDATE ON public.stripe_prices
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER subscriptions_set_updated_at BEFORE UPDATE ON public.subscriptions
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER payment_methods_set_updated_at BEFORE UPDATE ON public.payment_methods
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER billing_history_set_updated_at BEFORE UPDATE ON public.billing_history
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER plan_limits_set_updated_at BEFORE UPDATE ON public.plan_limits
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- 2. Entitlements: the one rule used by subscription-status and by every quota check
-- ---------------------------------------------------------------------------------------------
--
-- Subscription considered: the user's subscriptions with status active, trialing or past_due;
-- active/trialing preferred over past_due, then the newest `created`.
--   * found, its product has a plan_limits row  -> that row, limits_configured = true
--   * found, its product has no plan_limits row -> the 'free' row, limits_configured = false
--   * found, no price/product (a free-plan row) -> the 'free' row, limits_configured = true
--   * none                                      -> the 'free' row, subscription columns null,
--                                                  entitled = false
-- plan_key is the subscribed product id (or 'free'); plan_name the product's name, else the
-- plan_limits name. `entitled` = an entitling subscription exists (past_due entitles with a
-- warning: past_due = true). Should the 'free' row be missing, the documented free defaults
-- (5 quotes, 3 clients, no features) apply and limits_configured = false.
-- entitlements_of(): the one definition of "which plan applies". Invoker rights and plain
-- SQL so the planner inlines it (no per-call planning); RLS applies to the subscription it
-- reads, so a user can only ever see their own plan through it.
CREATE FUNCTION public.entitlements_of(p_user_id uuid)
RETURNS TABLE (
  plan_key               text,
  plan_name              text,
  subscription_id        uuid,
  stripe_subscription_id text,
  subscription_status    text,
  price_id               text,
  unit_amount            bigint,
  currency               text,
  "interval"             text,
  current_period_start   timestamptz,
  current_period_end     timestamptz,
  cancel_at_period_end   boolean,
  entitled               boolean,
  past_due               boolean,
  limits_configured      boolean,
  max_quotes             integer,
  max_clients            integer,
  pdf_export             boolean,
  email_quotes           boolean,
  custom_branding        boolean,
  analytics              boolean,
  api_access             boolean,
  bulk_operations        boolean
)
  LANGUAGE sql
  STABLE
AS $$
  WITH sub AS (
    SELECT s.id,
           s.stripe_subscription_id,
           s.status,
           s.stripe_price_id,
           s.current_period_start,
           s.current_period_end,
           s.cancel_at_period_end,
           pr.unit_amount,
           pr.currency,
           pr."interval",
           pr.stripe_product_id,
           prod.name AS product_name
    FROM public.subscriptions s
    LEFT JOIN public.stripe_prices   pr   ON pr.id   = s.stripe_price_id
    LEFT JOIN public.stripe_products prod ON prod.id = pr.stripe_product_id
    WHERE s.user_id = p_user_id
      AND s.status IN ('active', 'trialing', 'past_due')
    ORDER BY (s.status = 'past_due'), s.created DESC, s.id
    LIMIT 1
  )
  SELECT
    coalesce(sub.stripe_product_id, 'free'),
    coalesce(sub.product_name, lim.name, 'Free'),
    sub.id,
    sub.stripe_subscription_id,
    sub.status::text,
    sub.stripe_price_id,
    sub.unit_amount,
    sub.currency,
    sub."interval",
    sub.current_period_start,
    sub.current_period_end,
    sub.cancel_at_period_end,
    (sub.id IS NOT NULL),
    coalesce(sub.status = 'past_due', false),
    (lim.plan_key IS NOT NULL
       AND (own.plan_key IS NOT NULL OR sub.stripe_product_id IS NULL)),
    coalesce(lim.max_quotes, 5),
    coalesce(lim.max_clients, 3),
    coalesce(lim.pdf_export, false),
    coalesce(lim.email_quotes, false),
    coalesce(lim.custom_branding, false),
    coalesce(lim.analytics, false),
    coalesce(lim.api_access, false),
    coalesce(lim.bulk_operations, false)
  FROM (SELECT 1) AS one
  LEFT JOIN sub ON true
  LEFT JOIN public.plan_limits own ON own.plan_key = sub.stripe_product_id
  LEFT JOIN public.plan_limits lim ON lim.plan_key = coalesce(own.plan_key, 'free')
$$;
REVOKE ALL ON FUNCTION public.entitlements_of(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.entitlements_of(uuid) TO authenticated, service_role;

CREATE FUNCTION public.get_entitlements(p_user_id uuid)
RETURNS TABLE (
  plan_key               text,
  plan_name              text,
  subscription_id        uuid,
  stripe_subscription_id text,
  subscription_status    text,
  price_id               text,
  unit_amount            bigint,
  currency               text,
  "interval"             text,
  current_period_start   timestamptz,
  current_period_end     timestamptz,
  cancel_at_period_end   boolean,
  entitled               boolean,
  past_due               boolean,
  limits_configured      boolean,
  max_quotes             integer,
  max_clients            integer,
  pdf_export             boolean,
  email_quotes           boolean,
  custom_branding        boolean,
  analytics              boolean,
  api_access             boolean,
  bulk_operations        boolean
)
  LANGUAGE sql
  STABLE
  SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
  SELECT * FROM public.entitlements_of(p_user_id)
$$;
COMMENT ON FUNCTION public.get_entitlements(uuid) IS
  'Plan, subscription and limits of a user (one row). Service only; see 0002_stripe_mirror.sql.';
REVOKE ALL ON FUNCTION public.get_entitlements(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.get_entitlements(uuid) TO service_role;

-- ---------------------------------------------------------------------------------------------
-- 3. Row Level Security
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.stripe_customers      ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.stripe_products       ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.stripe_prices         ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.subscriptions         ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.payment_methods       ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.billing_history       ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.subscription_changes  ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.stripe_webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.plan_limits           ENABLE ROW LEVEL SECURITY;

-- own rows, read only
CREATE POLICY stripe_customers_select_own ON public.stripe_customers
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY subscriptions_select_own ON public.subscriptions
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY payment_methods_select_own ON public.payment_methods
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY billing_history_select_own ON public.billing_history
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY subscription_changes_select_own ON public.subscription_changes
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));

-- public catalog, read only
CREATE POLICY stripe_products_select_all ON public.stripe_products
  FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY stripe_prices_select_all ON public.stripe_prices
  FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY plan_limits_select_all ON public.plan_limits
  FOR SELECT TO anon, authenticated USING (true);

-- plan limits: admins manage
CREATE POLICY plan_limits_admin_insert ON public.plan_limits
  FOR INSERT TO authenticated WITH CHECK ((SELECT public.is_admin()));
CREATE POLICY plan_limits_admin_update ON public.plan_limits
  FOR UPDATE TO authenticated
  USING ((SELECT public.is_admin())) WITH CHECK ((SELECT public.is_admin()));
CREATE POLICY plan_limits_admin_delete ON public.plan_limits
  FOR DELETE TO authenticated USING ((SELECT public.is_admin()));

-- webhook events: admins read (diagnostics), no user access
CREATE POLICY stripe_webhook_events_admin_select ON public.stripe_webhook_events
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));

-- the service role (BYPASSRLS anyway) has explicit full access for Supabase tooling
CREATE POLICY stripe_customers_service_all ON public.stripe_customers
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY stripe_products_service_all ON public.stripe_products
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY stripe_prices_service_all ON public.stripe_prices
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY subscriptions_service_all ON public.subscriptions
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY payment_methods_service_all ON public.payment_methods
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY billing_history_service_all ON public.billing_history
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY subscription_changes_service_all ON public.subscription_changes
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY stripe_webhook_events_service_all ON public.stripe_webhook_events
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY plan_limits_service_all ON public.plan_limits
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------------------------------------
-- 4. Table privileges
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON TABLE
  public.stripe_customers, public.stripe_products, public.stripe_prices, public.subscriptions,
  public.payment_methods, public.billing_history, public.subscription_changes,
  public.stripe_webhook_events, public.plan_limits
FROM PUBLIC, anon, authenticated;

GRANT SELECT ON TABLE public.stripe_products, public.stripe_prices, public.plan_limits TO anon;
GRANT SELECT ON TABLE
  public.stripe_customers, public.stripe_products, public.stripe_prices, public.subscriptions,
  public.payment_methods, public.billing_history, public.subscription_changes,
  public.stripe_webhook_events,                                 -- admins only (RLS)
  public.plan_limits
TO authenticated;
GRANT INSERT, UPDATE, DELETE ON TABLE public.plan_limits TO authenticated;  -- admins only (RLS)

GRANT ALL ON TABLE
  public.stripe_customers, public.stripe_products, public.stripe_prices, public.subscriptions,
  public.payment_methods, public.billing_history, public.subscription_changes,
  public.stripe_webhook_events, public.plan_limits
TO service_role;

-- ---------------------------------------------------------------------------------------------
-- 5. What a signed-in user may ask about their own billing
-- ---------------------------------------------------------------------------------------------
-- These run inside the user's own transaction (role authenticated, claims set), so
-- subscription-status never needs the service role. They only ever look at auth.uid().

CREATE FUNCTION public.my_entitlements()
RETURNS TABLE (
  plan_key text, plan_name text, subscription_id uuid, stripe_subscription_id text,
  subscription_status text, price_id text, unit_amount bigint, currency text, "interval" text,
  current_period_start timestamptz, current_period_end timestamptz, cancel_at_period_end boolean,
  entitled boolean, past_due boolean, limits_configured boolean, max_quotes integer,
  max_clients integer, pdf_export boolean, email_quotes boolean, custom_branding boolean,
  analytics boolean, api_access boolean, bulk_operations boolean
)
  LANGUAGE sql
  STABLE
AS $$
  SELECT * FROM public.entitlements_of(auth.uid()) WHERE auth.uid() IS NOT NULL
$$;
COMMENT ON FUNCTION public.my_entitlements() IS
  'get_entitlements() of the caller (auth.uid()); no row without a signed-in user.';
REVOKE ALL ON FUNCTION public.my_entitlements() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.my_entitlements() TO authenticated, service_role;

-- Webhook events of the caller's own Stripe customer that were received but not processed:
-- the count and the most recent few (type, id, error), never anyone else's.
CREATE FUNCTION public.my_webhook_backlog(p_limit integer DEFAULT 5)
RETURNS TABLE (total bigint, stripe_event_id text, event_type text, received_at timestamptz, error_message text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH mine AS (
    SELECT e.stripe_event_id, e.event_type, e.received_at, e.error_message
    FROM public.stripe_webhook_events e
    JOIN public.stripe_customers c ON c.stripe_customer_id = e.stripe_customer_id
    WHERE c.user_id = auth.uid() AND auth.uid() IS NOT NULL AND NOT e.processed
  )
  SELECT (SELECT count(*) FROM mine), m.stripe_event_id, m.event_type, m.received_at, m.error_message
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
    SELECT * FROM mine ORDER BY received_at DESC LIMIT greatest(0, least(p_limit, 50))
  ) m ON true;
END
$$;
COMMENT ON FUNCTION public.my_webhook_backlog(integer) IS
  'Unprocessed webhook events of the caller''s own Stripe customer (count + latest).';
REVOKE ALL ON FUNCTION public.my_webhook_backlog(integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.my_webhook_backlog(integer) TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- 6. The quote quota, enforced with the insert itself
-- ---------------------------------------------------------------------------------------------
-- Every new quote (not templates) counts in this month's usage, and an insert over the plan's
-- max_quotes fails with SQLSTATE QK402 (answered 402 by the API). The usage row's lock makes
-- concurrent creates take their turn, so the limit holds exactly; a refused insert rolls back
-- its count. No user can bypass it or call it: it is a trigger.

CREATE FUNCTION public.enforce_quote_quota()
RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  v_limit integer;
  v_month text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM');
  v_count integer;
BEGIN
  IF NEW.is_template THEN
    RETURN NEW;
  END IF;
  SELECT e.max_quotes INTO v_limit FROM public.entitlements_of(NEW.user_id) e;
  INSERT INTO public.user_usage AS u (user_id, month_year, quotes_count)
  VALUES (NEW.user_id, v_month, 1)
  ON CONFLICT (user_id, month_year) DO UPDATE SET quotes_count = u.quotes_count + 1, updated_at = now()
  RETURNING u.quotes_count INTO v_count;
  IF v_limit IS NOT NULL AND v_limit <> -1 AND v_count > v_limit THEN
    RAISE EXCEPTION 'quote limit reached: % of % this month', v_count - 1, v_limit
      USING ERRCODE = 'QK402', DETAIL = format('limit=%s used=%s', v_limit, v_count - 1);
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.enforce_quote_quota() FROM PUBLIC, anon, authenticated;
CREATE TRIGGER quotes_enforce_quota
  BEFORE INSERT ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.enforce_quote_quota();
