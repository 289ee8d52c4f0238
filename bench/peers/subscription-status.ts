// subscription-status for Deno: the caller's plan, usage and diagnostics (the same statement,
// role and claims as functions/subscription-status, and the same answer).
import { jwtVerify } from "jose";
import { env, json, Problem, sql, timestamp } from "./_shared.ts";

// The caller's plan, usage, customer and backlog, read as the caller in one statement: the
// function functions/subscription-status calls (migrations/0019_requests_in_one_statement.sql).
const STATUS_SQL = "SELECT public.subscription_status_as($1, $2, $3) AS rows";
const TIMESTAMPS = ["current_period_start", "current_period_end", "period_start", "period_end"];

const secret = new TextEncoder().encode(env("jwt_secret") ?? "");
const issuer = env("jwt_issuer");

export interface Caller {
  sub: string;
  email?: string;
  claims: Record<string, unknown>;
}

export async function requireUser(req: Request): Promise<Caller> {
  const header = req.headers.get("authorization");
  if (!header) throw new Problem(401, "missing_token", "Unauthorized", "send `Authorization: Bearer <access token>`");
  const m = /^[Bb]earer (.+)$/.exec(header);
  if (!m) throw new Problem(401, "invalid_authorization_header", "Unauthorized", "the Authorization header must be `Bearer <token>`");
  let payload;
  try {
    ({ payload } = await jwtVerify(m[1].trim(), secret, {
      algorithms: ["HS256"], audience: "authenticated", issuer, requiredClaims: ["exp", "sub", "role"],
    }));
  } catch {
    throw new Problem(401, "invalid_token", "Unauthorized", "The bearer token is invalid or expired.");
  }
  if (payload.role !== "authenticated") {
    throw new Problem(403, "user_token_required", "Forbidden", "this endpoint acts for a signed-in user; use a user's token");
  }
  return { sub: payload.sub as string, email: payload.email as string | undefined, claims: payload as Record<string, unknown> };
}

const UNLIMITED = -1;
const remaining = (limit: number, used: number) => (limit === UNLIMITED ? UNLIMITED : Math.max(0, limit - used));
const atLimit = (limit: number, used: number) => limit !== UNLIMITED && used >= limit;
const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

type Diagnostic = { level: string; code: string; message: string; recommendation?: string };

export async function subscriptionStatus(req: Request, requestId: string, verified: Promise<Caller>): Promise<{ response: Response; userId: string }> {
  if (req.method !== "GET" && req.method !== "HEAD") throw new Problem(405, "method_not_allowed", "Method not allowed");
  const caller = await verified;
  const q = new URL(req.url).searchParams.get("include_diagnostics");
  let include: boolean;
  if (q === null || q === "true" || q === "1") include = true;
  else if (q === "false" || q === "0") include = false;
  else throw new Problem(422, "validation_failed", "Validation failed", `\`${q}\` is not true or false`);

  // As the caller, so RLS limits every row to their own: the function takes the role and claims
  // for its own statement, and answers its rows as JSON text.
  const [{ rows }] = await sql.unsafe(STATUS_SQL, [JSON.stringify(caller.claims), caller.sub, include], { prepare: true });
  const [r] = JSON.parse(rows);
  for (const k of TIMESTAMPS) r[k] = r[k] ? new Date(r[k]) : null;

  const subscription = r.subscription_id
    ? {
      id: r.subscription_id, stripe_subscription_id: r.stripe_subscription_id, status: r.subscription_status,
      price_id: r.price_id, unit_amount: n(r.unit_amount), currency: r.currency, interval: r.interval,
      current_period_start: timestamp(r.current_period_start), current_period_end: timestamp(r.current_period_end),
      cancel_at_period_end: !!r.cancel_at_period_end,
    }
    : null;
  const features = {
    max_quotes: Number(r.max_quotes), max_clients: Number(r.max_clients), pdf_export: !!r.pdf_export,
    email_quotes: !!r.email_quotes, custom_branding: !!r.custom_branding, analytics: !!r.analytics,
    api_access: !!r.api_access, bulk_operations: !!r.bulk_operations,
  };
  const usage = {
    quotes: Number(r.quotes_count), clients: Number(r.clients_count), pdf_exports: Number(r.pdf_exports_count),
    api_calls: Number(r.api_calls_count), bulk_operations: Number(r.bulk_operations_count),
    periodStart: timestamp(r.period_start), periodEnd: timestamp(r.period_end),
  };
  const customer = r.stripe_customer_id ? { id: r.stripe_customer_id, email: r.customer_email ?? null } : null;
  const data: Record<string, unknown> = {
    user: { id: caller.sub, email: caller.email ?? null },
    plan: { key: r.plan_key, name: r.plan_name, entitled: !!r.entitled, past_due: !!r.past_due, limits_configured: !!r.limits_configured },
    subscription,
    stripe_customer: customer,
    features,
    usage,
    limits: {
      quotes: features.max_quotes, clients: features.max_clients,
      quotesRemaining: remaining(features.max_quotes, usage.quotes),
      clientsRemaining: remaining(features.max_clients, usage.clients),
    },
  };
  if (include) {
    const backlog = r.backlog_total === null ? 0 : Number(r.backlog_total);
    const out: Diagnostic[] = [];
    if (!customer) {
      out.push({ level: "warning", code: "no_stripe_customer", message: "No Stripe customer is linked to your account", recommendation: "If you have paid, contact support with your receipt so the payment can be linked" });
    } else if (!r.entitled) {
      out.push({ level: "info", code: "no_active_subscription", message: "You have no active subscription; the free plan applies", recommendation: "Subscribe to a paid plan to raise your limits" });
    }
    if (r.past_due) {
      out.push({ level: "warning", code: "payment_past_due", message: "Your last payment failed; your plan stays active while Stripe retries", recommendation: "Update your payment method to avoid losing access" });
    }
    if (subscription?.cancel_at_period_end) {
      const end = subscription.current_period_end ? ` (${subscription.current_period_end})` : "";
      out.push({ level: "info", code: "cancels_at_period_end", message: `Your subscription ends at the end of the current period${end}`, recommendation: "Resume the subscription to keep your plan" });
    }
    if (r.entitled && !r.limits_configured) {
      out.push({ level: "warning", code: "plan_limits_missing", message: `Plan \`${r.plan_key}\` has no configured limits; free-plan limits apply`, recommendation: "Contact support: the plan's limits need to be configured" });
    }
    if (atLimit(features.max_quotes, usage.quotes)) {
      out.push({ level: "warning", code: "quote_limit_reached", message: `You have reached your quote limit of ${features.max_quotes} this month (${usage.quotes} used)`, recommendation: "Upgrade your plan to create more quotes" });
    }
    if (atLimit(features.max_clients, usage.clients)) {
      out.push({ level: "warning", code: "client_limit_reached", message: `You have reached your client limit of ${features.max_clients} (${usage.clients} clients)`, recommendation: "Upgrade your plan to add more clients" });
    }
    if (backlog > 0) {
      const one = backlog === 1;
      out.push({ level: "error", code: "webhook_events_unprocessed", message: `${backlog} billing event${one ? "" : "s"} for your account ${one ? "has" : "have"} not been processed yet`, recommendation: "Your plan may be out of date; it updates once the events are processed" });
    }
    data.diagnostics = out;
    if (backlog > 0) data.unprocessed_webhook_events = r.backlog ?? [];
  }
  const body = { success: true, data, message: "Subscription status retrieved successfully", metadata: { function: "subscription-status", request_id: requestId } };
  return { response: json(200, body), userId: caller.sub };
}
