#!/usr/bin/env python3
"""scripts/bench compare: the same two workloads against three servers on one PostgreSQL.

  edge    our components in the edge host (Wasm, one instance per request)
  native  the same handler code compiled natively behind hyper (bench/native)
  deno    the same endpoints in TypeScript for Deno, as Supabase Edge Functions (bench/peers)

Workloads (wrk, after a warm-up):
  subscription-status  GET with a user's token: JWT, one transaction as the user, the answer
  webhook-handler      POST of signed, distinct customer.subscription.updated events: signature,
                       one transaction recording, applying and marking each event

Each (server, workload) pair runs in a fresh server process, so its peak RSS (VmHWM) is that
workload's; the runs repeat in rounds (COMPARE_ROUNDS, 3) with the order rotated, and each
server's figures are its median round. PostgreSQL is shared and measured apart (PSS of its processes under load).
Environment: EDGE, NATIVE, DENO (binaries), DB (url), PG_PORT, PG_DIR, WORKDIR. Writes
bench/results/compare.json and prints the README table.
"""
import datetime, json, os, re, signal, socket, statistics, subprocess, sys, time, urllib.request

EDGE, NATIVE, DENO = (os.path.abspath(os.environ[k]) for k in ("EDGE", "NATIVE", "DENO"))
DB, PG_PORT, WORK = os.environ["DB"], os.environ["PG_PORT"], os.environ["WORKDIR"]
DURATION = int(os.environ.get("COMPARE_SECONDS", "10"))
ROUNDS = int(os.environ.get("COMPARE_ROUNDS", "3"))
WARMUP = 3
STATUS_CONNECTIONS, WEBHOOK_CONNECTIONS = 50, 16
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", PG_PORT, "-U", "postgres", "-d", DB.rsplit("/", 1)[1],
                           "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def load():
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


secret = "bench-secret-" + os.urandom(16).hex()
whsec = "whsec_compare_" + os.urandom(12).hex()
ENV = dict(os.environ, SPIN_VARIABLE_DB_URL=DB, SPIN_VARIABLE_DB_HOST=f"127.0.0.1:{PG_PORT}", SPIN_VARIABLE_JWT_SECRET=secret,
           SPIN_VARIABLE_STRIPE_WEBHOOK_SECRETS=whsec, SPIN_VARIABLE_STRIPE_WEBHOOK_TOLERANCE_S="3600",
           DENO_DIR=os.path.join(PEERS, ".deno"), DENO_NO_UPDATE_CHECK="1")


def command(server, port):
    if server == "edge":
        # The two components only, as the other two serve only these endpoints (and edge's
        # schedule, which calls monitoring-alerting, does no work during the measurement).
        return [EDGE, "up", "--listen", f"127.0.0.1:{port}", "--component-id", "subscription-status",
                "--component-id", "webhook-handler"], ROOT, ENV
    if server == "native":
        return [NATIVE, "--listen", f"127.0.0.1:{port}"], ROOT, ENV
    return [DENO, "run", "--allow-net", "--allow-env", "--allow-read", "main.ts"], PEERS, dict(ENV, PORT=str(port))


HEALTH = b"GET /functions/v1/subscription-status/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"


