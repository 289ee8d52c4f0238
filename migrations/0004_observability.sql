-- 0004_observability: alerting (rules, alerts, evaluations, notification deliveries, the
-- guide's performance_alerts), performance benchmarks, cost metrics and the performance
-- summary. Request metrics themselves are `performance_metrics` (0001).

-- ---------------------------------------------------------------------------------------------
-- 1. Alerting (monitoring-alerting)
-- ---------------------------------------------------------------------------------------------
-- Rules are evaluated by monitoring-alerting `evaluate` (on the schedule in spin.toml, or any
-- scheduler calling it with the service-role key). A rule reads one figure over its window,
-- compares it with its threshold, opens one alert while the condition holds (at most one open
-- alert per rule, enforced by an index), resolves it when the condition clears, and records
-- every evaluation and every notification delivery.

CREATE TABLE public.alert_rules (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  rule_id                     text NOT NULL UNIQUE CHECK (rule_id ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
  name                        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description                 text CHECK (char_length(description) <= 2000),
  category                    text NOT NULL DEFAULT 'performance'
                                CHECK (category IN ('performance', 'security', 'reliability', 'capacity', 'cost', 'business')),
  severity                    text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  -- The figures public.alert_metric_value knows how to compute.
  metric                      text NOT NULL CHECK (metric IN (
                                'error_rate', 'avg_response_time', 'p50_response_time', 'p95_response_time',
                                'p99_response_time', 'request_count', 'security_incidents_count',
                                'connection_pool_utilization', 'conversion_rate', 'cost_overrun')),
  operator                    text NOT NULL CHECK (operator IN ('gt', 'gte', 'lt', 'lte', 'eq', 'ne')),
  threshold                   double precision NOT NULL,
  window_minutes              integer NOT NULL CHECK (window_minutes BETWEEN 1 AND 10080),
  evaluation_interval_minutes integer NOT NULL DEFAULT 5 CHECK (evaluation_interval_minutes BETWEEN 1 AND 1440),
  cooldown_minutes            integer NOT NULL DEFAULT 30 CHECK (cooldown_minutes BETWEEN 0 AND 10080),
  -- Fewer samples than this in the window: no verdict (one slow request is not a trend).
  min_samples                 integer NOT NULL DEFAULT 1 CHECK (min_samples >= 1),
  -- Only this function's requests (request metrics only); NULL: every function.
  function_name               text CHECK (char_length(function_name) <= 100),
  -- Channels notified when an alert opens and resolves: email, slack, pagerduty, webhook.
  notification_channels       jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(notification_channels) = 'array'),
  enabled                     boolean NOT NULL DEFAULT true,
  -- Set for the rule that mirrors a performance_alerts row (edited through that row).
  performance_alert_id        uuid UNIQUE,
  last_evaluated_at           timestamptz,
  created_by                  text,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER alert_rules_set_updated_at
  BEFORE UPDATE ON public.alert_rules
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- The inventory's five default rules. Channels the original listed as disabled (a webhook to
-- a relative URL, Slack, auto-scaling) are left out; its "log" action is the alerts table
-- itself. Email goes to the `alert_email_to` variable, never to an address in a row.
INSERT INTO public.alert_rules
  (rule_id, name, description, category, severity, metric, operator, threshold,
   window_minutes, evaluation_interval_minutes, cooldown_minutes, min_samples, notification_channels)
VALUES
  ('edge_function_error_rate_high', 'Edge function error rate high',
   'More than 5 % of requests answered with a 5xx status over 15 minutes',
   'reliability', 'error', 'error_rate', 'gt', 5, 15, 5, 30, 20, '["email"]'),
  ('response_time_degraded', 'Response time degraded',
   'Average response time above 2000 ms over 10 minutes',
   'performance', 'warning', 'avg_response_time', 'gt', 2000, 10, 5, 15, 10, '[]'),
  ('security_incidents_spike', 'Security incidents spike',
   'More than 10 security incidents in one hour',
   'security', 'critical', 'security_incidents_count', 'gt', 10, 60, 10, 60, 1, '["email"]'),
  ('database_connections_high', 'Database connections high',
   'Connections in use above 85 % of max_connections (current value; the window does not apply)',
   'capacity', 'warning', 'connection_pool_utilization', 'gt', 85, 15, 5, 30, 1, '[]'),
  ('business_conversion_drop', 'Quote acceptance rate dropped',
   'Fewer than 2 % of the quotes sent in the last hour were accepted (at least 20 sent)',
   'business', 'error', 'conversion_rate', 'lt', 2, 60, 30, 120, 20, '["email"]');

-- The deployment guide's threshold table. Each row is evaluated as a rule: a trigger keeps one
-- alert_rules row per performance_alerts row (metric by alert_type, severity by level, the
-- guide's channels; "pager" is PagerDuty), so the guide's INSERT changes what `evaluate` does.
CREATE TABLE public.performance_alerts (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- response_time: average ms; p95_response_time: ms; error_rate: % of 5xx answers;
  -- cost_overrun: the estimated monthly cost from cost_metrics (see alert_metric_value).
  alert_type            text NOT NULL CHECK (alert_type IN ('response_time', 'p95_response_time', 'error_rate', 'cost_overrun')),
  severity              text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  threshold_value       double precision NOT NULL CHECK (threshold_value >= 0),
  notification_channels jsonb NOT NULL DEFAULT '[]'::jsonb
                          CHECK (jsonb_typeof(notification_channels) = 'array'),
  function_name         text CHECK (char_length(function_name) <= 100),
  window_minutes        integer NOT NULL DEFAULT 15 CHECK (window_minutes BETWEEN 1 AND 10080),
  cooldown_minutes      integer NOT NULL DEFAULT 30 CHECK (cooldown_minutes BETWEEN 0 AND 10080),
  min_samples           integer NOT NULL DEFAULT 10 CHECK (min_samples >= 1),
  enabled               boolean NOT NULL DEFAULT true,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER performance_alerts_set_updated_at
  BEFORE UPDATE ON public.performance_alerts
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Configuring a threshold that is already configured (same type, severity, threshold,
-- channels and scope) changes nothing: the guide's INSERT may be run on a seeded database
-- without doubling its rules and notifications.
CREATE FUNCTION public.performance_alerts_skip_duplicate() RETURNS trigger
  LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM public.performance_alerts p
    WHERE p.alert_type = NEW.alert_type AND p.severity = NEW.severity
      AND p.threshold_value = NEW.threshold_value
      AND p.notification_channels = NEW.notification_channels
      AND p.function_name IS NOT DISTINCT FROM NEW.function_name
      AND p.window_minutes = NEW.window_minutes
  ) THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER performance_alerts_skip_duplicate
  BEFORE INSERT ON public.performance_alerts
  FOR EACH ROW EXECUTE FUNCTION public.performance_alerts_skip_duplicate();

-- performance_alerts row -> its rule.
CREATE FUNCTION public.performance_alerts_sync_rule() RETURNS trigger
  LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
  v_metric   text := CASE NEW.alert_type WHEN 'response_time' THEN 'avg_response_time' ELSE NEW.alert_type END;
  v_severity text := CASE NEW.severity WHEN 'low' THEN 'info' WHEN 'medium' THEN 'warning'
                                       WHEN 'high' THEN 'error' ELSE 'critical' END;
  v_unit     text := CASE NEW.alert_type WHEN 'error_rate' THEN ' %' WHEN 'cost_overrun' THEN ' a month'
                                         ELSE ' ms' END;
BEGIN
  INSERT INTO public.alert_rules AS r
    (rule_id, name, description, category, severity, metric, operator, threshold, window_minutes,
     evaluation_interval_minutes, cooldown_minutes, min_samples, function_name, notification_channels,
     enabled, performance_alert_id, created_by)
  VALUES
    ('performance_alert.' || NEW.id,
     NEW.alert_type || ' above ' || NEW.threshold_value || v_unit || coalesce(' (' || NEW.function_name || ')', ''),
     'From performance_alerts ' || NEW.id,
     CASE NEW.alert_type WHEN 'cost_overrun' THEN 'cost' WHEN 'error_rate' THEN 'reliability' ELSE 'performance' END,
     v_severity, v_metric, 'gt', NEW.threshold_value, NEW.window_minutes,
     1, NEW.cooldown_minutes, NEW.min_samples, NEW.function_name,
     (SELECT coalesce(jsonb_agg(DISTINCT CASE c WHEN 'pager' THEN 'pagerduty' ELSE c END), '[]'::jsonb)
        FROM jsonb_array_elements_text(NEW.notification_channels) c),
     NEW.enabled, NEW.id, 'performance_alerts')
  ON CONFLICT (performance_alert_id) DO UPDATE SET
    name = EXCLUDED.name, category = EXCLUDED.category, severity = EXCLUDED.severity,
    metric = EXCLUDED.metric, threshold = EXCLUDED.threshold, window_minutes = EXCLUDED.window_minutes,
    cooldown_minutes = EXCLUDED.cooldown_minutes, min_samples = EXCLUDED.min_samples,
    function_name = EXCLUDED.function_name, notification_channels = EXCLUDED.notification_channels,
    enabled = EXCLUDED.enabled;
  RETURN NEW;
END $$;

CREATE TRIGGER performance_alerts_sync_rule
  AFTER INSERT OR UPDATE ON public.performance_alerts
  FOR EACH ROW EXECUTE FUNCTION public.performance_alerts_sync_rule();

ALTER TABLE public.alert_rules
  ADD CONSTRAINT alert_rules_performance_alert_fkey FOREIGN KEY (performance_alert_id)
  REFERENCES public.performance_alerts (id) ON DELETE CASCADE;

INSERT INTO public.performance_alerts (alert_type, severity, threshold_value, notification_channels) VALUES
  ('response_time', 'high', 500, '["email", "slack"]'),
  ('error_rate', 'critical', 1.0, '["email", "slack", "pager"]'),
  ('cost_overrun', 'high', 100, '["email", "slack"]');

CREATE TABLE public.alerts (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  rule_id              uuid REFERENCES public.alert_rules (id) ON DELETE SET NULL,
  rule_key             text,                      -- alert_rules.rule_id when opened
  severity             text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  category             text NOT NULL,
  title                text NOT NULL,
  message              text NOT NULL,
  metric               text NOT NULL,
  operator             text NOT NULL,
  threshold            double precision NOT NULL,
  metric_value         double precision,          -- when opened
  last_value           double precision,          -- at the latest evaluation
  sample_count         bigint,
  status               text NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'acknowledged', 'resolved', 'suppressed')),
  -- PagerDuty's dedup key: trigger and resolve name the same incident.
  dedup_key            text NOT NULL UNIQUE,
  triggered_at         timestamptz NOT NULL DEFAULT now(),
  last_evaluated_at    timestamptz NOT NULL DEFAULT now(),
  acknowledged_at      timestamptz,
  acknowledged_by      text,
  resolved_at          timestamptz,
  resolved_by          text,
  resolution_notes     text CHECK (char_length(resolution_notes) <= 2000),
  auto_resolved        boolean NOT NULL DEFAULT false,
  suppressed_at        timestamptz,
  suppressed_by        text,
  suppression_reason   text CHECK (char_length(suppression_reason) <= 2000),
  created_at           timestamptz NOT NULL DEFAULT now()
);
-- One open alert per rule, whatever evaluations race.
CREATE UNIQUE INDEX alerts_one_open_per_rule ON public.alerts (rule_id)
  WHERE status IN ('active', 'acknowledged', 'suppressed');
