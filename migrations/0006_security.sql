-- 0006_security: the security middleware's state and the security-hardening function's records.
--
--   security_configuration  settings the middleware reads on every request (rate_limiting,
--                           threat_detection) and the response to each incident type
--   security_rate_limits    GCRA state per client key (one row per key)
--   security_blocks         blocked client keys (user or address), with expiry
--   security_incidents      what the middleware saw (windowed: one row per key, type and minute)
--   security_audit_log      who changed what (configuration, blocks, incidents, scans)
--   security_scan_reports   results of security-hardening's scans
--
-- The middleware calls two functions, each one statement: security_gate() on every request
-- (blocks + rate limit + the threat settings) and security_record_incident() when it sees
-- something. Both run with the connection's own (service) login; neither is executable by
-- anon or authenticated.

-- ---------------------------------------------------------------------------------------------
-- 1. Configuration
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.security_configuration (
  id               bigserial PRIMARY KEY,
  config_category  text NOT NULL CHECK (config_category IN
                     ('rate_limiting', 'ip_filtering', 'threat_detection', 'authentication',
                      'data_protection', 'compliance', 'incident_response')),
  config_key       text NOT NULL CHECK (length(config_key) BETWEEN 1 AND 100),
  config_value     jsonb NOT NULL,
  enabled          boolean NOT NULL DEFAULT true,
  last_modified_by uuid,
  last_modified_at timestamptz NOT NULL DEFAULT now(),
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (config_category, config_key)
);

