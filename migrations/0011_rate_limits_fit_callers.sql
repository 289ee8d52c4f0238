-- 0011_rate_limits_fit_callers.sql: rate limits and blocks that fit who is calling.
--
--   1. Signed-in users are limited and blocked per user. A block earned by an address
--      (anonymous requests over the limit, an injection-looking query string sent without a
--      token, e.g. by a cross-site <img>) applies to anonymous requests from that address only,
--      never to the signed-in users behind it; only a block an administrator added by hand
--      (reason 'manual') holds for everyone at the address.
--   2. Stripe's deliveries are verified before the gate and, once verified, never reach it
--      (no budget spent, nothing to trip). Requests to webhook-handler that are not verified
--      deliveries spend a budget of their own, per address: rate_limiting/failed_webhook_signatures.
--
-- The guide's `UPDATE security_configuration ... WHERE config_category = 'rate_limiting' AND
-- config_key = 'global_settings'` still sets the budget of users and addresses; the new row is
-- beside it, so that statement (which replaces the whole value) leaves it alone.
--
-- 0006 is applied on existing deployments and never edited: security_gate is replaced here.

INSERT INTO public.security_configuration (config_category, config_key, config_value) VALUES
  ('rate_limiting', 'failed_webhook_signatures', '{"requestsPerMinute": 30, "burstLimit": 60}')
ON CONFLICT (config_category, config_key) DO NOTHING;

-- The gate with the budget to spend named: p_budget is the config_key of a rate_limiting row
-- ('global_settings' for users and addresses, 'failed_webhook_signatures' for unverified
-- webhook requests). Blocks: those of p_client_key; those of p_address_key only when they were
-- added by hand or the caller is not a signed-in user. Returns as 0006's gate.
CREATE FUNCTION public.security_gate(p_client_key text, p_address_key text, p_rate_limited boolean, p_budget text)
RETURNS TABLE (status integer, code text, retry_after integer, threat_settings jsonb, rate_limit jsonb)
  LANGUAGE plpgsql AS $$
DECLARE
  v_limits  jsonb;
  v_threats jsonb;
  v_block   record;
  v_rate    numeric;
  v_burst   numeric;
  v_period  interval;
  v_row     record;
  v_user    boolean := p_client_key LIKE 'user:%';
BEGIN
  SELECT max(config_value::text) FILTER (WHERE config_category = 'rate_limiting' AND config_key = p_budget)::jsonb,
         coalesce(max(config_value::text) FILTER (WHERE config_category = 'threat_detection' AND config_key = 'global_settings')::jsonb, '{}')
    INTO v_limits, v_threats
    FROM public.security_configuration
   WHERE config_key IN ('global_settings', p_budget) AND enabled AND config_category IN ('rate_limiting', 'threat_detection');
  SELECT b.reason, b.expires_at INTO v_block
    FROM public.security_blocks b
   WHERE (b.client_key = p_client_key
          OR (b.client_key = p_address_key AND (NOT v_user OR b.reason = 'manual')))
     AND (b.expires_at IS NULL OR b.expires_at > now())
   ORDER BY b.expires_at DESC NULLS FIRST
   LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT CASE WHEN v_block.reason = 'rate_limit' THEN 429 ELSE 403 END,
                        CASE WHEN v_block.reason = 'rate_limit' THEN 'rate_limit_blocked' ELSE 'client_blocked' END,
                        CASE WHEN v_block.expires_at IS NULL THEN 3600
                             ELSE greatest(1, ceil(extract(epoch FROM v_block.expires_at - now())))::integer END,
                        v_threats, v_limits;
    RETURN;
  END IF;

  v_rate := (v_limits->>'requestsPerMinute')::numeric;
  v_burst := (v_limits->>'burstLimit')::numeric;
  IF NOT p_rate_limited OR v_limits IS NULL OR v_rate IS NULL OR v_rate <= 0 OR v_burst IS NULL OR v_burst < 1 THEN
    RETURN QUERY SELECT 0, NULL::text, 0, v_threats, v_limits;
    RETURN;
  END IF;
  v_period := make_interval(secs => 60.0 / v_rate);
  PERFORM set_config('synchronous_commit', 'off', true);

  -- GCRA, one statement (as in 0006): concurrent requests of one key queue on its row.
  INSERT INTO public.security_rate_limits AS r (client_key, tat, allowed, last_allowed)
  VALUES (p_client_key, now() + v_period, 1, true)
  ON CONFLICT (client_key) DO UPDATE
    SET last_allowed = greatest(r.tat, now()) + v_period - now() <= v_burst * v_period,
        tat = CASE WHEN greatest(r.tat, now()) + v_period - now() <= v_burst * v_period
                   THEN greatest(r.tat, now()) + v_period ELSE r.tat END,
        allowed = r.allowed + CASE WHEN greatest(r.tat, now()) + v_period - now() <= v_burst * v_period THEN 1 ELSE 0 END,
        rejected = r.rejected + CASE WHEN greatest(r.tat, now()) + v_period - now() <= v_burst * v_period THEN 0 ELSE 1 END,
        updated_at = now()
  RETURNING r.last_allowed, r.tat INTO v_row;

  IF v_row.last_allowed THEN
    RETURN QUERY SELECT 0, NULL::text, 0, v_threats, v_limits;
  ELSE
    RETURN QUERY SELECT 429, 'rate_limited',
                        greatest(1, ceil(extract(epoch FROM v_row.tat + v_period - now() - v_burst * v_period)))::integer,
                        v_threats, v_limits;
  END IF;
END $$;

-- 0006's three-argument gate (components built before this migration) now has the same
-- block rules, with the users' and addresses' budget.
CREATE OR REPLACE FUNCTION public.security_gate(p_client_key text, p_address_key text, p_rate_limited boolean)
RETURNS TABLE (status integer, code text, retry_after integer, threat_settings jsonb, rate_limit jsonb)
  LANGUAGE sql AS $$
  SELECT * FROM public.security_gate(p_client_key, p_address_key, p_rate_limited, 'global_settings')
$$;

REVOKE ALL ON FUNCTION public.security_gate(text, text, boolean, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.security_gate(text, text, boolean, text) TO service_role;
