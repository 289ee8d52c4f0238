-- 0008_abuse_limits.sql: closing ways to get more than was paid for or to use the platform
-- against others.
--
--   1. The quote quota counts every row that becomes a quote, on INSERT and on UPDATE (a
--      template turned into a quote counted nothing before).
--   2. Stripe customer links: the first link of a user (and of a customer) is kept; a later
--      event claiming another one is recorded in stripe_link_conflicts for review. Checkout
--      links by email only to a unique, confirmed address.
--   3. Entitlements end with the subscription's period (plus a grace for late renewals).
--   4. Unprocessed webhook events tell their customer a classified reason, never the
--      database's text (which stays with the administrators).
--   5. Quote emails: a daily cap per user (plan_limits.max_emails_per_day), claimed atomically
--      before anything is sent.
--
-- 0001-0007 are applied on existing deployments and are never edited: what changes here is
-- replaced here (CREATE OR REPLACE, or DROP and CREATE where a signature changes).

-- ---------------------------------------------------------------------------------------------
-- 1. The quote quota on every row that becomes a quote
-- ---------------------------------------------------------------------------------------------
-- A row becomes a quote when a non-template is inserted, or when a template is updated to
-- is_template = false (PATCH {"is_template": false}). Both count in this month's usage under
-- the usage row's lock and fail with QK402 (402 quota_exceeded) over the plan's max_quotes;
-- the refused statement rolls back its count and leaves the row as it was.

CREATE OR REPLACE FUNCTION public.enforce_quote_quota()
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
  IF TG_OP = 'UPDATE' AND NOT OLD.is_template THEN
    RETURN NEW;  -- it was a quote already, and was counted when it became one
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

DROP TRIGGER quotes_enforce_quota ON public.quotes;
CREATE TRIGGER quotes_enforce_quota
  BEFORE INSERT OR UPDATE OF is_template ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.enforce_quote_quota();

-- ---------------------------------------------------------------------------------------------
-- 2. Customer links: first link wins, conflicts are recorded
-- ---------------------------------------------------------------------------------------------

-- Supabase's auth.users records when an address was confirmed; the plain-PostgreSQL bootstrap
-- of 0001 did not have the column. Added only where absent (on Supabase it exists and
-- belongs to the auth service).
DO $email_confirmed$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = 'auth.users'::regclass AND attname = 'email_confirmed_at' AND NOT attisdropped
  ) THEN
    ALTER TABLE auth.users ADD COLUMN email_confirmed_at timestamptz;
  END IF;
END
$email_confirmed$;

-- The user a checkout's email may be linked to: the one user with that address (compared
-- case-insensitively), and only once they have confirmed it. Anyone can type any address
-- into a payment page; only a confirmed, unique one identifies a user.
CREATE FUNCTION public.auth_user_by_verified_email(p_email text)
RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT CASE WHEN count(*) = 1 AND bool_and(u.email_confirmed_at IS NOT NULL) THEN (array_agg(u.id))[1] END
  FROM auth.users u
  WHERE lower(u.email) = lower(p_email) AND p_email IS NOT NULL AND p_email <> ''
