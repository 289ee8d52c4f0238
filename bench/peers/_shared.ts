// What both functions share, written the way a Supabase Edge Function's `_shared/` folder is:
// a postgres.js pool, CORS, problem+json answers, the per-request metrics row. Configuration
// comes from the same variables edge reads (SPIN_VARIABLE_<NAME>), so one environment drives
// every contender of scripts/bench compare.
import postgres from "postgres";

export function env(name: string): string | undefined {
  const v = Deno.env.get(`SPIN_VARIABLE_${name.toUpperCase()}`);
  return v && v.trim() !== "" ? v : undefined;
}

// As many connections as edge's pool (PG_POOL_SIZE, which scripts/bench compare sets to edge's
// size for the database it uses); prepared statements, as edge.
const poolSize = Number(Deno.env.get("PG_POOL_SIZE") ?? "25");
export const sql = postgres(env("db_url") ?? "", { max: poolSize, prepare: true, idle_timeout: 0, onnotice: () => {} });

const corsOrigins = env("cors_origins") ?? "*";

export function corsHeaders(origin: string | null): Record<string, string> {
  const h: Record<string, string> = {
    "vary": "Origin",
    "access-control-allow-headers": "authorization, x-client-info, apikey, content-type, stripe-signature, idempotency-key, accept",
    "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "access-control-expose-headers":
      "retry-after, x-request-id, location, content-disposition, x-quote-id, x-document-sha256, x-document-cached, x-email-status",
    "access-control-max-age": "86400",
  };
  const allowed = corsOrigins.trim();
  if (allowed === "" || allowed === "*") h["access-control-allow-origin"] = "*";
  else if (origin && allowed.split(",").some((a) => a.trim().toLowerCase() === origin.toLowerCase())) {
    h["access-control-allow-origin"] = origin;
  }
  return h;
}

export class Problem extends Error {
  constructor(public status: number, public code: string, public title: string, public detail?: string) {
    super(title);
  }
}

const enc = new TextEncoder();

export function json(status: number, body: unknown, contentType = "application/json"): Response {
  const text = JSON.stringify(body);
  return new Response(text, { status, headers: { "content-type": contentType, "content-length": String(enc.encode(text).length) } });
}

export function problem(p: Problem): Response {
  const body: Record<string, unknown> = { type: "about:blank", title: p.title, status: p.status, code: p.code };
  if (p.detail) body.detail = p.detail;
  return json(p.status, body, "application/problem+json");
}

/** A database failure as the caller sees it: 503 when the database is away, else 500. */
export function dbProblem(e: unknown): Problem {
  const code = (e as { code?: string })?.code ?? "";
  if (/^(57P0[123]|53300|08\d\d\d)$/.test(code) || /ECONNREFUSED|CONNECTION_(CLOSED|ENDED|DESTROYED)/.test(code)) {
    return new Problem(503, "database_unavailable", "Service unavailable", "the database is unavailable; retry shortly");
  }
  console.error("database error:", e);
  return new Problem(500, "internal_error", "Internal server error");
}

export function requestId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** RFC 3339 UTC as the Rust functions print it (no fraction when whole seconds). */
export function timestamp(d: Date | null | undefined): string | null {
  if (!d) return null;
  const iso = d.toISOString();
  return iso.endsWith(".000Z") ? iso.slice(0, -5) + "Z" : iso.replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** One performance_metrics row per request, written after the response (EdgeRuntime.waitUntil's job). */
export function recordMetric(
  fn: string, method: string, status: number, durationMs: number, bytes: number, userId: string | null, requestId: string,
) {
  sql`INSERT INTO public.performance_metrics
        (function_name, route, method, status, duration_ms, region, deployment_color, user_id, request_id, response_bytes)
      VALUES (${fn}, ${"/functions/v1/" + fn}, ${method}, ${status}, ${durationMs}, ${env("region") ?? "local"},
              ${env("deployment_color") ?? "blue"}, ${userId}, ${requestId}, ${bytes})`
    .catch((e) => console.error("metrics row not written:", e));
}
