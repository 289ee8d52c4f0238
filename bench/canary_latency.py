"""Added latency of the canary middleware (shared::canary), measured with wrk on real hosts.

Three hosts on one database: green (deployment_color green), blue without green_base_url
(the middleware returns before any database work: the baseline), and blue with green_base_url
pointing at green. A migration at 50 % is started on the canary blue; one user whose bucket
stays on blue and one whose bucket goes to green are picked with the middleware's own hash.

Runs (GET /functions/v1/subscription-status, one connection, alternated over several rounds,
the median of each run's p50 / p99 reported):
  baseline        blue without green_base_url, the blue user
  no_migration    blue with green_base_url, no active migration (one query that finds nothing)
  stays_on_blue   blue with green_base_url at 50 %, the blue user
  green_direct    green itself, the green user
  forwarded       blue with green_base_url at 50 %, the green user (blue → green → blue)

Added latency: stays_on_blue - baseline (target <= 1 ms at p50); no_migration - baseline;
forwarded - green_direct (the hop and blue's own work); each the median over rounds of the
difference between a run and its reference run measured right beside it.

usage: canary_latency.py EDGE OUT_JSON SECONDS ROUNDS   (SPIN_VARIABLE_* for the database set)
"""

import datetime
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

edge, out_json, seconds, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def bucket(key: str) -> int:
    """shared::canary::bucket (FNV-1a 64 and a finaliser, mod 100)."""
    m = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for b in key.encode():
        h ^= b
        h = (h * 0x100000001B3) & m
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & m
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & m
    h ^= h >> 33
    return h % 100


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(extra: dict) -> tuple:
    port = free_port()
    env = dict(os.environ, **extra)
    p = subprocess.Popen([edge, "up", "--listen", f"127.0.0.1:{port}"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            urllib.request.urlopen(f"{base}/functions/v1/subscription-status/health", timeout=1)
            return p, base
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit("edge did not start")


def token(sub: str, role: str = "authenticated") -> str:
    return subprocess.check_output([edge, "token", "--sub", sub, "--role", role, "--ttl", "3600"], text=True).strip()


def ms(v: str) -> float:
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def wrk(base: str, tok: str) -> dict:
    out = subprocess.check_output(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {tok}",
         f"{base}/functions/v1/subscription-status"], text=True)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": ms(lat["50"]), "p99": ms(lat["99"]),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


# One user sends every request of a run: the rate limiter would answer 429s and the runs would
# time the limiter, not the canary. It is switched off (requestsPerMinute 0), as bench/compare.py does.
subprocess.run(["psql", "-X", "-q", os.environ["SPIN_VARIABLE_DB_URL"], "-c",
                "UPDATE security_configuration SET config_value = config_value || '{\"requestsPerMinute\": 0}' "
                "WHERE config_category = 'rate_limiting' AND config_key = 'global_settings'"], check=True)

green, green_base = start({"SPIN_VARIABLE_DEPLOYMENT_COLOR": "green"})
plain, plain_base = start({"SPIN_VARIABLE_DEPLOYMENT_COLOR": "blue"})
canary, canary_base = start({"SPIN_VARIABLE_DEPLOYMENT_COLOR": "blue", "SPIN_VARIABLE_GREEN_BASE_URL": green_base,
                              "SPIN_VARIABLE_GREEN_ORIGIN": green_base})
try:
    users = [str(uuid.uuid4()) for _ in range(200)]
    blue_user = next(u for u in users if bucket(f"user:{u}") >= 50)
    green_user = next(u for u in users if bucket(f"user:{u}") < 50)
    blue_tok, green_tok = token(blue_user), token(green_user)
    service = token("00000000-0000-4000-8000-000000000001", "service_role")

    def control(body: dict) -> dict:
        req = urllib.request.Request(f"{canary_base}/functions/v1/migration-controller", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {service}", "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=30))

    # Each measured run is paired with its reference run right beside it (order alternating), and
    # the added latency is the median of the pairs' differences: the machine's load drifts
    # between rounds, much less between two neighbouring runs.
    runs = {k: [] for k in ["baseline", "no_migration", "stays_on_blue", "green_direct", "forwarded"]}
    pairs = {"no_migration": [], "stays_on_blue": [], "forwarded": []}

    def pair(i, name, ref_name, run, ref):
        if i % 2:
            a = run()
            b = ref()
        else:
            b = ref()
            a = run()
        runs[name].append(a)
        runs[ref_name].append(b)
        pairs[name].append(a["p50"] - b["p50"])

    for i in range(rounds):
        pair(i, "no_migration", "baseline", lambda: wrk(canary_base, blue_tok), lambda: wrk(plain_base, blue_tok))
    control({"operation": "initialize_migration", "target_traffic_percent": 50, "bake_time_seconds": 3600})
    for i in range(rounds):
        pair(i, "stays_on_blue", "baseline", lambda: wrk(canary_base, blue_tok), lambda: wrk(plain_base, blue_tok))
        pair(i, "forwarded", "green_direct", lambda: wrk(canary_base, green_tok), lambda: wrk(green_base, green_tok))
    control({"operation": "execute_rollback", "reason": "benchmark finished"})
finally:
    for p in (green, plain, canary):
        p.terminate()
        p.wait()

summary = {name: {"p50_ms": round(statistics.median(r["p50"] for r in rs), 3),
                  "p99_ms": round(statistics.median(r["p99"] for r in rs), 3),
                  "rps": round(statistics.median(r["rps"] for r in rs), 1),
                  "non_2xx": sum(r["non_2xx"] for r in rs), "rounds": len(rs)}
           for name, rs in runs.items()}
added = {
    "stays_on_blue_p50_ms": round(statistics.median(pairs["stays_on_blue"]), 3),
    "no_migration_p50_ms": round(statistics.median(pairs["no_migration"]), 3),
    "forwarded_vs_green_direct_p50_ms": round(statistics.median(pairs["forwarded"]), 3),
    "pairs_p50_ms": {k: [round(v, 3) for v in vs] for k, vs in pairs.items()},
}
result = {"suite": "canary", "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "load_average": open("/proc/loadavg").read().split()[:3],
          "request": "GET /functions/v1/subscription-status, 1 connection, wrk", "seconds_per_run": seconds,
          "runs": summary, "added_latency": added, "target": {"stays_on_blue_p50_ms": 1.0}}
os.makedirs(os.path.dirname(out_json), exist_ok=True)
json.dump(result, open(out_json, "w"), indent=2)
print("| run | p50 | p99 | req/s | non-2xx |\n|---|---|---|---|---|")
for name, r in summary.items():
    print(f"| {name} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['rps']:.0f} | {r['non_2xx']} |")
print("\nadded latency at p50 (median of paired runs): "
      + ", ".join(f"{k} {v:+.2f} ms" for k, v in added.items() if k != "pairs_p50_ms"))
