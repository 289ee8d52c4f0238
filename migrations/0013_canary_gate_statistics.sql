-- 0013_canary_gate_statistics.sql: a latency regression is relative and absolute, judged on
-- enough timings.
--
-- With a handful of samples a nearest-rank p95 is the slowest request, and on a fast service a
-- bare ratio turns one scheduling hiccup into a rollback (22.1 ms against 1.5 x 4.9 ms with
-- identical builds). A run now also stores:
--   min_p95_increase_ms   green p95 must exceed blue's by at least this much as well as by the
--                         ratio (default 50 ms)
--   min_latency_samples   timings needed on each side before the latency gate judges at all
--                         (default 20, and never fewer than the run's min_samples)
-- Runs started before this migration get the defaults.

ALTER TABLE public.migration_runs
  ADD COLUMN min_p95_increase_ms numeric(10, 3) NOT NULL DEFAULT 50 CHECK (min_p95_increase_ms >= 0),
  ADD COLUMN min_latency_samples integer NOT NULL DEFAULT 20 CHECK (min_latency_samples >= 1);