CREATE INDEX alerts_status_triggered_idx ON public.alerts (status, triggered_at DESC);
CREATE INDEX alerts_rule_triggered_idx ON public.alerts (rule_id, triggered_at DESC);

CREATE TABLE public.alert_evaluations (
  id             bigserial PRIMARY KEY,
  run_id         uuid NOT NULL,                   -- one evaluate call
  rule_id        uuid REFERENCES public.alert_rules (id) ON DELETE CASCADE,
  rule_key       text NOT NULL,
  evaluated_at   timestamptz NOT NULL DEFAULT now(),
  metric_value   double precision,
  sample_count   bigint NOT NULL DEFAULT 0,
  condition_met  boolean,                         -- NULL: not enough data for a verdict
  -- ok | no_data | opened | still_open | cooldown | resolved
  outcome        text NOT NULL CHECK (outcome IN ('ok', 'no_data', 'opened', 'still_open', 'cooldown', 'resolved')),
  alert_id       uuid REFERENCES public.alerts (id) ON DELETE SET NULL,
  duration_ms    double precision NOT NULL CHECK (duration_ms >= 0)
);
CREATE INDEX alert_evaluations_rule_idx ON public.alert_evaluations (rule_id, evaluated_at DESC);
CREATE INDEX alert_evaluations_evaluated_idx ON public.alert_evaluations (evaluated_at);

