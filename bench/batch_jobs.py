#!/usr/bin/env python3
"""Drive one batch job to completion with N parallel `run` workers and time it.

Usage: batch_jobs.py BASE_URL TOKEN OPERATION WORKERS IDS_FILE [OPTIONS_JSON]
Prints JSON: {"operation", "workers", "items", "seconds", "items_per_s", "processed", "failed"}.
"""
import json, sys, threading, time, urllib.request

base, token, operation, workers, ids_file = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
options = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
ids = [l.strip() for l in open(ids_file) if l.strip()]

def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

def job_of(answer):
    return answer.get("data", answer) if isinstance(answer, dict) else {}

started = time.perf_counter()
status, answer = call("POST", "/functions/v1/batch-processor", {"operation": operation, "items": ids, "options": options})
job = job_of(answer)
if status not in (200, 202):
    sys.exit(f"job not created: {status} {answer}")
job_id = job["id"]
done = threading.Event()

def worker():
    while not done.is_set():
        s, a = call("POST", f"/functions/v1/batch-processor/jobs/{job_id}/run")
        j = job_of(a)
        if j.get("status") in ("completed", "failed", "cancelled"):
            done.set()

if job.get("status") not in ("completed", "failed"):
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads: t.start()
    for t in threads: t.join()
elapsed = time.perf_counter() - started
s, a = call("GET", f"/functions/v1/batch-processor/jobs/{job_id}")
final = job_of(a)
print(json.dumps({"operation": operation, "workers": workers, "items": len(ids), "seconds": round(elapsed, 3),
                  "items_per_s": round(len(ids) / elapsed, 1), "processed": final.get("processed_items"),
                  "failed": final.get("failed_items"), "status": final.get("status")}))