$$;
REVOKE ALL ON FUNCTION public.auth_user_by_verified_email(text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.auth_user_by_verified_email(text) TO service_role;
-- auth_users_by_email() (0003) is no longer called; it stays so that components deployed
-- before this migration keep working until they are replaced.

-- An event that named a user (or a customer) already linked otherwise. The existing link is
-- kept and the event acknowledged; an administrator decides (and, if the new link is right,
-- changes stripe_customers and replays the customer's dead-letter events).
CREATE TABLE public.stripe_link_conflicts (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stripe_event_id      text NOT NULL,
  event_type           text NOT NULL,
  -- How the event named the user: checkout's client_reference_id, supabase_user_id metadata,
  -- or the checkout's email.
  matched_by           text NOT NULL CHECK (matched_by IN ('client_reference_id', 'metadata', 'email')),
  claimed_user_id      uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  claimed_customer_id  text NOT NULL,
  -- What is linked now: the claimed user's customer, and the claimed customer's user.
  linked_customer_id   text,
  linked_user_id       uuid REFERENCES auth.users (id) ON DELETE SET NULL,
  email                text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  resolved_at          timestamptz,
  resolved_by          text,
  resolution_note      text CHECK (char_length(resolution_note) <= 1000),
  UNIQUE (stripe_event_id, claimed_customer_id)
);
CREATE INDEX stripe_link_conflicts_open_idx ON public.stripe_link_conflicts (created_at) WHERE resolved_at IS NULL;
CREATE INDEX stripe_link_conflicts_user_idx ON public.stripe_link_conflicts (claimed_user_id);

ALTER TABLE public.stripe_link_conflicts ENABLE ROW LEVEL SECURITY;
CREATE POLICY stripe_link_conflicts_service_all ON public.stripe_link_conflicts
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY stripe_link_conflicts_admin_select ON public.stripe_link_conflicts
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
REVOKE ALL ON TABLE public.stripe_link_conflicts FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.stripe_link_conflicts TO authenticated;   -- admins only (RLS)
GRANT ALL ON TABLE public.stripe_link_conflicts TO service_role;

-- ---------------------------------------------------------------------------------------------
-- 3. Entitlements end with the subscription's period
-- ---------------------------------------------------------------------------------------------
-- As in 0002, plus: a subscription whose current_period_end lies more than 72 hours in the
-- past no longer entitles, whatever its status says. A renewal moves the period forward in
-- Stripe's own customer.subscription.updated; Stripe retries an undelivered event for up to
-- three days, so a subscription still ending 72 hours ago was not renewed (or its events are
-- lost, which the webhook monitor reports). A period of NULL (free-plan rows) does not end.

CREATE OR REPLACE FUNCTION public.entitlements_of(p_user_id uuid)
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
      AND (s.current_period_end IS NULL OR s.current_period_end > now() - interval '72 hours')
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

-- ---------------------------------------------------------------------------------------------
-- 4. Why an event is unprocessed, in words a customer may read
-- ---------------------------------------------------------------------------------------------
-- error_message keeps the handler's own text (database errors included) for the
-- administrators' views; failure_reason is its classification, the only thing a user sees.

ALTER TABLE public.stripe_webhook_events
  ADD COLUMN failure_reason text CHECK (failure_reason IN
    ('billing_data_rejected', 'customer_not_linked', 'temporarily_unavailable', 'processing_failed'));

-- Events that failed before this migration, classified from their text.
UPDATE public.stripe_webhook_events
SET failure_reason = CASE
      WHEN error_message ~ 'query failed \[(23|22)' THEN 'billing_data_rejected'
      WHEN error_message ~ 'query failed \[(40001|40P01|55P03|57014)\]' THEN 'temporarily_unavailable'
      WHEN error_message ~ '(is not linked to a user|cannot be linked to a user)' THEN 'customer_not_linked'
      WHEN error_message ~ '( has no |unknown status|is not a limit)' THEN 'billing_data_rejected'
      ELSE 'processing_failed'
    END
WHERE NOT processed AND error_message IS NOT NULL;

-- As in 0002, with `reason` (the classification) in place of the raw error_message.
DROP FUNCTION public.my_webhook_backlog(integer);
CREATE FUNCTION public.my_webhook_backlog(p_limit integer DEFAULT 5)
RETURNS TABLE (total bigint, stripe_event_id text, event_type text, received_at timestamptz, reason text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH mine AS (
    SELECT e.stripe_event_id, e.event_type, e.received_at,
           coalesce(e.failure_reason, 'processing_failed') AS reason
    FROM public.stripe_webhook_events e
    JOIN public.stripe_customers c ON c.stripe_customer_id = e.stripe_customer_id
    WHERE c.user_id = auth.uid() AND auth.uid() IS NOT NULL AND NOT e.processed
  )
  SELECT (SELECT count(*) FROM mine), m.stripe_event_id, m.event_type, m.received_at, m.reason
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
    SELECT * FROM mine ORDER BY received_at DESC LIMIT greatest(0, least(p_limit, 50))
  ) m ON true;
END
$$;
COMMENT ON FUNCTION public.my_webhook_backlog(integer) IS
  'Unprocessed webhook events of the caller''s own Stripe customer (count + latest, with a classified reason).';
REVOKE ALL ON FUNCTION public.my_webhook_backlog(integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.my_webhook_backlog(integer) TO authenticated, service_role;
-- ---------------------------------------------------------------------------------------------
-- 5. Quote emails: a daily cap per user
-- ---------------------------------------------------------------------------------------------
-- Quote emails go out from the platform's own address, so each user may send at most their
-- plan's max_emails_per_day a UTC day (-1: no cap). quote-pdf-generator claims the emails of
-- a request in the request's transaction before sending any: either all of them fit under the
-- cap and are counted, or none is sent (429). An attempt counts whether or not the provider
-- then delivers it (a timed-out send may well have gone out).

ALTER TABLE public.plan_limits
  ADD COLUMN max_emails_per_day integer NOT NULL DEFAULT 50 CHECK (max_emails_per_day >= -1);

CREATE TABLE public.quote_email_daily_usage (
  user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  day        date NOT NULL,                   -- UTC
  emails     integer NOT NULL DEFAULT 0 CHECK (emails >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, day)
);
ALTER TABLE public.quote_email_daily_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY quote_email_daily_usage_select_own ON public.quote_email_daily_usage
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_email_daily_usage_service_all ON public.quote_email_daily_usage
  FOR ALL TO service_role USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE public.quote_email_daily_usage FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.quote_email_daily_usage TO authenticated;
GRANT ALL ON TABLE public.quote_email_daily_usage TO service_role;

-- Count p_count emails of the caller (auth.uid()) today if they fit under the cap. The day's
-- row is locked, so concurrent requests of one user take turns and the cap holds exactly.
-- Users may call it (it only ever adds to their own count); they cannot lower the count.
CREATE FUNCTION public.claim_quote_emails(p_count integer)
RETURNS TABLE (granted boolean, sent_today integer, daily_limit integer, resets_at timestamptz)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  v_user  uuid := auth.uid();
  v_day   date := (now() AT TIME ZONE 'UTC')::date;
  v_reset timestamptz := ((now() AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC';
  v_limit integer;
  v_sent  integer;
BEGIN
  IF v_user IS NULL THEN
    RAISE EXCEPTION 'claim_quote_emails needs a signed-in user' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_count IS NULL OR p_count < 1 THEN
    RAISE EXCEPTION 'p_count must be a positive integer, got %', coalesce(p_count::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT coalesce(own.max_emails_per_day, fallback.max_emails_per_day, 50) INTO v_limit
  FROM public.entitlements_of(v_user) e
  LEFT JOIN public.plan_limits own  ON own.plan_key = e.plan_key
  LEFT JOIN public.plan_limits fallback ON fallback.plan_key = 'free';

  INSERT INTO public.quote_email_daily_usage (user_id, day) VALUES (v_user, v_day)
  ON CONFLICT (user_id, day) DO NOTHING;
  SELECT u.emails INTO v_sent FROM public.quote_email_daily_usage u
  WHERE u.user_id = v_user AND u.day = v_day
  FOR UPDATE;

  IF v_limit <> -1 AND v_sent + p_count > v_limit THEN
    RETURN QUERY SELECT false, v_sent, v_limit, v_reset;
    RETURN;
  END IF;
  UPDATE public.quote_email_daily_usage u SET emails = u.emails + p_count, updated_at = now()
  WHERE u.user_id = v_user AND u.day = v_day
  RETURNING u.emails INTO v_sent;
  RETURN QUERY SELECT true, v_sent, v_limit, v_reset;
END
$$;
REVOKE ALL ON FUNCTION public.claim_quote_emails(integer) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.claim_quote_emails(integer) TO authenticated, service_role;