CREATE TABLE public.notification_deliveries (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  alert_id              uuid REFERENCES public.alerts (id) ON DELETE CASCADE,
  security_incident_id  uuid,                     -- security_incidents (0006), no FK across migrations
  event                 text NOT NULL CHECK (event IN ('trigger', 'resolve', 'test', 'security_incident')),
  channel               text NOT NULL CHECK (channel IN ('email', 'slack', 'pagerduty', 'webhook')),
  -- Where it went, without secrets: email recipients, or the endpoint's scheme://host.
  target                text,
  status                text NOT NULL CHECK (status IN ('sent', 'failed', 'skipped')),
  attempts              integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  http_status           integer,
  error                 text CHECK (char_length(error) <= 1000),
  payload               jsonb,                    -- the body sent (no credentials in it)
  response_ms           double precision,
  created_at            timestamptz NOT NULL DEFAULT now(),
  completed_at          timestamptz
);
CREATE INDEX notification_deliveries_alert_idx ON public.notification_deliveries (alert_id, created_at);
CREATE INDEX notification_deliveries_created_idx ON public.notification_deliveries (created_at);

-- A rule's figure over its window: (samples, value). The value is NULL when there are no
-- samples. Request figures come from performance_metrics: error_rate is the share of 5xx
-- answers in %, percentiles are nearest-rank (percentile_disc). Rows of requests a blue host
-- forwarded to green during a migration (`forwarded`) are left out: green's own row counts them.
-- Runs with the caller's rights.
CREATE FUNCTION public.alert_metric_value(p_metric text, p_window_minutes integer, p_function text DEFAULT NULL)
RETURNS TABLE (samples bigint, value double precision)
  -- Exactly one row: without ROWS 1 the planner expects 1000 per rule, and a query over 50
  -- rules looks expensive enough to be JIT-compiled (300 ms for nothing).
  LANGUAGE plpgsql STABLE ROWS 1 SET search_path = public, pg_temp
