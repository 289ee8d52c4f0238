#!/usr/bin/env python3
"""scripts/bench compare: the same two workloads against three servers on one PostgreSQL.

  edge    our components in the edge host (Wasm, one instance per request)
  native  the same handler code compiled natively behind hyper (bench/native)
  deno    the same endpoints in TypeScript for Deno, as Supabase Edge Functions (bench/peers)
  baseline  with `scripts/bench compare --baseline REV`: REV's components in REV's own edge,
          built in their own folder; the A/B measure of a change

Workloads (wrk, after a warm-up):
  subscription-status  GET with a user's token: JWT, the caller's plan and usage read as the user
  webhook-handler      POST of signed, distinct customer.subscription.updated events: signature,
                       recording, applying and marking each event exactly once
  quote-create         POST of a new quote (edge and baseline only: the other two serve the first
                       two endpoints alone)

Each (server, workload) pair runs in a fresh server process, so its peak RSS (VmHWM) is that
workload's; the runs repeat in rounds (COMPARE_ROUNDS, 3) with the order rotated, and each
server's figures are its median round. PostgreSQL is shared and measured apart (PSS of its processes under load).
Before the rounds, one request of each workload per server is sent with PostgreSQL's statement
log on: the statements a request costs, counted and listed in the results.
Environment: EDGE, NATIVE, DENO (binaries), DB (url), PG_PORT, PG_DIR, WORKDIR; for the A/B
run BASELINE_EDGE, BASELINE_ROOT, BASELINE_REV. Writes bench/results/compare.json (or
compare-ab.json with a baseline) and prints the README table.
"""
import datetime, json, os, re, signal, socket, statistics, subprocess, sys, time, urllib.request