def first_response(port, deadline=30.0):
    """Poll until the health endpoint answers 200; seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(HEALTH)
            ok = s.recv(16).startswith(b"HTTP/1.1 200")
            s.close()
            if ok:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.0005)
    raise RuntimeError(f"no answer on port {port}")


class Server:
    def __init__(self, name):
        self.name, self.port = name, free_port()
        argv, cwd, env = command(name, self.port)
        self.log = open(os.path.join(WORK, f"{name}.log"), "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log, stderr=self.log)
        first_response(self.port)
        self.base = f"http://127.0.0.1:{self.port}"

    def status(self, field):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # MiB
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill(); self.proc.wait()
        self.log.close()


def cold_start(name, samples=7):
    """Process start to the first 200 (programs and compiled code already cached on disk)."""
    Server(name).stop()  # warms caches: edge's compiled components, Deno's transpiled modules
    out = []
    for _ in range(samples):
        port = free_port()
        argv, cwd, env = command(name, port)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first_response(port)
        out.append((time.perf_counter() - t0) * 1000)
        p.terminate(); p.wait()
    return round(statistics.median(out), 1)


def postgres_pss_mib():
    """PSS of the cluster's processes (shared buffers counted once across them)."""
    total = 0
    for pid in postgres_pids():
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU time of the given processes (and their reaped children)."""
    total = 0
    for pid in pids:
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    return total / TICK


def postgres_pids():
    master = open(os.path.join(os.environ["PG_DIR"], "data", "postmaster.pid")).readline().strip()
    return [master] + subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()


def measured(server, args, env=None):
    """wrk run plus the CPU time the server and PostgreSQL spent per request during it."""
    pg_before = {p: cpu_seconds([p]) for p in postgres_pids()}
    srv_before = cpu_seconds([server.proc.pid])
    r = wrk(args, env)
    pg = sum(cpu_seconds([p]) - pg_before.get(p, 0) for p in postgres_pids())
    srv = cpu_seconds([server.proc.pid]) - srv_before
    r["server_cpu_ms_per_request"] = round(srv * 1000 / max(1, r["requests"]), 3)
    r["postgres_cpu_ms_per_request"] = round(pg * 1000 / max(1, r["requests"]), 3)
    return r


def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def wrk(args, env=None):
    out = subprocess.run(["wrk"] + args, capture_output=True, text=True, env=env, check=True).stdout
    lat = {p: ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50_ms": lat["50"], "p90_ms": lat["90"], "p99_ms": lat["99"],
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else None}


# ---- data -------------------------------------------------------------------------------------
# One benchmark user at thousands of requests a second is far over any per-client limit: the
# limiter is off (requestsPerMinute 0). The security gate itself (block list, settings: one
# statement per request) still runs in all three servers.
psql("""UPDATE security_configuration SET config_value = config_value || '{"requestsPerMinute": 0}'
        WHERE config_category = 'rate_limiting' AND config_key = 'global_settings'""")
user = psql("""
  INSERT INTO stripe_products (id, name) VALUES ('prod_cmp', 'Pro');
  INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval")
    VALUES ('price_cmp', 'prod_cmp', 'usd', 2900, 'recurring', 'month');
  INSERT INTO plan_limits (plan_key, name, max_quotes, max_clients, pdf_export) VALUES ('prod_cmp', 'Pro', 100, 50, true);
  WITH u AS (INSERT INTO auth.users (email) VALUES ('compare@example.test') RETURNING id),
       c AS (INSERT INTO stripe_customers (user_id, stripe_customer_id) SELECT id, 'cus_cmp' FROM u),
       s AS (INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status)
             SELECT 'sub_cmp', id, 'cus_cmp', 'price_cmp', 'active' FROM u)
  SELECT id FROM u;""").splitlines()[-1]
webhook_user = psql("INSERT INTO auth.users (email) VALUES ('compare-webhooks@example.test') RETURNING id").splitlines()[-1]
token = subprocess.run([EDGE, "token", "--sub", user, "--email", "compare@example.test", "--ttl", "3600"],
                       env=ENV, capture_output=True, text=True, check=True).stdout.strip()

SERVERS = ["edge", "native", "deno"]
EVENTS_PER_RUN = 25000
next_event = 0


def events(n):
    global next_event
    path = os.path.join(WORK, f"events_{next_event}.tsv")
    with open(path, "w") as f:
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "webhook_events.py"), whsec, webhook_user, str(n),
                        str(next_event)], stdout=f, check=True)
    next_event += n
    return path


def answer(base):
    req = urllib.request.Request(base + "/functions/v1/subscription-status", headers={"authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        doc = json.load(r)
    doc["metadata"]["request_id"] = None
    return doc


results = {"suite": "compare", "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cores": os.cpu_count(), "load_average_before": load()},
           "settings": {"rounds": ROUNDS, "seconds": DURATION, "warmup_seconds": WARMUP, "subscription_status_connections": STATUS_CONNECTIONS,
                        "webhook_connections": WEBHOOK_CONNECTIONS, "database_pool": 25, "wrk_threads": 2},
           "servers": {}}

# The three must give the same answer before their speed means anything.
answers = {}
for name in SERVERS:
    s = Server(name)
    try:
        answers[name] = answer(s.base)
    finally:
        s.stop()
results["same_subscription_status_answer"] = all(a == answers["edge"] for a in answers.values())
if not results["same_subscription_status_answer"]:
    print(json.dumps(answers, indent=1), file=sys.stderr)
    sys.exit("the servers do not give the same subscription-status answer")

def run_status(name):
    s = Server(name)
    try:
        idle = round(s.status("VmRSS"), 1)
        hdr = ["-H", f"Authorization: Bearer {token}", f"{s.base}/functions/v1/subscription-status"]
        wrk(["-t2", f"-c{STATUS_CONNECTIONS}", f"-d{WARMUP}s", "--latency"] + hdr)
        r = measured(s, ["-t2", f"-c{STATUS_CONNECTIONS}", f"-d{DURATION}s", "--latency"] + hdr)
        r["idle_rss_mib"] = idle
        r["peak_rss_mib"] = round(s.status("VmHWM"), 1)
        r["postgres_pss_mib"] = postgres_pss_mib()
        r["load_average"] = load()
        return r
    finally:
        s.stop()


def run_webhooks(name):
    warm, run = events(5000), events(EVENTS_PER_RUN)
    before = psql("SELECT count(*) FROM stripe_webhook_events WHERE outcome = 'applied'")
    s = Server(name)
    try:
        url = f"{s.base}/functions/v1/webhook-handler"
        lua = os.path.join(ROOT, "bench", "replay.lua")
        wrk(["-t2", f"-c{WEBHOOK_CONNECTIONS}", f"-d{WARMUP}s", "--latency", "-s", lua, url], env=dict(os.environ, REQUESTS=warm, THREADS="2"))
        r = measured(s, ["-t2", f"-c{WEBHOOK_CONNECTIONS}", f"-d{DURATION}s", "--latency", "-s", lua, url],
                     env=dict(os.environ, REQUESTS=run, THREADS="2"))
        r["peak_rss_mib"] = round(s.status("VmHWM"), 1)
        r["postgres_pss_mib"] = postgres_pss_mib()
        r["load_average"] = load()
    finally:
        s.stop()
    after = psql("SELECT count(*) FROM stripe_webhook_events WHERE outcome = 'applied'")
    r["events_applied"] = int(after) - int(before)
    return r


# Rounds with the order rotated, so a burst of load elsewhere on the machine does not fall on
# one server only; each server's figures are its median round (by throughput).
rounds = {name: {"subscription_status": [], "webhook_handler": []} for name in SERVERS}
for i in range(ROUNDS):
    order = SERVERS[i % 3:] + SERVERS[:i % 3]
    for name in order:
        print(f"== round {i + 1}: {name}", file=sys.stderr)
        rounds[name]["subscription_status"].append(run_status(name))
    for name in order:
        rounds[name]["webhook_handler"].append(run_webhooks(name))


def median_round(runs):
    ranked = sorted(runs, key=lambda r: r["rps"])
    m = dict(ranked[len(ranked) // 2])
    m["rps_rounds"] = [r["rps"] for r in runs]
    m["p99_ms_rounds"] = [r["p99_ms"] for r in runs]
    m["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    m["server_cpu_ms_per_request"] = statistics.median(r["server_cpu_ms_per_request"] for r in runs)
    m["postgres_cpu_ms_per_request"] = statistics.median(r["postgres_cpu_ms_per_request"] for r in runs)
    m["non_2xx"] = sum(r["non_2xx"] for r in runs)
    return m


for name in SERVERS:
    r = {w: median_round(rounds[name][w]) for w in ("subscription_status", "webhook_handler")}
    r["webhook_handler"]["events_applied"] = sum(x["events_applied"] for x in rounds[name]["webhook_handler"])
    r["peak_rss_mib"] = max(r["subscription_status"]["peak_rss_mib"], r["webhook_handler"]["peak_rss_mib"])
    r["rounds"] = rounds[name]
    results["servers"][name] = r
results["duplicate_deliveries"] = int(psql("SELECT coalesce(sum(deliveries - 1), 0) FROM stripe_webhook_events"))

# Cold start and, in edge, instantiation per request.
results["servers"]["edge"]["cold_start_ms"] = cold_start("edge")
results["servers"]["deno"]["cold_start_ms"] = cold_start("deno")
results["servers"]["native"]["cold_start_ms"] = cold_start("native")
results["servers"]["edge"]["instantiation_us"] = {
    c: json.loads(subprocess.run([EDGE, "bench-instantiate", "--component", c, "--rounds", "5000"], cwd=ROOT, env=ENV,
                                 capture_output=True, text=True, check=True).stdout)
    for c in ("subscription-status", "webhook-handler")}
results["machine"]["load_average_after"] = load()

# Ratios and targets: (a) edge >= 2x deno's throughput, <= 1/2 its p99 and memory; within 1.5x of native.
e, n, d = (results["servers"][k] for k in SERVERS)
ratios, checks = {}, []
for w in ("subscription_status", "webhook_handler"):
    ratios[w] = {
        "edge_vs_deno_throughput": round(e[w]["rps"] / d[w]["rps"], 2),
        "edge_vs_deno_p99": round(e[w]["p99_ms"] / d[w]["p99_ms"], 2),
        "edge_vs_deno_peak_rss": round(e[w]["peak_rss_mib"] / d[w]["peak_rss_mib"], 2),
        "native_vs_edge_throughput": round(n[w]["rps"] / e[w]["rps"], 2),
        "edge_vs_native_p99": round(e[w]["p99_ms"] / n[w]["p99_ms"], 2),
    }
    q = ratios[w]
    checks += [(w, "throughput >= 2x deno", q["edge_vs_deno_throughput"], q["edge_vs_deno_throughput"] >= 2),
               (w, "p99 <= 1/2 deno", q["edge_vs_deno_p99"], q["edge_vs_deno_p99"] <= 0.5),
               (w, "peak RSS <= 1/2 deno", q["edge_vs_deno_peak_rss"], q["edge_vs_deno_peak_rss"] <= 0.5),
               (w, "throughput within 1.5x of native", q["native_vs_edge_throughput"], q["native_vs_edge_throughput"] <= 1.5)]
results["ratios"] = ratios
results["targets"] = [{"workload": w, "target": t, "value": v, "met": ok} for w, t, v, ok in checks]

os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
with open(os.path.join(ROOT, "bench", "results", "compare.json"), "w") as f:
    json.dump(results, f, indent=2)

label = {"edge": "(a) edge (Wasm)", "native": "(b) native (hyper)", "deno": "(c) Deno (TypeScript)"}
print("| workload | server | req/s | p50 | p99 | peak RSS | CPU ms/request: server / PostgreSQL | non-2xx |\n|---|---|---|---|---|---|---|---|")
for w, title in (("subscription_status", f"subscription-status, {STATUS_CONNECTIONS} conn."),
                 ("webhook_handler", f"webhook-handler, {WEBHOOK_CONNECTIONS} conn.")):
    for k in SERVERS:
        x = results["servers"][k][w]
        print(f"| {title} | {label[k]} | {x['rps']:.0f} | {x['p50_ms']:.2f} ms | {x['p99_ms']:.2f} ms | {x['peak_rss_mib']:.1f} MiB "
              f"| {x['server_cpu_ms_per_request']:.3f} / {x['postgres_cpu_ms_per_request']:.3f} | {x['non_2xx']} |")
print("\n| target | workload | ratio | met |\n|---|---|---|---|")
for w, t, v, ok in checks:
    print(f"| {t} | {w.replace('_', '-')} | {v} | {'yes' if ok else 'NO'} |")
print(f"\ncold start (process start to first response): edge {e['cold_start_ms']} ms, native {n['cold_start_ms']} ms, "
      f"deno {d['cold_start_ms']} ms")
print("instantiation per request (edge): " + ", ".join(f"{c} p50 {v['p50_us']} us / p99 {v['p99_us']} us"
                                                      for c, v in e["instantiation_us"].items()))
print(f"load average before {results['machine']['load_average_before']}, after {results['machine']['load_average_after']}")