AS $$
DECLARE
  v_since timestamptz := now() - make_interval(mins => p_window_minutes);
BEGIN
  IF p_metric IN ('p50_response_time', 'p95_response_time', 'p99_response_time') THEN
    RETURN QUERY
      SELECT count(*),
             percentile_disc(CASE p_metric WHEN 'p50_response_time' THEN 0.5
                                           WHEN 'p95_response_time' THEN 0.95 ELSE 0.99 END)
               WITHIN GROUP (ORDER BY m.duration_ms)
      FROM public.performance_metrics m
      WHERE m.created_at >= v_since AND (p_function IS NULL OR m.function_name = p_function)
        AND m.deployment_color <> 'forwarded';
  ELSIF p_metric IN ('error_rate', 'avg_response_time', 'request_count') THEN
    RETURN QUERY
      SELECT count(*),
             CASE p_metric
               WHEN 'error_rate' THEN (100.0 * count(*) FILTER (WHERE m.status >= 500) / nullif(count(*), 0))::double precision
               WHEN 'avg_response_time' THEN avg(m.duration_ms)
               ELSE count(*)::double precision
             END
      FROM public.performance_metrics m
      WHERE m.created_at >= v_since AND (p_function IS NULL OR m.function_name = p_function)
        AND m.deployment_color <> 'forwarded';
  ELSIF p_metric = 'security_incidents_count' THEN
    IF to_regclass('public.security_incidents') IS NULL THEN
      RETURN QUERY SELECT 0::bigint, NULL::double precision;
    ELSE
      RETURN QUERY EXECUTE
        'SELECT 1::bigint, count(*)::double precision FROM public.security_incidents WHERE created_at >= $1 AND client_key IS NOT NULL'
        USING v_since;
    END IF;
  ELSIF p_metric = 'connection_pool_utilization' THEN
    RETURN QUERY
      SELECT 1::bigint, 100.0 * count(*) / current_setting('max_connections')::double precision
      FROM pg_stat_activity WHERE backend_type = 'client backend';
  ELSIF p_metric = 'conversion_rate' THEN
    RETURN QUERY
      SELECT count(*),
             (100.0 * count(*) FILTER (WHERE q.status IN ('accepted', 'converted')) / nullif(count(*), 0))::double precision
      FROM public.quotes q
      WHERE NOT q.is_template AND q.status <> 'draft' AND coalesce(q.sent_at, q.created_at) >= v_since;
  ELSIF p_metric = 'cost_overrun' THEN
    -- The monthly cost estimate (cost_settings' currency): 30 x the average daily cost of the
    -- complete days of the last week in cost_metrics, plus the fixed monthly prices. Samples
    -- are the days it rests on; the window does not apply. (The guide's threshold 100 is
    -- $100 a month, the low end of the original system's cost.)
    IF to_regclass('public.cost_metrics') IS NULL OR to_regclass('public.cost_settings') IS NULL THEN
      RETURN QUERY SELECT 0::bigint, NULL::double precision;
    ELSE
      RETURN QUERY EXECUTE
        'SELECT count(c.*), (30 * avg(c.estimated_daily_cost)
                 + (SELECT s.database_monthly + s.monitoring_monthly FROM public.cost_settings s))::double precision
         FROM public.cost_metrics c
         WHERE c.complete AND c.metric_date >= current_date - 7';
    END IF;
  ELSE
    RAISE EXCEPTION 'unknown alert metric %', p_metric USING ERRCODE = '22023';
  END IF;
END $$;

-- Request figures are read by time range: the (created_at) and (function_name, created_at)
-- indexes of 0001 give each rule an index range scan of its window (measured: 50 rules over
-- 1 million rows in tens of milliseconds, README), so no further index is added here: each
-- one would cost every request's metrics insert.

ALTER TABLE public.alert_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.performance_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.alert_evaluations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notification_deliveries ENABLE ROW LEVEL SECURITY;

CREATE POLICY alert_rules_service_all ON public.alert_rules
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY alert_rules_admin_select ON public.alert_rules
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY performance_alerts_service_all ON public.performance_alerts
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY performance_alerts_admin_select ON public.performance_alerts
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY alerts_service_all ON public.alerts
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY alerts_admin_select ON public.alerts
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY alert_evaluations_service_all ON public.alert_evaluations
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY alert_evaluations_admin_select ON public.alert_evaluations
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY notification_deliveries_service_all ON public.notification_deliveries
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY notification_deliveries_admin_select ON public.notification_deliveries
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));