-- The deployment guide's settings; the guide's UPDATE statements change these rows and the
-- middleware reads them on the next request.
INSERT INTO public.security_configuration (config_category, config_key, config_value) VALUES
  ('rate_limiting', 'global_settings',
   '{"requestsPerMinute": 100, "burstLimit": 200, "blockDuration": 300}'),
  ('threat_detection', 'global_settings',
   '{"sqlInjectionDetection": true, "xssDetection": true, "commandInjectionDetection": true}'),
  -- What happens on each incident type (the guide's security_incidents rows). block_seconds
  -- of a temporary_block is the rate limit's blockDuration.
  ('incident_response', 'rate_limit_exceeded',
   '{"threat_level": "medium", "auto_response": "temporary_block"}'),
  ('incident_response', 'injection_attempt',
   '{"threat_level": "critical", "auto_response": "immediate_block", "block_seconds": 3600}'),
  ('incident_response', 'unauthorized_access',
   '{"threat_level": "high", "auto_response": "alert_admin"}');

-- ---------------------------------------------------------------------------------------------
-- 2. Rate-limit state and blocks
-- ---------------------------------------------------------------------------------------------

-- GCRA ("virtual scheduling"): `tat` is the theoretical arrival time of the next request.
-- A request is allowed when max(tat, now) + T - now <= burst * T, with T = 60 s / rate;
-- allowing it moves tat to max(tat, now) + T. Equivalent to a token bucket of `burst`
-- tokens refilled at `rate` per minute, with one row and no clean-up race.
-- UNLOGGED: this is the hottest row of the system (every request of a client updates it) and
-- losing it in a crash only gives clients a fresh allowance, so it writes no WAL.
CREATE UNLOGGED TABLE public.security_rate_limits (
  client_key   text PRIMARY KEY,
  tat          timestamptz NOT NULL,
  allowed      bigint NOT NULL DEFAULT 0,
  rejected     bigint NOT NULL DEFAULT 0,
  last_allowed boolean NOT NULL DEFAULT true,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per blocked key: `user:<uuid>` or `ip:<address>`. A block is active until
-- expires_at (NULL = until removed). Adding a block to a blocked key extends it.
CREATE TABLE public.security_blocks (
  client_key  text PRIMARY KEY CHECK (client_key ~ '^(user:[0-9a-f-]{36}|ip:.+)$'),
  reason      text NOT NULL CHECK (reason IN ('rate_limit', 'threat', 'manual')),
  note        text CHECK (length(note) <= 1000),
  incident_id uuid,
  created_by  uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz
);
CREATE INDEX security_blocks_expires_idx ON public.security_blocks (expires_at);

-- ---------------------------------------------------------------------------------------------
-- 3. Incidents
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.security_incidents (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_type        text NOT NULL CHECK (event_type IN
                      ('suspicious_activity', 'failed_authentication', 'unauthorized_access',
                       'data_breach_attempt', 'injection_attempt', 'rate_limit_exceeded',
                       'privilege_escalation', 'configuration_change')),
  threat_level      text NOT NULL CHECK (threat_level IN ('low', 'medium', 'high', 'critical')),
  auto_response     text CHECK (auto_response IN ('temporary_block', 'immediate_block', 'alert_admin', 'log_only')),
  client_key        text,
  source_ip         text,
  user_agent        text,
  user_id           uuid,
  function_name     text,
  request_path      text,
  rule_ids          text[] NOT NULL DEFAULT '{}',
  details           jsonb NOT NULL DEFAULT '{}',
  -- Logging is itself rate limited: one row per (client key, event type, minute); repeats
  -- within the minute only count.
  window_key        text UNIQUE,
  occurrences       integer NOT NULL DEFAULT 1,
  last_seen_at      timestamptz NOT NULL DEFAULT now(),
  status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  admin_notified_at timestamptz,
  resolved_at       timestamptz,
  resolved_by       uuid,
  resolution_note   text,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_incidents_created_idx ON public.security_incidents (created_at DESC);
CREATE INDEX security_incidents_type_level_idx ON public.security_incidents (event_type, threat_level);
CREATE INDEX security_incidents_open_alert_idx ON public.security_incidents (created_at)
  WHERE auto_response = 'alert_admin' AND admin_notified_at IS NULL;

-- A row inserted without a client (as the deployment guide does:
--   INSERT INTO security_incidents (event_type, threat_level, auto_response) VALUES (...))
-- declares how that event type is answered from now on: it becomes the incident_response
-- setting the middleware applies. The row itself stays as the record of that decision.
CREATE FUNCTION public.security_incident_declares_response() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.client_key IS NULL AND NEW.source_ip IS NULL AND NEW.user_id IS NULL
     AND NEW.auto_response IS NOT NULL THEN
    INSERT INTO public.security_configuration (config_category, config_key, config_value)
    VALUES ('incident_response', NEW.event_type,
            jsonb_build_object('threat_level', NEW.threat_level, 'auto_response', NEW.auto_response))
    ON CONFLICT (config_category, config_key) DO UPDATE
      SET config_value = security_configuration.config_value
                         || jsonb_build_object('threat_level', NEW.threat_level, 'auto_response', NEW.auto_response),
          last_modified_at = now();
    NEW.details := NEW.details || '{"declares_response": true}';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER security_incidents_declare_response
  BEFORE INSERT ON public.security_incidents
  FOR EACH ROW EXECUTE FUNCTION public.security_incident_declares_response();

-- ---------------------------------------------------------------------------------------------
-- 4. Audit log and scan reports
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.security_audit_log (
  id               bigserial PRIMARY KEY,
  event_type       text NOT NULL,
  event_category   text NOT NULL CHECK (event_category IN
                     ('authentication', 'authorization', 'data_access', 'configuration_change',
                      'system_event', 'security_event')),
  user_id          uuid,
  actor            text,
  source_ip        text,
  resource_type    text,
  resource_id      text,
  action_performed text NOT NULL,
  result           text NOT NULL CHECK (result IN ('success', 'failure', 'partial')),
  details          jsonb NOT NULL DEFAULT '{}',
  risk_level       text CHECK (risk_level IN ('low', 'medium', 'high', 'critical')),
  function_name    text,
  request_id       text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_audit_log_created_idx ON public.security_audit_log (created_at DESC);

-- High and critical incidents are also security events in the audit log (once per row, not
-- per repeat within its window).
CREATE FUNCTION public.security_incident_audit() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.threat_level IN ('high', 'critical') THEN
    INSERT INTO public.security_audit_log
      (event_type, event_category, user_id, actor, source_ip, resource_type, resource_id,
       action_performed, result, details, risk_level, function_name)
    VALUES (NEW.event_type, 'security_event', NEW.user_id, NEW.client_key, NEW.source_ip,
            'security_incident', NEW.id::text, coalesce(NEW.auto_response, 'log_only'),
            CASE WHEN NEW.auto_response IN ('temporary_block', 'immediate_block') THEN 'success' ELSE 'partial' END,
            jsonb_build_object('rule_ids', NEW.rule_ids, 'request_path', NEW.request_path),
            NEW.threat_level, NEW.function_name);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER security_incidents_audit
  AFTER INSERT ON public.security_incidents
  FOR EACH ROW EXECUTE FUNCTION public.security_incident_audit();

CREATE TABLE public.security_scan_reports (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  scan_type         text NOT NULL DEFAULT 'comprehensive',
  security_score    integer NOT NULL CHECK (security_score BETWEEN 0 AND 100),
  total_tests       integer NOT NULL,
  passed_tests      integer NOT NULL,
  failed_tests      integer NOT NULL,
  warning_tests     integer NOT NULL,
  skipped_tests     integer NOT NULL DEFAULT 0,
  critical_issues   integer NOT NULL,
  high_issues       integer NOT NULL,
  scan_results      jsonb NOT NULL DEFAULT '[]',
  execution_time_ms double precision NOT NULL,
  started_by        text,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_scan_reports_created_idx ON public.security_scan_reports (created_at DESC);

-- ---------------------------------------------------------------------------------------------
-- 5. The middleware's two statements
-- ---------------------------------------------------------------------------------------------

-- A setting's value, or the given default when the row is missing or disabled. (PL/pgSQL so
-- that its plan is cached: a SQL function that is not inlined is planned again on every call.)
CREATE FUNCTION public.security_setting(p_category text, p_key text, p_default jsonb) RETURNS jsonb
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT config_value FROM public.security_configuration
                    WHERE config_category = p_category AND config_key = p_key AND enabled), p_default);
END $$;

-- Record an incident (at most one row per key, type and minute; at most 600 new rows a minute
-- in all, so a flood of distinct keys cannot grow the table without bound) and apply the
-- response configured for its type. Returns the response applied and, for blocks, until when.
CREATE FUNCTION public.security_record_incident(
  p_event_type text, p_client_key text, p_source_ip text, p_user_id uuid, p_function text,
  p_path text, p_user_agent text, p_rule_ids text[], p_details jsonb
) RETURNS TABLE (incident_id uuid, auto_response text, blocked_until timestamptz)
  LANGUAGE plpgsql AS $$
DECLARE
  v_policy   jsonb := public.security_setting('incident_response', p_event_type,
                        '{"threat_level": "medium", "auto_response": "log_only"}');
  v_response text := coalesce(v_policy->>'auto_response', 'log_only');
  v_level    text := coalesce(v_policy->>'threat_level', 'medium');
  v_window   text := p_client_key || '|' || p_event_type || '|' || to_char(now(), 'YYYYMMDDHH24MI');
  v_id       uuid;
  v_seconds  integer;
  v_until    timestamptz;
BEGIN
  IF v_level NOT IN ('low', 'medium', 'high', 'critical') THEN v_level := 'medium'; END IF;
  IF v_response NOT IN ('temporary_block', 'immediate_block', 'alert_admin', 'log_only') THEN
    v_response := 'log_only';
  END IF;

  UPDATE public.security_incidents i
     SET occurrences = i.occurrences + 1, last_seen_at = now(),
         threat_level = v_level, auto_response = v_response,
         rule_ids = coalesce((SELECT array_agg(DISTINCT r) FROM unnest(i.rule_ids || p_rule_ids) r), '{}')
   WHERE i.window_key = v_window
  RETURNING i.id INTO v_id;
  IF v_id IS NULL THEN
    IF (SELECT count(*) FROM public.security_incidents
         WHERE created_at > now() - interval '1 minute' AND window_key IS NOT NULL) < 600 THEN
      INSERT INTO public.security_incidents
        (event_type, threat_level, auto_response, client_key, source_ip, user_agent, user_id,
         function_name, request_path, rule_ids, details, window_key)
      VALUES (p_event_type, v_level, v_response, p_client_key, p_source_ip, left(p_user_agent, 300),
              p_user_id, p_function, left(p_path, 500), coalesce(p_rule_ids, '{}'),
              coalesce(p_details, '{}'), v_window)
      ON CONFLICT (window_key) DO UPDATE
        SET occurrences = security_incidents.occurrences + 1, last_seen_at = now()
      RETURNING id INTO v_id;
    END IF;
  END IF;

  -- Only users and addresses can be blocked (never the service role).
  IF v_response IN ('temporary_block', 'immediate_block') AND p_client_key ~ '^(user:[0-9a-f-]{36}|ip:.+)$' THEN
    v_seconds := CASE
      WHEN jsonb_typeof(v_policy->'block_seconds') = 'number' THEN (v_policy->>'block_seconds')::numeric::integer
      ELSE (public.security_setting('rate_limiting', 'global_settings', '{}')->>'blockDuration')::numeric::integer
    END;
    v_until := now() + make_interval(secs => greatest(coalesce(v_seconds, 300), 1));
    INSERT INTO public.security_blocks (client_key, reason, incident_id, expires_at, note)
    VALUES (p_client_key,
            CASE WHEN p_event_type = 'rate_limit_exceeded' THEN 'rate_limit' ELSE 'threat' END,
            v_id, v_until, p_event_type)
    ON CONFLICT (client_key) DO UPDATE
      SET expires_at = CASE WHEN security_blocks.expires_at IS NULL THEN NULL
                            ELSE greatest(security_blocks.expires_at, EXCLUDED.expires_at) END,
          reason = CASE WHEN security_blocks.expires_at IS NULL OR security_blocks.expires_at > now()
                        THEN security_blocks.reason ELSE EXCLUDED.reason END,
          incident_id = coalesce(EXCLUDED.incident_id, security_blocks.incident_id)
    RETURNING expires_at INTO v_until;
  END IF;
  RETURN QUERY SELECT v_id, v_response, v_until;
END $$;

-- Called once per request before the handler: is the key blocked, does the rate limit allow
-- the request (consuming one unit if so), and which threat checks are on.
--   status 0   = go on
--   status 403 = blocked (threat or manual block), retry_after = seconds left
--   status 429 = rate limited (code rate_limited: this request went over the limit, an
--                incident; rate_limit_blocked: still blocked for an earlier one), retry_after
--                = seconds until allowed
CREATE FUNCTION public.security_gate(p_client_key text, p_address_key text, p_rate_limited boolean)
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
BEGIN
  -- Both settings in one query (this function runs on every request).
  SELECT max(config_value::text) FILTER (WHERE config_category = 'rate_limiting')::jsonb,
         coalesce(max(config_value::text) FILTER (WHERE config_category = 'threat_detection')::jsonb, '{}')
    INTO v_limits, v_threats
    FROM public.security_configuration
   WHERE config_key = 'global_settings' AND enabled AND config_category IN ('rate_limiting', 'threat_detection');
  SELECT b.reason, b.expires_at INTO v_block
    FROM public.security_blocks b
   WHERE b.client_key IN (p_client_key, p_address_key)
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
  -- The statement is its own transaction (autocommit): its commit need not wait for a WAL
  -- flush (the state is unlogged and disposable).
  PERFORM set_config('synchronous_commit', 'off', true);

  -- The whole decision is this one statement: concurrent requests of one key queue on its row.
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
    -- Seconds until one more request fits: tat + T - now - burst*T.
    RETURN QUERY SELECT 429, 'rate_limited',
                        greatest(1, ceil(extract(epoch FROM v_row.tat + v_period - now() - v_burst * v_period)))::integer,
                        v_threats, v_limits;
  END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- 6. Row Level Security and grants: service role and admins only
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.security_configuration ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.security_rate_limits   ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.security_blocks        ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.security_incidents     ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.security_audit_log     ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.security_scan_reports  ENABLE ROW LEVEL SECURITY;

CREATE POLICY security_configuration_service_all ON public.security_configuration
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_configuration_admin_select ON public.security_configuration
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY security_rate_limits_service_all ON public.security_rate_limits
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_blocks_service_all ON public.security_blocks
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_blocks_admin_select ON public.security_blocks
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY security_incidents_service_all ON public.security_incidents
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_incidents_admin_select ON public.security_incidents
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY security_audit_log_service_all ON public.security_audit_log
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_audit_log_admin_select ON public.security_audit_log
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY security_scan_reports_service_all ON public.security_scan_reports
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY security_scan_reports_admin_select ON public.security_scan_reports
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));

REVOKE ALL ON TABLE public.security_configuration, public.security_rate_limits, public.security_blocks,
  public.security_incidents, public.security_audit_log, public.security_scan_reports
  FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.security_configuration, public.security_blocks, public.security_incidents,
  public.security_audit_log, public.security_scan_reports TO authenticated;
GRANT ALL ON TABLE public.security_configuration, public.security_rate_limits, public.security_blocks,
  public.security_incidents, public.security_audit_log, public.security_scan_reports TO service_role;
GRANT USAGE, SELECT ON SEQUENCE public.security_configuration_id_seq, public.security_audit_log_id_seq TO service_role;

REVOKE ALL ON FUNCTION public.security_setting(text, text, jsonb),
  public.security_record_incident(text, text, text, uuid, text, text, text, text[], jsonb),
  public.security_gate(text, text, boolean),
  public.security_incident_declares_response(), public.security_incident_audit()
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.security_setting(text, text, jsonb),
  public.security_record_incident(text, text, text, uuid, text, text, text, text[], jsonb),
  public.security_gate(text, text, boolean) TO service_role;
