-- 0009_supabase_dropin.sql
--
-- What a real Supabase deployment needs beyond 0001-0008:
--
--   1. Paid plans without limits of their own. A subscription to a paid product that has no
--      plan_limits row (a Stripe product created without limit metadata, as the original
--      system created its Premium plan) gets the operator's `paid_default` row, never the
--      free plan. A product whose subscribed price costs nothing still gets `free`.
--   2. The cache of the JWKS fetched from `jwks_url`: components live for one request, so the
--      fetched document, when it was fetched and when a fetch was last tried (the floor on
--      refetches) live here, shared by every instance.
--
-- Applied inside one transaction by the migration runner.

-- ---------------------------------------------------------------------------------------------
-- 1. paid_default
-- ---------------------------------------------------------------------------------------------

-- Seeded generously: a paying customer keeps every feature until the operator decides
-- otherwise (UPDATE plan_limits SET ... WHERE plan_key = 'paid_default').
INSERT INTO public.plan_limits
  (plan_key, name, max_quotes, max_clients,
   pdf_export, email_quotes, custom_branding, analytics, api_access, bulk_operations)
VALUES
  ('paid_default', 'Paid plan', -1, -1, true, true, true, true, true, true)
ON CONFLICT (plan_key) DO NOTHING;
COMMENT ON TABLE public.plan_limits IS
  'Single source of plan limits: plan_key = ''free'', ''paid_default'' (paid products without a row of their own) or a Stripe product id; -1 means unlimited.';

-- Both fallbacks can be edited, never removed or renamed.
CREATE OR REPLACE FUNCTION public.protect_free_plan_limits() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF OLD.plan_key IN ('free', 'paid_default') AND (TG_OP = 'DELETE' OR NEW.plan_key <> OLD.plan_key) THEN
    RAISE EXCEPTION 'the ''%'' plan_limits row cannot be deleted or renamed', OLD.plan_key
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END
$$;

-- The plan_limits row that applies to a subscription to p_product_id at p_unit_amount: the
-- product's own row; else `free` for no product or a price of 0; else `paid_default`.
CREATE FUNCTION public.plan_limits_key(p_product_id text, p_unit_amount bigint)
RETURNS text
  LANGUAGE sql
  STABLE
  SET search_path = public, pg_temp
AS $$
  SELECT CASE
           WHEN p_product_id IS NULL THEN 'free'
           WHEN EXISTS (SELECT 1 FROM public.plan_limits l WHERE l.plan_key = p_product_id) THEN p_product_id
           WHEN p_unit_amount = 0 THEN 'free'
           ELSE 'paid_default'
         END
$$;
COMMENT ON FUNCTION public.plan_limits_key(text, bigint) IS
  'The plan_limits row of a subscription: the product''s own, else free (no product, or a price of 0), else paid_default.';
REVOKE ALL ON FUNCTION public.plan_limits_key(text, bigint) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.plan_limits_key(text, bigint) TO authenticated, service_role;

-- As in 0008, with the fallback above. limits_configured stays false for a paid product
-- without its own row (subscription-status says paid_default applies).
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
    (lim.plan_key IS NOT NULL AND lim.plan_key <> 'paid_default'
       AND (own.plan_key IS NOT NULL OR sub.stripe_product_id IS NULL OR sub.unit_amount = 0)),
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
  LEFT JOIN public.plan_limits lim ON lim.plan_key =
    coalesce(own.plan_key,
             CASE WHEN sub.stripe_product_id IS NOT NULL AND sub.unit_amount IS DISTINCT FROM 0
                  THEN 'paid_default' ELSE 'free' END)
$$;

-- As in 0008: the daily email cap of the plan that applies (paid_default included).
CREATE OR REPLACE FUNCTION public.claim_quote_emails(p_count integer)
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
  SELECT coalesce(applies.max_emails_per_day, 50) INTO v_limit
  FROM public.entitlements_of(v_user) e
  LEFT JOIN public.plan_limits applies ON applies.plan_key =
    CASE WHEN e.entitled THEN public.plan_limits_key(nullif(e.plan_key, 'free'), e.unit_amount) ELSE 'free' END;

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

-- ---------------------------------------------------------------------------------------------
-- 2. The JWKS fetched from jwks_url
-- ---------------------------------------------------------------------------------------------
-- One row per JWKS URL. `document` is the last document fetched and parsed successfully
-- (`fetched_at`); `attempted_at` is when a request last claimed a fetch, whatever came of it:
-- a request refetches only when it can move attempted_at forward past the floor, in one
-- statement, so a stream of tokens with unknown kids causes one fetch per floor interval
-- however many instances see them.

CREATE TABLE public.jwks_cache (
  url          text PRIMARY KEY,
  document     text,
  fetched_at   timestamptz,
  attempted_at timestamptz NOT NULL DEFAULT now(),
  last_error   text,
  fetches      bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE public.jwks_cache IS
  'The JWKS fetched from jwks_url (signing keys of Supabase Auth), refetched on an unknown kid at most once per floor interval.';
ALTER TABLE public.jwks_cache ENABLE ROW LEVEL SECURITY;
CREATE POLICY jwks_cache_service_all ON public.jwks_cache
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY jwks_cache_admin_select ON public.jwks_cache
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
REVOKE ALL ON TABLE public.jwks_cache FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.jwks_cache TO authenticated;   -- admins only (RLS)
GRANT ALL ON TABLE public.jwks_cache TO service_role;