REVOKE ALL ON TABLE public.alert_rules, public.performance_alerts, public.alerts, public.alert_evaluations,
  public.notification_deliveries FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.alert_rules, public.performance_alerts, public.alerts, public.alert_evaluations,
  public.notification_deliveries TO authenticated;
GRANT ALL ON TABLE public.alert_rules, public.performance_alerts, public.alerts, public.alert_evaluations,
  public.notification_deliveries TO service_role;
GRANT USAGE, SELECT ON SEQUENCE public.alert_evaluations_id_seq TO service_role;
REVOKE ALL ON FUNCTION public.alert_metric_value(text, integer, text), public.performance_alerts_skip_duplicate(),
  public.performance_alerts_sync_rule() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.alert_metric_value(text, integer, text) TO service_role;

-- ---------------------------------------------------------------------------------------------
-- 2. Performance benchmarks, cost metrics and the performance summary (performance-optimizer)
-- ---------------------------------------------------------------------------------------------

-- Egress for the cost report: the size of each response body, recorded by shared::metrics.
-- NULL on rows written before this column existed (the cost report counts them as unmeasured).
ALTER TABLE public.performance_metrics ADD COLUMN response_bytes bigint CHECK (response_bytes >= 0);

-- One row per (benchmark run, function, probe): what `benchmark_all_functions` measured by
-- calling the function over HTTP. `latencies_ms` keeps every repeated sample, so every figure
-- of the row can be recomputed from it.
CREATE TABLE public.performance_benchmarks (
  id                     bigserial PRIMARY KEY,
  run_id                 uuid NOT NULL,
  function_name          text NOT NULL,
  probe                  text NOT NULL CHECK (probe IN ('health', 'read')),
  route                  text NOT NULL,
  via                    text NOT NULL CHECK (via IN ('internal', 'public')),
  -- The first call of the run, then `samples` repeated calls.
  first_ms               double precision NOT NULL CHECK (first_ms >= 0),
  first_status           integer,          -- NULL: no answer (transport error)
  samples                integer NOT NULL CHECK (samples >= 1),
  succeeded              integer NOT NULL CHECK (succeeded BETWEEN 0 AND samples + 1),
  success_rate           numeric(5,2) NOT NULL CHECK (success_rate BETWEEN 0 AND 100),
  avg_ms                 double precision NOT NULL,
  p50_ms                 double precision NOT NULL,
  p95_ms                 double precision NOT NULL,
  p99_ms                 double precision NOT NULL,
  min_ms                 double precision NOT NULL,
  max_ms                 double precision NOT NULL,
  latencies_ms           double precision[] NOT NULL,
  cold_target_ms         double precision NOT NULL,
  warm_target_ms         double precision NOT NULL,
  first_within_target    boolean NOT NULL,
  repeated_within_target boolean NOT NULL,
  requested_by           text NOT NULL,
  created_at             timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, function_name, probe)
);
CREATE INDEX performance_benchmarks_created_idx ON public.performance_benchmarks (created_at DESC);

