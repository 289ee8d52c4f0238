-- 0012_alerts_on_sustained_conditions.sql: alerts for conditions that last, grouped.
--
--   1. alert_rules.min_events: the least number of the events a figure counts (5xx answers for
--      error_rate, incidents for the security figures) before its condition can hold. A rate
--      over a window with a minimum count: one failed request among a handful is 10 % but not
--      an outage. Rules on error_rate default to 5 events (the guide's 1 % rule among them);
--      every other rule to 1, which changes nothing for them.
--   2. The figure security_alert_admin: incidents whose response is alert_admin (by the guide's
--      rows, refused credentials), counted with their repeats. The seeded rule
--      security_alert_admin notifies when at least 10 arrive within 15 minutes: one alert, one
--      PagerDuty incident for the episode, however many requests it took. Incidents are no
--      longer sent one by one (one request without a valid token paged someone).
--   3. public.alert_metric_figure(): alert_metric_value's figure with its events.
--
-- 0004 is applied on existing deployments and never edited.

ALTER TABLE public.alert_rules ADD COLUMN min_events integer CHECK (min_events >= 1);
UPDATE public.alert_rules SET min_events = CASE WHEN metric = 'error_rate' THEN 5 ELSE 1 END;
ALTER TABLE public.alert_rules ALTER COLUMN min_events SET NOT NULL;

-- A rule written without min_events (the rules API, the performance_alerts mirror) gets the
-- figure's default.
CREATE FUNCTION public.alert_rules_default_min_events() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.min_events IS NULL THEN
    NEW.min_events := CASE WHEN NEW.metric = 'error_rate' THEN 5 ELSE 1 END;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER alert_rules_default_min_events
  BEFORE INSERT OR UPDATE ON public.alert_rules
  FOR EACH ROW EXECUTE FUNCTION public.alert_rules_default_min_events();

ALTER TABLE public.alert_rules DROP CONSTRAINT alert_rules_metric_check;
ALTER TABLE public.alert_rules ADD CONSTRAINT alert_rules_metric_check CHECK (metric IN (
  'error_rate', 'avg_response_time', 'p50_response_time', 'p95_response_time',
  'p99_response_time', 'request_count', 'security_incidents_count', 'security_alert_admin',
  'connection_pool_utilization', 'conversion_rate', 'cost_overrun'));

-- The figure of a rule with the events it rests on: samples (requests, incident rows, days),
-- events (5xx answers for error_rate; incidents with their repeats for security_alert_admin;
-- incident rows for security_incidents_count; the samples otherwise) and the value.
CREATE FUNCTION public.alert_metric_figure(p_metric text, p_window_minutes integer, p_function text DEFAULT NULL)
RETURNS TABLE (samples bigint, events bigint, value double precision)
  LANGUAGE plpgsql STABLE ROWS 1 SET search_path = public, pg_temp
AS $$
DECLARE
  v_since timestamptz := now() - make_interval(mins => p_window_minutes);
BEGIN
  IF p_metric = 'error_rate' THEN
    RETURN QUERY
      SELECT count(*), count(*) FILTER (WHERE m.status >= 500),
             (100.0 * count(*) FILTER (WHERE m.status >= 500) / nullif(count(*), 0))::double precision
      FROM public.performance_metrics m
      WHERE m.created_at >= v_since AND (p_function IS NULL OR m.function_name = p_function)
        AND m.deployment_color <> 'forwarded';
  ELSIF p_metric = 'security_alert_admin' THEN
    RETURN QUERY
      SELECT count(*), coalesce(sum(i.occurrences), 0)::bigint, coalesce(sum(i.occurrences), 0)::double precision
      FROM public.security_incidents i
      WHERE i.last_seen_at >= v_since AND i.auto_response = 'alert_admin' AND i.client_key IS NOT NULL;
  ELSIF p_metric = 'security_incidents_count' THEN
    RETURN QUERY
      SELECT f.samples, f.value::bigint, f.value FROM public.alert_metric_value(p_metric, p_window_minutes, p_function) f;
  ELSE
    RETURN QUERY
      SELECT f.samples, f.samples, f.value FROM public.alert_metric_value(p_metric, p_window_minutes, p_function) f;
  END IF;
END $$;

REVOKE ALL ON FUNCTION public.alert_metric_figure(text, integer, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.alert_metric_figure(text, integer, text) TO service_role;

INSERT INTO public.alert_rules
  (rule_id, name, description, category, severity, metric, operator, threshold,
   window_minutes, evaluation_interval_minutes, cooldown_minutes, min_samples, min_events, notification_channels)
VALUES
  ('security_alert_admin', 'Repeated incidents for the administrators',
   'At least 10 incidents answered alert_admin (refused credentials, by the guide''s rows) within 15 minutes: one alert for the episode',
   'security', 'error', 'security_alert_admin', 'gte', 10, 15, 1, 30, 1, 10, '["email", "slack", "webhook", "pagerduty"]')
ON CONFLICT (rule_id) DO NOTHING;
