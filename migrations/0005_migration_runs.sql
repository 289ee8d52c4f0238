-- 0005_migration_runs.sql: canary / blue-green traffic migrations (migration-controller).
-- A run moves a share of the covered functions' traffic from the current deployment (blue) to
-- a new one (green) step by step; the shared request middleware reads the active run's
-- traffic share on every covered request. Every change of a run is a transition row with who,
-- why and the metrics it was decided on. Service role writes; admins read.

-- ---------------------------------------------------------------------------------------------
-- 1. Runs: one row per migration, at most one active
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.migration_runs (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  status                    text NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'completed', 'rolled_back')),
  -- Share of the covered functions' requests sent to green (bucket < traffic_percent).
  traffic_percent           integer NOT NULL CHECK (traffic_percent BETWEEN 0 AND 100),
  -- The step plan, strictly increasing and ending at 100 (checked by the controller).
  step_plan                 integer[] NOT NULL CHECK (cardinality(step_plan) BETWEEN 1 AND 20),
  functions                 text[] NOT NULL CHECK (cardinality(functions) >= 1),
  green_base_url            text NOT NULL,
  bake_seconds              integer NOT NULL CHECK (bake_seconds BETWEEN 1 AND 86400),
  min_samples               integer NOT NULL CHECK (min_samples BETWEEN 1 AND 1000000),
  max_error_rate            numeric(6, 5) NOT NULL CHECK (max_error_rate BETWEEN 0 AND 1),
  error_rate_margin         numeric(6, 5) NOT NULL CHECK (error_rate_margin BETWEEN 0 AND 1),
  max_p95_ratio             numeric(6, 3) NOT NULL CHECK (max_p95_ratio >= 1),
  max_failed_health_checks  integer NOT NULL CHECK (max_failed_health_checks BETWEEN 1 AND 100),
  started_by                text NOT NULL,     -- 'service_role' or 'user:<uuid>'
  started_at                timestamptz NOT NULL DEFAULT now(),
  finished_at               timestamptz,
  finish_reason             text,
  CHECK ((status = 'active') = (finished_at IS NULL))
);

-- Only one active migration: a second initialize fails on this index even when two race.
-- The middleware's per-request lookup reads through it.
CREATE UNIQUE INDEX migration_runs_one_active ON public.migration_runs ((true)) WHERE status = 'active';
CREATE INDEX migration_runs_started_idx ON public.migration_runs (started_at DESC);

-- ---------------------------------------------------------------------------------------------
-- 2. Steps: each period at one traffic share (bake time counts from started_at)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.migration_steps (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  run_id           uuid NOT NULL REFERENCES public.migration_runs (id) ON DELETE CASCADE,
  traffic_percent  integer NOT NULL CHECK (traffic_percent BETWEEN 0 AND 100),
  started_at       timestamptz NOT NULL DEFAULT now(),
  ended_at         timestamptz,
  outcome          text CHECK (outcome IN ('advanced', 'traffic_split', 'rolled_back', 'completed')),
  -- The latest gate evaluation of this step (figures and verdicts).
  last_evaluation  jsonb,
  evaluated_at     timestamptz,
  CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE UNIQUE INDEX migration_steps_one_open ON public.migration_steps (run_id) WHERE ended_at IS NULL;
CREATE INDEX migration_steps_run_idx ON public.migration_steps (run_id, started_at);

-- ---------------------------------------------------------------------------------------------
-- 3. Transitions: every change of a run, with who, why and the metrics behind it
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.migration_transitions (
  id            bigserial PRIMARY KEY,
  run_id        uuid NOT NULL REFERENCES public.migration_runs (id) ON DELETE CASCADE,
  action        text NOT NULL
                  CHECK (action IN ('initialize', 'advance', 'traffic_split', 'rollback', 'auto_rollback', 'complete')),
  from_status   text,
  to_status     text NOT NULL,
  from_percent  integer,
  to_percent    integer NOT NULL,
  actor         text NOT NULL,
  reason        text NOT NULL,
  metrics       jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX migration_transitions_run_idx ON public.migration_transitions (run_id, id);

-- ---------------------------------------------------------------------------------------------
-- 4. Health checks of the green deployment (one row per probed function)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.migration_health_checks (
  id             bigserial PRIMARY KEY,
  run_id         uuid NOT NULL REFERENCES public.migration_runs (id) ON DELETE CASCADE,
  function_name  text NOT NULL,
  url            text NOT NULL,
  ok             boolean NOT NULL,
  status_code    integer,
  latency_ms     double precision NOT NULL CHECK (latency_ms >= 0),
  error          text,
  checked_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX migration_health_checks_run_idx ON public.migration_health_checks (run_id, function_name, checked_at);

-- ---------------------------------------------------------------------------------------------
-- 5. Rollbacks (manual or automatic)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.migration_rollbacks (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  run_id               uuid NOT NULL UNIQUE REFERENCES public.migration_runs (id) ON DELETE CASCADE,
  reason               text NOT NULL,
  automatic            boolean NOT NULL,
  actor                text NOT NULL,
  traffic_at_rollback  integer NOT NULL,
  metrics              jsonb,
  created_at           timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- 6. Row Level Security: written by the service role (the controller); admins read
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.migration_runs          ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.migration_steps         ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.migration_transitions   ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.migration_health_checks ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.migration_rollbacks     ENABLE ROW LEVEL SECURITY;

CREATE POLICY migration_runs_service_all ON public.migration_runs
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY migration_runs_admin_select ON public.migration_runs
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY migration_steps_service_all ON public.migration_steps
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY migration_steps_admin_select ON public.migration_steps
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY migration_transitions_service_all ON public.migration_transitions
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY migration_transitions_admin_select ON public.migration_transitions
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY migration_health_checks_service_all ON public.migration_health_checks
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY migration_health_checks_admin_select ON public.migration_health_checks
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY migration_rollbacks_service_all ON public.migration_rollbacks
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY migration_rollbacks_admin_select ON public.migration_rollbacks
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));

-- Admins read through RLS; the service role has everything by the schema's default privileges.
GRANT SELECT ON TABLE public.migration_runs, public.migration_steps, public.migration_transitions,
  public.migration_health_checks, public.migration_rollbacks TO authenticated;