-- Unit prices of the cost report (one row; edit it with UPDATE or PUT .../cost_report/settings).
-- Money is numeric, never float. Seeded with Supabase's published figures for the original
-- system (Edge Functions $2 per million invocations, egress $0.09 per GB, database plan $25 a
-- month) and a compute price per GB-second of the memory limit (128 MiB, spin.toml); the
-- baseline is the guide's monthly cost before the migration ($100–165).
CREATE TABLE public.cost_settings (
  id                            boolean PRIMARY KEY DEFAULT true CHECK (id),
  currency                      text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  price_per_million_invocations numeric(14,6) NOT NULL CHECK (price_per_million_invocations >= 0),
  price_per_gb_second           numeric(18,10) NOT NULL CHECK (price_per_gb_second >= 0),
  memory_mb                     integer NOT NULL CHECK (memory_mb BETWEEN 1 AND 65536),
  price_per_gb_egress           numeric(14,6) NOT NULL CHECK (price_per_gb_egress >= 0),
  database_monthly              numeric(12,2) NOT NULL CHECK (database_monthly >= 0),
  monitoring_monthly            numeric(12,2) NOT NULL CHECK (monitoring_monthly >= 0),
  baseline_monthly_low          numeric(12,2) NOT NULL CHECK (baseline_monthly_low >= 0),
  baseline_monthly_high         numeric(12,2) NOT NULL CHECK (baseline_monthly_high >= baseline_monthly_low),
  updated_at                    timestamptz NOT NULL DEFAULT now(),
  updated_by                    text
);
INSERT INTO public.cost_settings
  (price_per_million_invocations, price_per_gb_second, memory_mb, price_per_gb_egress,
   database_monthly, monitoring_monthly, baseline_monthly_low, baseline_monthly_high)
VALUES (2.00, 0.0000166667, 128, 0.09, 25.00, 0.00, 100.00, 165.00);

-- One row per UTC day, computed by `cost_report` from that day's performance_metrics rows and
-- the unit prices in force (copied into `unit_prices`, so a later price change does not
-- rewrite history silently: recomputing a day replaces its row). Costs in dollars, 6 decimals.
CREATE TABLE public.cost_metrics (
  id                        bigserial PRIMARY KEY,
  metric_date               date NOT NULL UNIQUE,
  edge_function_invocations bigint NOT NULL CHECK (edge_function_invocations >= 0),
  server_errors             bigint NOT NULL CHECK (server_errors >= 0),
  duration_ms_total         double precision NOT NULL CHECK (duration_ms_total >= 0),
  compute_gb_seconds        numeric(20,6) NOT NULL,
  egress_bytes              bigint NOT NULL CHECK (egress_bytes >= 0),
  bandwidth_usage_gb        numeric(20,9) NOT NULL,
  unmeasured_egress_rows    bigint NOT NULL DEFAULT 0,   -- rows without response_bytes
  invocation_cost           numeric(14,6) NOT NULL,
  compute_cost              numeric(14,6) NOT NULL,
  bandwidth_cost            numeric(14,6) NOT NULL,
  estimated_daily_cost      numeric(14,6) NOT NULL,
  unit_prices               jsonb NOT NULL,
  complete                  boolean NOT NULL,            -- false for today (still counting)
  computed_at               timestamptz NOT NULL DEFAULT now()
);

