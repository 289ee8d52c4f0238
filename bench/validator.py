"""production-validator: how long a validation takes, per validation_type.

The database holds a day of traffic for the 11 functions (100,000 performance_metrics rows,
about 4,000 of them in the last hour), so the traffic checks read a realistic window. Each
validation_type runs RUNS times in turn; measured from the client (the whole HTTP request) and
inside the function (`execution_time_ms`), with the slowest `/health` probe of each
comprehensive run (cold: the first request of the run; warm: the median of the next three).

usage: validator.py BASE TOKEN PSQL_URL OUT.json [RUNS]
"""
import json
import statistics
import subprocess
import sys
import time
import urllib.request

base, token, db, out_path = sys.argv[1:5]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 20
FUNCTIONS = ["subscription-status", "quote-processor", "quote-pdf-generator", "webhook-handler", "batch-processor",
             "webhook-monitor", "migration-controller", "production-validator", "security-hardening",
             "performance-optimizer", "monitoring-alerting"]
TYPES = ["comprehensive", "performance", "security", "reliability", "functionality", "infrastructure"]


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-d", db, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


fn_array = "ARRAY[" + ",".join(f"'{f}'" for f in FUNCTIONS) + "]"
psql(f"""
INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, created_at)
SELECT ({fn_array})[1 + g % 11], '/functions/v1/' || ({fn_array})[1 + g % 11], 'GET',
       CASE WHEN g % 2000 = 0 THEN 500 ELSE 200 END, 3 + (g % 50) * 0.4,
       now() - (g::float8 / 100000) * interval '1 day'
FROM generate_series(1, 100000) g""")
psql("VACUUM ANALYZE performance_metrics")
in_window = int(psql("SELECT count(*) FROM performance_metrics WHERE created_at >= now() - interval '1 hour'"))


def validate(kind):
    body = json.dumps({"validation_type": kind}).encode()
    req = urllib.request.Request(f"{base}/functions/v1/production-validator", data=body, method="POST",
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        data = json.load(r)["data"]
    return (time.perf_counter() - t0) * 1000, data


def pct(values, p):
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))]


validate("security")  # the first request of a fresh host compiles nothing (cached) but warms the pool
results = {}
health = {"cold_ms": [], "warm_median_ms": []}
for kind in TYPES:
    client, inside, checks = [], [], 0
    for _ in range(runs):
        ms, data = validate(kind)
        client.append(ms)
        inside.append(data["execution_time_ms"])
        checks = len(data["checks"])
        if kind == "comprehensive":
            h = [c["evidence"] for c in data["checks"] if c["name"] == "health_latency"]
            health["cold_ms"].append(max(e["cold_ms"] for e in h))
            health["warm_median_ms"].append(max(e["warm_median_ms"] or 0 for e in h))
    results[kind] = {
        "checks": checks,
        "client_ms": {"p50": round(statistics.median(client), 1), "p95": round(pct(client, 95), 1), "max": round(max(client), 1)},
        "execution_ms": {"p50": round(statistics.median(inside), 1), "p95": round(pct(inside, 95), 1)},
    }

out = {
    "suite": "validator",
    "runs_per_type": runs,
    "metrics_rows": 100000,
    "metrics_rows_in_last_hour": in_window,
    "by_validation_type": results,
    "slowest_health_probe_per_comprehensive_run": {
        "cold_ms": {"p50": round(statistics.median(health["cold_ms"]), 2), "max": round(max(health["cold_ms"]), 2)},
        "warm_median_ms": {"p50": round(statistics.median(health["warm_median_ms"]), 2),
                           "max": round(max(health["warm_median_ms"]), 2)},
        "budgets_ms": {"cold": 300, "warm": 100},
    },
}
with open(out_path, "w") as f:
    json.dump(out, f, indent=2)
print(f"{'validation_type':<16} {'checks':>6} {'client p50':>11} {'p95':>8} {'inside p50':>11}")
for kind, r in results.items():
    print(f"{kind:<16} {r['checks']:>6} {r['client_ms']['p50']:>9.1f}ms {r['client_ms']['p95']:>6.1f}ms "
          f"{r['execution_ms']['p50']:>9.1f}ms")
h = out["slowest_health_probe_per_comprehensive_run"]
print(f"slowest /health per run: cold p50 {h['cold_ms']['p50']} ms (max {h['cold_ms']['max']}), "
      f"warm p50 {h['warm_median_ms']['p50']} ms (max {h['warm_median_ms']['max']})")
