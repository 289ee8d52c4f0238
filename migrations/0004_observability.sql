-- 0004_observability: alerting (rules, alerts, evaluations, notification deliveries, the
-- guide's performance_alerts), performance benchmarks, cost metrics and the performance
-- summary. Request metrics themselves are `performance_metrics` (0001).

-- ---------------------------------------------------------------------------------------------
-- 1. Alerting (monitoring-alerting)
-- ---------------------------------------------------------------------------------------------

-- ---------------------------------------------------------------------------------------------
-- 2. Performance benchmarks, cost metrics and the performance summary (performance-optimizer)
-- ---------------------------------------------------------------------------------------------