-- Per-function request figures over the last `p_days` days, from performance_metrics
-- (`p_user_id` NULL: every caller; otherwise that user's requests). Percentiles are
-- nearest-rank (percentile_disc); errors are 5xx answers; throughput is per minute of the
-- window. As the deployment guide runs it: SELECT * FROM get_performance_summary(NULL, 7);
CREATE FUNCTION public.get_performance_summary(p_user_id uuid DEFAULT NULL, p_days integer DEFAULT 7)
RETURNS TABLE (
  function_name       text,
  requests            bigint,
  server_errors       bigint,
  client_errors       bigint,
  error_rate          numeric,
  avg_ms              numeric,
  p50_ms              double precision,
  p95_ms              double precision,
  p99_ms              double precision,
  max_ms              double precision,
  requests_per_minute numeric,
  response_bytes      bigint,
  first_request       timestamptz,
  last_request        timestamptz
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
BEGIN
  IF p_days IS NULL OR p_days < 1 OR p_days > 366 THEN
    RAISE EXCEPTION 'p_days must be between 1 and 366, not %', p_days USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
  SELECT m.function_name,
         count(*)::bigint,
         count(*) FILTER (WHERE m.status >= 500)::bigint,
         count(*) FILTER (WHERE m.status BETWEEN 400 AND 499)::bigint,
         round(100.0 * count(*) FILTER (WHERE m.status >= 500) / count(*), 2),
         round(avg(m.duration_ms)::numeric, 2),
         percentile_disc(0.50) WITHIN GROUP (ORDER BY m.duration_ms),
         percentile_disc(0.95) WITHIN GROUP (ORDER BY m.duration_ms),
         percentile_disc(0.99) WITHIN GROUP (ORDER BY m.duration_ms),
         max(m.duration_ms),
         round(count(*) / (p_days * 1440.0), 4),
         coalesce(sum(m.response_bytes), 0)::bigint,
         min(m.created_at),
         max(m.created_at)
  FROM public.performance_metrics m
  WHERE m.created_at >= now() - make_interval(days => p_days)
    AND (p_user_id IS NULL OR m.user_id = p_user_id)
    AND m.deployment_color <> 'forwarded'
  GROUP BY m.function_name
  ORDER BY m.function_name;
END $$;
COMMENT ON FUNCTION public.get_performance_summary(uuid, integer) IS
  'Per-function request figures (count, 5xx/4xx, error rate %, avg and nearest-rank p50/p95/p99 ms, requests per minute) over the last p_days days; p_user_id NULL = all callers.';

ALTER TABLE public.performance_benchmarks ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.cost_settings          ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.cost_metrics           ENABLE ROW LEVEL SECURITY;

CREATE POLICY performance_benchmarks_admin_select ON public.performance_benchmarks
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY performance_benchmarks_service_all ON public.performance_benchmarks
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY cost_settings_admin_select ON public.cost_settings
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY cost_settings_service_all ON public.cost_settings
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY cost_metrics_admin_select ON public.cost_metrics
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY cost_metrics_service_all ON public.cost_metrics
  FOR ALL TO service_role USING (true) WITH CHECK (true);

REVOKE ALL ON TABLE public.performance_benchmarks, public.cost_settings, public.cost_metrics
  FROM PUBLIC, anon, authenticated;
REVOKE ALL ON SEQUENCE public.performance_benchmarks_id_seq, public.cost_metrics_id_seq
  FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.performance_benchmarks, public.cost_settings, public.cost_metrics
  TO authenticated;                                                   -- admins only (RLS)
GRANT ALL ON TABLE public.performance_benchmarks, public.cost_settings, public.cost_metrics TO service_role;
GRANT ALL ON SEQUENCE public.performance_benchmarks_id_seq, public.cost_metrics_id_seq TO service_role;

-- The summary reads every caller's metrics: service role (and the migration owner) only.
REVOKE EXECUTE ON FUNCTION public.get_performance_summary(uuid, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.get_performance_summary(uuid, integer) TO service_role;
