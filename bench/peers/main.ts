// The Deno peer of scripts/bench compare: subscription-status and webhook-handler as Supabase
// Edge Functions are written (Deno.serve, jose, postgres.js), behind one Deno.serve that routes
// /functions/v1/<name> as `supabase functions serve` does.
//
//   deno run --allow-net --allow-env --allow-read main.ts   (PORT, SPIN_VARIABLE_DB_URL, ...)
import { corsHeaders, dbProblem, env, Problem, problem, recordMetric, requestId, sql } from "./_shared.ts";
import { requireUser, subscriptionStatus } from "./subscription-status.ts";
import { webhookHandler } from "./webhook-handler.ts";

const port = Number(Deno.env.get("PORT") ?? "8000");
const colour = env("deployment_color") ?? "blue";

Deno.serve({ port, hostname: "127.0.0.1", onListen: () => console.error(`deno peer: listening on ${port}`) }, async (req, info) => {
  const started = performance.now();
  const path = new URL(req.url).pathname;
  const m = /^\/functions\/v1\/([a-z-]+)(\/.*)?$/.exec(path);
  const fn = m?.[1] ?? "";
  const sub = (m?.[2] ?? "").replace(/\/+$/, "");
  const id = requestId();
  let response: Response;
  let userId: string | null = null;
  try {
    if (fn !== "subscription-status" && fn !== "webhook-handler") throw new Problem(404, "route_not_found", "Not found");
    if (req.method === "OPTIONS") response = new Response(null, { status: 204 });
    else if (sub === "/health") response = Response.json({ status: "ok", function: fn, version: "0.1.0" });
    else if (sub !== "") throw new Problem(404, "route_not_found", "Not found");
    else {
      // The security gate, as shared::security::guard runs it before every handler: block list,
      // rate limit and threat settings in one statement, keyed by the verified user or the address.
      const address = info.remoteAddr.hostname;
      const verified = fn === "subscription-status" ? requireUser(req) : Promise.reject(null);
      verified.catch(() => {});
      const key = await verified.then((c) => `user:${c.sub}`, () => `ip:${address}`);
      const [gate] = await sql`SELECT status, code, retry_after, threat_settings
                               FROM public.security_gate(${key}, ${"ip:" + address}, true)`;
      if (gate.status === 429) throw new Problem(429, "rate_limited", "Too many requests");
      if (gate.status !== 0) throw new Problem(403, "client_blocked", "this client is blocked after a security incident");
      if (fn === "subscription-status") ({ response, userId } = await subscriptionStatus(req, id, verified));
      else response = await webhookHandler(req, `${address}:${info.remoteAddr.port}`);
    }
  } catch (e) {
    response = problem(e instanceof Problem ? e : dbProblem(e));
  }
  for (const [k, v] of Object.entries(corsHeaders(req.headers.get("origin")))) response.headers.set(k, v);
  response.headers.set("x-request-id", id);
  response.headers.set("x-deployment-color", colour);
  if (fn === "subscription-status" || fn === "webhook-handler") {
    const bytes = Number(response.headers.get("content-length") ?? 0);
    recordMetric(fn, req.method, response.status, performance.now() - started, bytes, userId, id);
  }
  return response;
});
