#!/usr/bin/env python3
"""Replay the hostile traffic of the host's limits against a running `edge up`, with ordinary
traffic alongside, and report how the ordinary traffic fared during each attack.

Usage: hostile.py BASE_URL EDGE_PID PSQL_URL [--scale N] [--only NAME,...]

Setup (done here, through the API and SQL): a free user (the attacker's own account), a paid
user with pdf_export and 12 large quotes (200 items, 2,000-character descriptions), and 12
large templates of the free user. Tokens are minted with `edge token` (EDGE_BIN, cwd = the
project). Prints one JSON document on stdout.

Attacks (sizes × N; the defaults are the sizes first measured):
  cmdi_bodies      2 anonymous ~1 MB bodies of `;` runs POSTed to quote-processor
  busy_guests      8 such bodies and 2 PDF renders of 8 large quotes, at once
  slow_bodies      210 connections: a head with Content-Length 100000, then one byte
  idle_connections 1,100 connections: half a partial head, half an idle keep-alive
  never_read       25 list requests of 12 large templates (5.6 MB) whose answers are never read
  pdf_memory       one 12-quote PDF request and 10 concurrent 8-quote requests; edge's RSS
Ordinary traffic: GET /.well-known/edge/health on a fresh connection and GET
subscription-status with a user token, each every 50 ms, measured during every attack.
"""
import json, os, socket, statistics, subprocess, sys, threading, time, urllib.parse

