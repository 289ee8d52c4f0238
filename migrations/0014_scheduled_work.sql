-- 0014_scheduled_work.sql: performance_metrics keeps a bounded history.
--
-- performance_metrics gets one row per request and grew forever. Whole UTC days older than
-- the retention (performance-optimizer's `metrics_retention_days` variable, default 35, so the
-- 30-day views stay whole) are rolled up into performance_metrics_daily (one row per day,
-- function, route, method, colour and region: counts, 5xx / 4xx, duration sum, average,
-- nearest-rank p50 / p95 / p99, maximum, response bytes) and then deleted, in one transaction.
-- The schedule in spin.toml calls performance-optimizer's `POST /retention` daily; the SQL
-- function below is the whole of it and may be called by hand:
--   SELECT * FROM performance_metrics_roll_up(35);
-- cost_report reads a rolled-up day from performance_metrics_daily, so the days it recomputes
-- keep their figures after their rows are gone.

CREATE TABLE public.performance_metrics_daily (
  metric_date           date NOT NULL,
  function_name         text NOT NULL,
  route                 text NOT NULL,
  method                text NOT NULL,
  deployment_color      text NOT NULL,
  region                text NOT NULL DEFAULT '',
  requests              bigint NOT NULL CHECK (requests >= 0),
  server_errors         bigint NOT NULL DEFAULT 0,
  client_errors         bigint NOT NULL DEFAULT 0,
  duration_ms_total     double precision NOT NULL DEFAULT 0,
  duration_ms_avg       double precision,
  p50_ms                double precision,
  p95_ms                double precision,
  p99_ms                double precision,
  max_ms                double precision,
  response_bytes        bigint NOT NULL DEFAULT 0,
  unmeasured_bytes_rows bigint NOT NULL DEFAULT 0,
  rolled_up_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (metric_date, function_name, route, method, deployment_color, region)
);

ALTER TABLE public.performance_metrics_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY performance_metrics_daily_service_all ON public.performance_metrics_daily
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY performance_metrics_daily_admin_select ON public.performance_metrics_daily
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
REVOKE ALL ON TABLE public.performance_metrics_daily FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.performance_metrics_daily TO authenticated;
GRANT ALL ON TABLE public.performance_metrics_daily TO service_role;

-- Roll up and delete the whole UTC days before today - p_keep_days, at most p_max_days of them
-- per call (the oldest first), so one call's work is bounded. A day rolled up again (rows
-- written late) adds its counts; its percentiles are the larger of the two.
CREATE FUNCTION public.performance_metrics_roll_up(p_keep_days integer, p_max_days integer DEFAULT 31)
RETURNS TABLE (days integer, rows_rolled_up bigint, rows_deleted bigint, first_day date, last_day date)
  LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
  v_cutoff date := (now() AT TIME ZONE 'UTC')::date - greatest(p_keep_days, 1);
  v_first  date;
  v_last   date;
  v_rolled bigint := 0;
  v_deleted bigint := 0;
BEGIN
  SELECT (min(created_at) AT TIME ZONE 'UTC')::date INTO v_first
    FROM public.performance_metrics WHERE created_at < (v_cutoff::timestamp AT TIME ZONE 'UTC');
  IF v_first IS NULL THEN
    RETURN QUERY SELECT 0, 0::bigint, 0::bigint, NULL::date, NULL::date;
    RETURN;
  END IF;
  v_last := least(v_cutoff - 1, v_first + greatest(p_max_days, 1) - 1);

  INSERT INTO public.performance_metrics_daily AS d
      (metric_date, function_name, route, method, deployment_color, region, requests, server_errors,
       client_errors, duration_ms_total, duration_ms_avg, p50_ms, p95_ms, p99_ms, max_ms, response_bytes,
       unmeasured_bytes_rows)
    SELECT (m.created_at AT TIME ZONE 'UTC')::date, m.function_name, m.route, m.method, m.deployment_color,
           coalesce(m.region, ''), count(*), count(*) FILTER (WHERE m.status >= 500),
           count(*) FILTER (WHERE m.status BETWEEN 400 AND 499), sum(m.duration_ms), avg(m.duration_ms),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY m.duration_ms),
           percentile_disc(0.95) WITHIN GROUP (ORDER BY m.duration_ms),
           percentile_disc(0.99) WITHIN GROUP (ORDER BY m.duration_ms),
           max(m.duration_ms), coalesce(sum(m.response_bytes), 0), count(*) FILTER (WHERE m.response_bytes IS NULL)
    FROM public.performance_metrics m
    WHERE m.created_at >= (v_first::timestamp AT TIME ZONE 'UTC')
      AND m.created_at < ((v_last + 1)::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (metric_date, function_name, route, method, deployment_color, region) DO UPDATE SET
      requests = d.requests + EXCLUDED.requests,
      server_errors = d.server_errors + EXCLUDED.server_errors,
      client_errors = d.client_errors + EXCLUDED.client_errors,
      duration_ms_total = d.duration_ms_total + EXCLUDED.duration_ms_total,
      duration_ms_avg = (d.duration_ms_total + EXCLUDED.duration_ms_total) / (d.requests + EXCLUDED.requests),
      p50_ms = greatest(d.p50_ms, EXCLUDED.p50_ms),
      p95_ms = greatest(d.p95_ms, EXCLUDED.p95_ms),
      p99_ms = greatest(d.p99_ms, EXCLUDED.p99_ms),
      max_ms = greatest(d.max_ms, EXCLUDED.max_ms),
      response_bytes = d.response_bytes + EXCLUDED.response_bytes,
      unmeasured_bytes_rows = d.unmeasured_bytes_rows + EXCLUDED.unmeasured_bytes_rows,
      rolled_up_at = now();

  DELETE FROM public.performance_metrics m
   WHERE m.created_at >= (v_first::timestamp AT TIME ZONE 'UTC')
     AND m.created_at < ((v_last + 1)::timestamp AT TIME ZONE 'UTC');
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_rolled := v_deleted;  -- the same range, in the same transaction
  RETURN QUERY SELECT (v_last - v_first + 1)::integer, v_rolled, v_deleted, v_first, v_last;
END $$;

REVOKE ALL ON FUNCTION public.performance_metrics_roll_up(integer, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.performance_metrics_roll_up(integer, integer) TO service_role;
