-- 0007_global_and_validation: regional configuration (`global_*`: the deployment guide's
-- regions with priority and weight, where each component runs and its cold-start tier) and
-- production-validator's stored reports with their checks.
--
-- The placement figures are the same as in spin.toml (`[application.tool.edge.regions.*]`,
-- `[component.X.tool.edge]`); a test compares the two.

-- ---------------------------------------------------------------------------------------------
-- 1. Regions, tiers and placement
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.global_regions (
  region       text PRIMARY KEY CHECK (region ~ '^[a-z]{2}-[a-z]+-[0-9]+$'),
  display_name text NOT NULL,
  -- Higher is preferred (the guide's 8 .. 4).
  priority     integer NOT NULL CHECK (priority BETWEEN 1 AND 10),
  -- Share of global traffic routed to the region; the enabled regions' weights add up to 1.
  weight       numeric(4, 3) NOT NULL CHECK (weight >= 0 AND weight <= 1),
  -- The region holding the database and the components that run in one region only.
  home         boolean NOT NULL DEFAULT false,
  enabled      boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- At most one home region.
CREATE UNIQUE INDEX global_regions_one_home_idx ON public.global_regions ((true)) WHERE home;
CREATE TRIGGER global_regions_set_updated_at BEFORE UPDATE ON public.global_regions
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

INSERT INTO public.global_regions (region, display_name, priority, weight, home) VALUES
  ('us-east-1',      'US East (N. Virginia)',     8, 0.30, true),
  ('us-west-1',      'US West (N. California)',   7, 0.25, false),
  ('eu-west-1',      'Europe (Ireland)',          6, 0.20, false),
  ('ap-southeast-1', 'Asia Pacific (Singapore)',  5, 0.15, false),
  ('ap-northeast-1', 'Asia Pacific (Tokyo)',      4, 0.10, false);

-- Cold-start tiers. SpinKube has no scale-to-zero without KEDA, so every tier keeps at least
-- one replica; `cold` components keep it in the home region only.
CREATE TABLE public.global_placement_tiers (
  tier                  text PRIMARY KEY CHECK (tier IN ('hot', 'warm', 'cold')),
  min_replicas          integer NOT NULL CHECK (min_replicas >= 1),
  home_region_only      boolean NOT NULL,
  description           text NOT NULL
);
INSERT INTO public.global_placement_tiers (tier, min_replicas, home_region_only, description) VALUES
  ('hot',  2, false, 'at least 2 replicas in every region it runs in'),
  ('warm', 1, false, 'at least 1 replica in every region it runs in'),
  ('cold', 1, true,  'at least 1 replica, in the home region only');

CREATE TABLE public.global_function_placement (
  function_name text NOT NULL CHECK (function_name ~ '^[a-z][a-z-]*[a-z]$'),
  region        text NOT NULL REFERENCES public.global_regions (region) ON UPDATE CASCADE,
  tier          text NOT NULL REFERENCES public.global_placement_tiers (tier),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (function_name, region)
);
CREATE INDEX global_function_placement_region_idx ON public.global_function_placement (region);

-- Customer-facing components run everywhere; subscription-status and webhook-handler are on
-- the hot path of every page and every Stripe delivery. quote-processor and batch-processor
-- call quote-pdf-generator through quote-pdf-generator.spin.internal, so the three share
-- regions. Operations components run in the home region beside the database.
INSERT INTO public.global_function_placement (function_name, region, tier)
SELECT f.function_name, r.region, f.tier
FROM (VALUES
        ('subscription-status', 'hot'),
        ('webhook-handler',     'hot'),
        ('quote-processor',     'warm'),
        ('quote-pdf-generator', 'warm'),
        ('batch-processor',     'warm')
     ) AS f (function_name, tier)
CROSS JOIN public.global_regions r;

INSERT INTO public.global_function_placement (function_name, region, tier)
SELECT f.function_name, 'us-east-1', 'cold'
FROM (VALUES ('webhook-monitor'), ('migration-controller'), ('production-validator'),
             ('security-hardening'), ('performance-optimizer'), ('monitoring-alerting')) AS f (function_name);

-- ---------------------------------------------------------------------------------------------
-- 2. Validation reports (production-validator)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.production_validation_reports (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  validation_type   text NOT NULL CHECK (validation_type IN
                      ('comprehensive', 'performance', 'security', 'reliability', 'functionality', 'infrastructure')),
  overall_status    text NOT NULL CHECK (overall_status IN ('pass', 'warning', 'fail')),
  -- NULL when every check was skipped: nothing was measured, so there is nothing to score.
  overall_score     integer CHECK (overall_score BETWEEN 0 AND 100),
  deployment_ready  boolean NOT NULL,
  estimated_risk    text NOT NULL CHECK (estimated_risk IN ('low', 'medium', 'high', 'critical')),
  total_checks      integer NOT NULL CHECK (total_checks >= 0),
  passed_checks     integer NOT NULL CHECK (passed_checks >= 0),
  warning_checks    integer NOT NULL CHECK (warning_checks >= 0),
  failed_checks     integer NOT NULL CHECK (failed_checks >= 0),
  skipped_checks    integer NOT NULL CHECK (skipped_checks >= 0),
  category_scores   jsonb NOT NULL DEFAULT '{}',
  recommendations   jsonb NOT NULL DEFAULT '[]',
  execution_time_ms double precision NOT NULL CHECK (execution_time_ms >= 0),
  -- Who asked: a user id, or NULL for the service role (requested_role says which).
  requested_by      uuid,
  requested_role    text NOT NULL,
  region            text,
  deployment_color  text,
  component_version text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (passed_checks + warning_checks + failed_checks + skipped_checks = total_checks)
);
CREATE INDEX production_validation_reports_created_idx ON public.production_validation_reports (created_at DESC, id);

CREATE TABLE public.production_validation_checks (
  report_id    uuid NOT NULL REFERENCES public.production_validation_reports (id) ON DELETE CASCADE,
  position     integer NOT NULL CHECK (position >= 0),
  category     text NOT NULL CHECK (category IN
                 ('performance', 'security', 'reliability', 'functionality', 'infrastructure')),
  name         text NOT NULL,
  -- What the check was about when it runs once per thing (a function's name).
  subject      text,
  status       text NOT NULL CHECK (status IN ('pass', 'warning', 'fail', 'skip')),
  severity     text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
  message      text NOT NULL,
  evidence     jsonb NOT NULL DEFAULT '{}',
  duration_ms  double precision NOT NULL CHECK (duration_ms >= 0),
  PRIMARY KEY (report_id, position)
);
CREATE INDEX production_validation_checks_failed_idx ON public.production_validation_checks (name, status);

-- ---------------------------------------------------------------------------------------------
-- 3. Row Level Security and privileges: the service role writes; admins read.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.global_regions                ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.global_placement_tiers        ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.global_function_placement     ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.production_validation_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.production_validation_checks  ENABLE ROW LEVEL SECURITY;

CREATE POLICY global_regions_service_all ON public.global_regions
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY global_regions_admin_select ON public.global_regions
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY global_placement_tiers_service_all ON public.global_placement_tiers
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY global_placement_tiers_admin_select ON public.global_placement_tiers
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY global_function_placement_service_all ON public.global_function_placement
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY global_function_placement_admin_select ON public.global_function_placement
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY production_validation_reports_service_all ON public.production_validation_reports
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY production_validation_reports_admin_select ON public.production_validation_reports
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY production_validation_checks_service_all ON public.production_validation_checks
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY production_validation_checks_admin_select ON public.production_validation_checks
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));

REVOKE ALL ON TABLE public.global_regions, public.global_placement_tiers, public.global_function_placement,
  public.production_validation_reports, public.production_validation_checks
FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.global_regions, public.global_placement_tiers, public.global_function_placement,
  public.production_validation_reports, public.production_validation_checks
TO authenticated;
GRANT ALL ON TABLE public.global_regions, public.global_placement_tiers, public.global_function_placement,
  public.production_validation_reports, public.production_validation_checks
TO service_role;