BASE, EDGE_PID, PSQL_URL = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SCALE = int(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1
ONLY = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
U = urllib.parse.urlparse(BASE)
HOST, PORT = U.hostname, U.port


def psql(sql):
    out = subprocess.run(["psql", "-X", "-q", "-tA", PSQL_URL, "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def token(sub, email):
    edge = os.environ.get("EDGE_BIN", "target/host/edge")
    return subprocess.run([edge, "token", "--sub", sub, "--email", email, "--ttl", "7200"],
                          check=True, capture_output=True, text=True).stdout.strip()


def request(method, path, body=None, headers=None, timeout=60.0):
    """One request on its own connection; (status, body bytes, seconds). Status 0: no answer."""
    t0 = time.perf_counter()
    head = [f"{method} {path} HTTP/1.1", f"host: {HOST}:{PORT}", "connection: close"]
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    if body is not None:
        head.append("content-type: application/json")
    head.append(f"content-length: {len(data)}")
    try:
        s = socket.create_connection((HOST, PORT), timeout=timeout)
        s.settimeout(timeout)
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
        s.close()
        raw = b"".join(chunks)
        status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
        return status, raw.split(b"\r\n\r\n", 1)[-1], time.perf_counter() - t0
    except OSError:
        return 0, b"", time.perf_counter() - t0


def rss_mib():
    try:
        with open(f"/proc/{EDGE_PID}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descriptors():
    try:
        return len(os.listdir(f"/proc/{EDGE_PID}/fd"))
    except OSError:
        return -1


class Ordinary:
    """Health and subscription-status every 50 ms each, with peak RSS, while an attack runs."""

    def __init__(self, user_tokens):
        # Several users, so the ordinary traffic stays inside each user's rate limit.
        self.tokens = user_tokens
        self.stop = threading.Event()
        self.samples = {"health": [], "subscription_status": []}
        self.rss_peak = 0.0

    def loop(self, name, path, authenticated):
        i = 0
        while not self.stop.is_set():
            i += 1
            headers = {"authorization": f"Bearer {self.tokens[i % len(self.tokens)]}"} if authenticated else {}
            status, _, secs = request("GET", path, headers=headers, timeout=30)
            self.samples[name].append((status, secs))
            self.stop.wait(0.05)

    def watch_memory(self):
        while not self.stop.is_set():
            self.rss_peak = max(self.rss_peak, rss_mib())
            self.stop.wait(0.05)

    def __enter__(self):
        self.threads = [
            threading.Thread(target=self.loop, args=("health", "/.well-known/edge/health", False)),
            threading.Thread(target=self.loop, args=("subscription_status", "/functions/v1/subscription-status", True)),
            threading.Thread(target=self.watch_memory),
        ]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def report(self):
        out = {}
        for name, samples in self.samples.items():
            times = sorted(s for _, s in samples)
            ok = sum(1 for st, _ in samples if st == 200)
            out[name] = {
                "requests": len(samples),
                "ok": ok,
                "failed": len(samples) - ok,
                "p50_ms": round(statistics.median(times) * 1000, 1) if times else None,
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1) if times else None,
                "max_ms": round(times[-1] * 1000, 1) if times else None,
            }
        out["edge_rss_peak_mib"] = round(self.rss_peak, 1)
        return out


def statuses(results):
    counts = {}
    for st in results:
        counts[str(st)] = counts.get(str(st), 0) + 1
    return counts


def in_parallel(calls):
    results = [None] * len(calls)

    def run(i, f):
        results[i] = f()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


CMDI_BODY = json.dumps([";" * 65536] * 15).encode()


def cmdi_post():
    return request("POST", "/functions/v1/quote-processor", CMDI_BODY)


def attack_cmdi_bodies(ctx):
    n = 2 * SCALE
    with Ordinary(ctx["ordinary_tokens"]) as o:
        time.sleep(0.3)
        answers = in_parallel([cmdi_post] * n)
        time.sleep(0.3)
    return {"attack": f"{n} anonymous bodies of `;` runs ({len(CMDI_BODY)} bytes each)",
            "answers": statuses(a[0] for a in answers),
            "slowest_attack_answer_ms": round(max(a[2] for a in answers) * 1000, 1),
            "ordinary": o.report()}


def pdf_of(ctx, ids):
    return lambda: request("POST", "/functions/v1/quote-pdf-generator", {"quote_ids": ids},
                           headers={"authorization": f"Bearer {ctx['paid_token']}", "accept": "application/json"},
                           timeout=120)


def attack_busy_guests(ctx):
    n = 8 * SCALE
    with Ordinary(ctx["ordinary_tokens"]) as o:
        time.sleep(0.3)
        answers = in_parallel([cmdi_post] * n + [pdf_of(ctx, ctx["big_quotes"][:8])] * (2 * SCALE))
        time.sleep(0.3)
    return {"attack": f"{n} bodies of `;` runs and {2 * SCALE} PDF renders of 8 large quotes, at once",
            "answers": statuses(a[0] for a in answers),
            "slowest_attack_answer_ms": round(max(a[2] for a in answers) * 1000, 1),
            "ordinary": o.report()}


def open_connections():
    """edge's own count of its open connections (the ordinary traffic's are short-lived)."""
    _, body, _ = request("GET", "/.well-known/edge/metrics", timeout=10)
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("edge_connections_open "):
            return int(float(line.split()[1]))
    return -1


def hold(seconds):
    """Wait, then how many connections edge still holds open."""
    time.sleep(seconds)
    return open_connections()


def attack_slow_bodies(ctx):
    n = 210 * SCALE
    socks = []
    with Ordinary(ctx["ordinary_tokens"]) as o:
        for _ in range(n):
            try:
                s = socket.create_connection((HOST, PORT), timeout=5)
                s.sendall(f"POST /functions/v1/quote-processor HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                          f"content-length: 100000\r\n\r\n{{".encode())
                socks.append(s)
            except OSError:
                pass
        time.sleep(0.5)
        held_at_once = open_connections()
        held_after = hold(8)
    for s in socks:
        s.close()
    return {"attack": f"{n} connections sending a head with Content-Length 100000 and one byte",
            "opened": len(socks), "edge_connections_open": {"at_once": held_at_once, "after_8_s": held_after},
            "ordinary": o.report()}


def attack_idle_connections(ctx):
    n = 1100 * SCALE
    socks = []
    fds_before = descriptors()
    with Ordinary(ctx["ordinary_tokens"]) as o:
        for i in range(n):
            try:
                s = socket.create_connection((HOST, PORT), timeout=5)
                if i % 2:
                    s.sendall(b"GET /functions/v1/subscription-status/health HTTP/1.1\r\nhost: x\r\n")  # partial head
                else:
                    s.sendall(b"GET /.well-known/edge/health HTTP/1.1\r\nhost: x\r\n\r\n")  # then idle keep-alive
                socks.append(s)
            except OSError:
                pass
        time.sleep(1)
        fds_during = descriptors()
        held_at_once = open_connections()
        held_after = hold(12)
    for s in socks:
        s.close()
    return {"attack": f"{n} connections: half a partial head, half an idle keep-alive",
            "opened": len(socks), "edge_descriptors": {"before": fds_before, "during": fds_during},
            "edge_connections_open": {"at_once": held_at_once, "after_13_s": held_after}, "ordinary": o.report()}


def attack_never_read(ctx):
    n = 25 * SCALE
    socks = []
    path = "/functions/v1/quote-processor?is_template=true&limit=100&q=Item"
    with Ordinary(ctx["ordinary_tokens"]) as o:
        for _ in range(n):
            s = socket.create_connection((HOST, PORT), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {ctx['free_token']}\r\n\r\n".encode())
            socks.append(s)
        time.sleep(3)
        in_use = psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()")
        others = in_parallel([lambda: request("GET", "/functions/v1/quote-processor?limit=5",
                                              headers={"authorization": f"Bearer {ctx['paid_token']}"})] * 30)
        held_at_once = open_connections()
        held_after = hold(20)
    for s in socks:
        s.close()
    return {"attack": f"{n} list requests of 12 large templates never read",
            "busy_database_sessions_while_held": int(in_use),
            "other_users_list_requests": statuses(a[0] for a in others),
            "edge_connections_open": {"at_once": held_at_once, "after_23_s": held_after}, "ordinary": o.report()}


def attack_pdf_memory(ctx):
    n = 10 * SCALE
    psql("DELETE FROM quote_documents")
    with Ordinary(ctx["ordinary_tokens"]) as o:
        rss_before = rss_mib()
        oversized = in_parallel([pdf_of(ctx, ctx["big_quotes"][:12])] + [pdf_of(ctx, ctx["big_quotes"][:8])] * n)
        # Batches inside the per-request budget, all at once: the per-user render slots decide.
        fitting = in_parallel([pdf_of(ctx, ctx["big_quotes"][:4])] * n)
        time.sleep(0.5)

    def codes(answers):
        return sorted({json.loads(a[1]).get("code", "") for a in answers if a[0] >= 400 and a[1][:1] == b"{"})

    return {"attack": f"one 12-quote PDF request and {n} concurrent 8-quote requests of large quotes, "
                      f"then {n} concurrent 4-quote requests",
            "oversized_answers": statuses(a[0] for a in oversized), "oversized_problems": codes(oversized),
            "fitting_answers": statuses(a[0] for a in fitting), "fitting_problems": codes(fitting),
            "slowest_fitting_answer_ms": round(max(a[2] for a in fitting) * 1000, 1),
            "edge_rss_mib": {"before": round(rss_before, 1), "peak": round(o.rss_peak, 1)},
            "ordinary": o.report()}


def big_quote(i, template=False):
    desc = ("Supply and fit, including all fixings and making good. " * 40)[:2000]
    q = {"client_name": f"Client {i}", "line_items": [
        {"name": f"Item {k}", "description": desc, "quantity": 1 + k % 7, "unit_price": "19.99"} for k in range(200)]}
    if template:
        q.update(is_template=True, template_name=f"Large template {i}")
    return q


def setup():
    def user(email):
        return psql(f"WITH u AS (INSERT INTO auth.users (email) VALUES ('{email}') RETURNING id) SELECT id FROM u")
    tag = str(int(time.time() * 1000))[-8:]
    free, paid = user(f"free{tag}@hostile.test"), user(f"paid{tag}@hostile.test")
    psql(f"""
      INSERT INTO stripe_products (id, name) VALUES ('prod_h{tag}', 'Pro');
      INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval")
        VALUES ('price_h{tag}', 'prod_h{tag}', 'usd', 2900, 'recurring', 'month');
      INSERT INTO plan_limits (plan_key, name, max_quotes, max_clients, pdf_export)
        VALUES ('prod_h{tag}', 'Pro', -1, -1, true);
      INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_price_id, status, current_period_start, current_period_end)
        VALUES ('sub_h{tag}', '{paid}', 'price_h{tag}', 'active', now(), now() + interval '30 days');""")
    ctx = {"free_token": token(free, f"free{tag}@hostile.test"), "paid_token": token(paid, f"paid{tag}@hostile.test")}
    ctx["ordinary_tokens"] = [token(user(f"u{k}.{tag}@hostile.test"), f"u{k}.{tag}@hostile.test") for k in range(20)]
    ids = []
    for i in range(12):
        st, body, _ = request("POST", "/functions/v1/quote-processor", big_quote(i),
                              headers={"authorization": f"Bearer {ctx['paid_token']}"})
        if st != 201:
            sys.exit(f"setup: large quote refused: {st} {body[:300]}")
        ids.append(json.loads(body)["id"])
    ctx["big_quotes"] = ids
    for i in range(12):
        st, body, _ = request("POST", "/functions/v1/quote-processor", big_quote(i, template=True),
                              headers={"authorization": f"Bearer {ctx['free_token']}"})
        if st != 201:
            sys.exit(f"setup: large template refused: {st} {body[:300]}")
    return ctx


ATTACKS = [("cmdi_bodies", attack_cmdi_bodies), ("busy_guests", attack_busy_guests),
           ("slow_bodies", attack_slow_bodies), ("idle_connections", attack_idle_connections),
           ("never_read", attack_never_read), ("pdf_memory", attack_pdf_memory)]

if __name__ == "__main__":
    ctx = setup()
    results = {}
    for name, attack in ATTACKS:
        if ONLY and name not in ONLY:
            continue
        print(f"hostile: {name}", file=sys.stderr)
        results[name] = attack(ctx)
        print(json.dumps(results[name]), file=sys.stderr)
        time.sleep(2)
    print(json.dumps({"scale": SCALE, "attacks": results}, indent=2))