EDGE, NATIVE, DENO = (os.path.abspath(os.environ[k]) for k in ("EDGE", "NATIVE", "DENO"))
DB, PG_PORT, WORK = os.environ["DB"], os.environ["PG_PORT"], os.environ["WORKDIR"]
DURATION = int(os.environ.get("COMPARE_SECONDS", "10"))
ROUNDS = int(os.environ.get("COMPARE_ROUNDS", "3"))
WARMUP = 3
STATUS_CONNECTIONS, WEBHOOK_CONNECTIONS, QUOTE_CONNECTIONS = 50, 16, 16
BASELINE_EDGE, BASELINE_ROOT, BASELINE_REV = (os.environ.get(k) for k in ("BASELINE_EDGE", "BASELINE_ROOT", "BASELINE_REV"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", PG_PORT, "-U", "postgres", "-d", DB.rsplit("/", 1)[1],
                           "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def load():
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


# The pool edge keeps for a database on this machine (pgvalue::pool_size: two per core and one
# more), given to the Deno peer too; native uses edge's rule itself.
POOL = 2 * os.cpu_count() + 1
secret = "bench-secret-" + os.urandom(16).hex()
whsec = "whsec_compare_" + os.urandom(12).hex()
ENV = dict(os.environ, SPIN_VARIABLE_DB_URL=DB, SPIN_VARIABLE_DB_HOST=f"127.0.0.1:{PG_PORT}", SPIN_VARIABLE_JWT_SECRET=secret,
           SPIN_VARIABLE_STRIPE_WEBHOOK_SECRETS=whsec, SPIN_VARIABLE_STRIPE_WEBHOOK_TOLERANCE_S="3600",
           DENO_DIR=os.path.join(PEERS, ".deno"), DENO_NO_UPDATE_CHECK="1", PG_POOL_SIZE=str(POOL))


def command(server, port):
    if server in ("edge", "baseline"):
        # The measured components only (edge's schedule, which calls monitoring-alerting, then
        # does no work during the measurement).
        edge, root = (EDGE, ROOT) if server == "edge" else (os.path.abspath(BASELINE_EDGE), BASELINE_ROOT)
        return [edge, "up", "--listen", f"127.0.0.1:{port}"] + [
            a for c in ("subscription-status", "webhook-handler", "quote-processor") for a in ("--component-id", c)], root, ENV
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


def quiesce():
    """Finish PostgreSQL's background work left by the last run (vacuum of the rows it wrote, a
    checkpoint of its pages) before the next is measured, so that it is not charged to it."""
    psql("VACUUM (ANALYZE)")
    psql("CHECKPOINT")


def measured(server, args, env=None):
    """wrk run plus the CPU time the server and PostgreSQL spent per request during it."""
    quiesce()
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
# statement per request) still runs in every server.
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
# Other users, each with a customer and a subscription, as a SaaS has them. Without them the
# tables have two users, one of whom (the webhook workload's) owns every subscription it
# creates, and the planner, which cannot know `auth.uid()`'s value, takes any user to own half
# of them: from the second round on, subscription-status scanned every subscription (8 ms of
# PostgreSQL per request, in every server alike).
psql("""
  WITH u AS (INSERT INTO auth.users (email) SELECT 'member-' || g || '@example.test' FROM generate_series(1, 2000) g
             RETURNING id, email),
       c AS (INSERT INTO stripe_customers (user_id, stripe_customer_id) SELECT id, 'cus_member_' || md5(email) FROM u)
  INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status)
  SELECT 'sub_member_' || md5(email), id, 'cus_member_' || md5(email), 'price_cmp', 'active' FROM u;
  ANALYZE""")
# Quote creation needs a plan without a quote limit (the workload creates tens of thousands).
quote_user = psql("""
  INSERT INTO stripe_products (id, name) VALUES ('prod_cmp_unl', 'Unlimited');
  INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval")
    VALUES ('price_cmp_unl', 'prod_cmp_unl', 'usd', 9900, 'recurring', 'month');
  INSERT INTO plan_limits (plan_key, name, max_quotes, max_clients) VALUES ('prod_cmp_unl', 'Unlimited', -1, -1);
  WITH u AS (INSERT INTO auth.users (email) VALUES ('compare-quotes@example.test') RETURNING id),
       s AS (INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_price_id, status)
             SELECT 'sub_cmp_unl', id, 'price_cmp_unl', 'active' FROM u)
  SELECT id FROM u;""").splitlines()[-1]


def mint(sub, email):
    return subprocess.run([EDGE, "token", "--sub", sub, "--email", email, "--ttl", "3600"],
                          env=ENV, capture_output=True, text=True, check=True).stdout.strip()


token, quote_token = mint(user, "compare@example.test"), mint(quote_user, "compare-quotes@example.test")

SERVERS = ["edge", "native", "deno"] + (["baseline"] if BASELINE_EDGE else [])
QUOTE_SERVERS = [s for s in SERVERS if s in ("edge", "baseline")]
WORKLOADS = ("subscription_status", "webhook_handler", "quote_create")
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


def send(base, workload):
    """One request of a workload, as the load generator sends it; its status."""
    if workload == "subscription_status":
        req = urllib.request.Request(base + "/functions/v1/subscription-status", headers={"authorization": "Bearer " + token})
    elif workload == "webhook_handler":
        sig, body = open(events(1)).read().rstrip("\n").split("\t", 1)
        req = urllib.request.Request(base + "/functions/v1/webhook-handler", data=body.encode(), method="POST",
                                     headers={"content-type": "application/json", "stripe-signature": sig})
    else:
        req = urllib.request.Request(base + "/functions/v1/quote-processor", data=QUOTE_BODY.encode(), method="POST",
                                     headers={"content-type": "application/json", "authorization": "Bearer " + quote_token})
    with urllib.request.urlopen(req) as r:
        r.read()
        return r.status


QUOTE_BODY = re.search(r"wrk\.body = \[\[(.*?)\]\]", open(os.path.join(ROOT, "bench", "create_quote.lua")).read(), re.S).group(1)
PG_LOG = os.path.join(os.environ["PG_DIR"], "postgres.log")


def statement_log(name, workload):
    """The statements one request sends PostgreSQL, from its statement log (log_statement = all)."""
    s = Server(name)
    try:
        send(s.base, workload)  # the first request of a process also fills caches; the second is measured
        psql("ALTER SYSTEM SET log_statement = 'all'")
        psql("SELECT pg_reload_conf()")
        time.sleep(0.3)
        start = os.path.getsize(PG_LOG)
        status = send(s.base, workload)
        time.sleep(0.5)  # the metrics row is written after the answer
        psql("ALTER SYSTEM RESET log_statement")
        psql("SELECT pg_reload_conf()")
        with open(PG_LOG, errors="replace") as f:
            f.seek(start)
            lines = f.read().splitlines()
    finally:
        s.stop()
    sent = [re.sub(r"\s+", " ", m.group(1))[:160] for m in (re.search(r"LOG:\s+(?:execute [^:]*|statement): (.*)", l) for l in lines) if m]
    sent = [q for q in sent if "pg_reload_conf" not in q and "log_statement" not in q]
    return {"status": status, "count": len(sent), "statements": sent}


results = {"suite": "compare", "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cores": os.cpu_count(), "load_average_before": load()},
           "settings": {"rounds": ROUNDS, "seconds": DURATION, "warmup_seconds": WARMUP, "subscription_status_connections": STATUS_CONNECTIONS,
                        "webhook_connections": WEBHOOK_CONNECTIONS, "quote_connections": QUOTE_CONNECTIONS, "database_pool": POOL,
                        "wrk_threads": 2},
           "servers": {}}
if BASELINE_EDGE:
    results["baseline"] = {"revision": BASELINE_REV}

# The servers must give the same answer before their speed means anything.
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

statements = {name: {w: statement_log(name, w) for w in WORKLOADS if w != "quote_create" or name in QUOTE_SERVERS}
              for name in SERVERS}


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


def run_quotes(name):
    before = int(psql("SELECT count(*) FROM quotes"))
    s = Server(name)
    try:
        lua = os.path.join(ROOT, "bench", "create_quote.lua")
        url = f"{s.base}/functions/v1/quote-processor"
        env = dict(os.environ, TOKEN=quote_token)
        wrk(["-t2", f"-c{QUOTE_CONNECTIONS}", f"-d{WARMUP}s", "--latency", "-s", lua, url], env=env)
        r = measured(s, ["-t2", f"-c{QUOTE_CONNECTIONS}", f"-d{DURATION}s", "--latency", "-s", lua, url], env=env)
        r["peak_rss_mib"] = round(s.status("VmHWM"), 1)
        r["load_average"] = load()
    finally:
        s.stop()
    r["quotes_stored"] = int(psql("SELECT count(*) FROM quotes")) - before
    return r


# Rounds with the order rotated, so a burst of load elsewhere on the machine does not fall on
# one server only; each server's figures are its median round (by throughput).
rounds = {name: {w: [] for w in WORKLOADS} for name in SERVERS}
for i in range(ROUNDS):
    order = SERVERS[i % len(SERVERS):] + SERVERS[:i % len(SERVERS)]
    for name in order:
        print(f"== round {i + 1}: {name}", file=sys.stderr)
        rounds[name]["subscription_status"].append(run_status(name))
    for name in order:
        rounds[name]["webhook_handler"].append(run_webhooks(name))
    for name in order:
        if name in QUOTE_SERVERS:
            rounds[name]["quote_create"].append(run_quotes(name))


def median_round(runs):
    ranked = sorted(runs, key=lambda r: r["rps"])
    m = dict(ranked[len(ranked) // 2])
    m["rps_rounds"] = [r["rps"] for r in runs]
    m["p99_ms_rounds"] = [r["p99_ms"] for r in runs]
    m["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    m["server_cpu_ms_per_request"] = statistics.median(r["server_cpu_ms_per_request"] for r in runs)
    m["postgres_cpu_ms_per_request"] = statistics.median(r["postgres_cpu_ms_per_request"] for r in runs)
    m["total_cpu_ms_per_request"] = round(statistics.median(r["server_cpu_ms_per_request"] + r["postgres_cpu_ms_per_request"]
                                                            for r in runs), 3)
    m["non_2xx"] = sum(r["non_2xx"] for r in runs)
    return m


for name in SERVERS:
    r = {w: median_round(rounds[name][w]) for w in WORKLOADS if rounds[name][w]}
    r["webhook_handler"]["events_applied"] = sum(x["events_applied"] for x in rounds[name]["webhook_handler"])
    if "quote_create" in r:
        r["quote_create"]["quotes_stored"] = sum(x["quotes_stored"] for x in rounds[name]["quote_create"])
    r["peak_rss_mib"] = max(r[w]["peak_rss_mib"] for w in WORKLOADS if w in r)
    r["statements_per_request"] = {w: statements[name][w]["count"] for w in statements[name]}
    r["statement_log"] = statements[name]
    r["rounds"] = rounds[name]
    results["servers"][name] = r
results["duplicate_deliveries"] = int(psql("SELECT coalesce(sum(deliveries - 1), 0) FROM stripe_webhook_events"))

# Cold start and, in edge, instantiation per request.
for name in SERVERS:
    results["servers"][name]["cold_start_ms"] = cold_start(name)
results["servers"]["edge"]["instantiation_us"] = {
    c: json.loads(subprocess.run([EDGE, "bench-instantiate", "--component", c, "--rounds", "5000"], cwd=ROOT, env=ENV,
                                 capture_output=True, text=True, check=True).stdout)
    for c in ("subscription-status", "webhook-handler")}
results["machine"]["load_average_after"] = load()

# Ratios and targets: edge against Deno and native; with a baseline, this tree against it.
e, n, d = (results["servers"][k] for k in ("edge", "native", "deno"))
ratios, checks = {}, []
for w in ("subscription_status", "webhook_handler"):
    ratios[w] = {
        "edge_vs_deno_throughput": round(e[w]["rps"] / d[w]["rps"], 2),
        "edge_vs_deno_p99": round(e[w]["p99_ms"] / d[w]["p99_ms"], 2),
        "edge_vs_deno_peak_rss": round(e[w]["peak_rss_mib"] / d[w]["peak_rss_mib"], 2),
        "native_vs_edge_throughput": round(n[w]["rps"] / e[w]["rps"], 2),
        "edge_vs_native_p99": round(e[w]["p99_ms"] / n[w]["p99_ms"], 2),
        # The host's own cost: the server's CPU per request, edge against the same handlers native.
        "edge_vs_native_server_cpu": round(e[w]["server_cpu_ms_per_request"] / n[w]["server_cpu_ms_per_request"], 2),
    }
    q = ratios[w]
    checks += [(w, "throughput >= 2x deno", q["edge_vs_deno_throughput"], q["edge_vs_deno_throughput"] >= 2),
               (w, "p99 <= 1/2 deno", q["edge_vs_deno_p99"], q["edge_vs_deno_p99"] <= 0.5),
               (w, "peak RSS <= 1/2 deno", q["edge_vs_deno_peak_rss"], q["edge_vs_deno_peak_rss"] <= 0.5),
               (w, "throughput within 1.5x of native", q["native_vs_edge_throughput"], q["native_vs_edge_throughput"] <= 1.5),
               (w, "server CPU <= 1.2x native", q["edge_vs_native_server_cpu"], q["edge_vs_native_server_cpu"] <= 1.2)]
checks += [("subscription_status", "p99 <= 15 ms at 50 connections", e["subscription_status"]["p99_ms"],
            e["subscription_status"]["p99_ms"] <= 15),
           ("webhook_handler", "p99 <= 20 ms at 16 connections", e["webhook_handler"]["p99_ms"], e["webhook_handler"]["p99_ms"] <= 20)]
if BASELINE_EDGE:
    b = results["servers"]["baseline"]
    ab = {}
    for w in WORKLOADS:
        ab[w] = {k: {"baseline": b[w][k], "now": e[w][k], "ratio": round(e[w][k] / b[w][k], 2) if b[w][k] else None}
                 for k in ("total_cpu_ms_per_request", "server_cpu_ms_per_request", "postgres_cpu_ms_per_request", "rps", "p99_ms")}
        ab[w]["statements_per_request"] = {"baseline": b["statements_per_request"][w], "now": e["statements_per_request"][w]}
        t = ab[w]["total_cpu_ms_per_request"]["ratio"]
        checks.append((w, "total CPU per request <= 1/2 baseline", t, t is not None and t <= 0.5))
    results["ab"] = ab
results["ratios"] = ratios
results["targets"] = [{"workload": w, "target": t, "value": v, "met": ok} for w, t, v, ok in checks]

os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
out_name = "compare-ab.json" if BASELINE_EDGE else "compare.json"
with open(os.path.join(ROOT, "bench", "results", out_name), "w") as f:
    json.dump(results, f, indent=2)

label = {"edge": "(a) edge (Wasm)", "native": "(b) native (hyper)", "deno": "(c) Deno (TypeScript)",
         "baseline": f"edge at {(BASELINE_REV or '')[:10]}"}
print("| workload | server | req/s | p50 | p99 | peak RSS | CPU ms/request: server / PostgreSQL | statements | non-2xx |\n"
      "|---|---|---|---|---|---|---|---|---|")
for w, title in (("subscription_status", f"subscription-status, {STATUS_CONNECTIONS} conn."),
                 ("webhook_handler", f"webhook-handler, {WEBHOOK_CONNECTIONS} conn."),
                 ("quote_create", f"quote create, {QUOTE_CONNECTIONS} conn.")):
    for k in SERVERS:
        if w not in results["servers"][k]:
            continue
        x = results["servers"][k][w]
        print(f"| {title} | {label[k]} | {x['rps']:.0f} | {x['p50_ms']:.2f} ms | {x['p99_ms']:.2f} ms | {x['peak_rss_mib']:.1f} MiB "
              f"| {x['server_cpu_ms_per_request']:.3f} / {x['postgres_cpu_ms_per_request']:.3f} "
              f"| {results['servers'][k]['statements_per_request'][w]} | {x['non_2xx']} |")
print("\n| target | workload | value | met |\n|---|---|---|---|")
for w, t, v, ok in checks:
    print(f"| {t} | {w.replace('_', '-')} | {v} | {'yes' if ok else 'NO'} |")
print("\ncold start (process start to first response): " + ", ".join(f"{k} {results['servers'][k]['cold_start_ms']} ms" for k in SERVERS))
print("instantiation per request (edge): " + ", ".join(f"{c} p50 {v['p50_us']} us / p99 {v['p99_us']} us"
                                                      for c, v in e["instantiation_us"].items()))
print(f"load average before {results['machine']['load_average_before']}, after {results['machine']['load_average_after']}")
