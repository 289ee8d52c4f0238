// webhook-handler for Deno: Stripe signature, then the event recorded, applied and marked in one
// transaction, exactly once (the statements of shared::webhooks). The subscription events are
// applied as shared::webhooks applies them (the benchmark's workload); other types are recorded
// and acknowledged as ignored.
import type postgres from "postgres";
import { env, json, Problem, sql } from "./_shared.ts";

const enc = new TextEncoder();
const secrets = (env("stripe_webhook_secrets") ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
const tolerance = (() => {
  const t = parseInt(env("stripe_webhook_tolerance_s") ?? "", 10);
  return t > 0 ? t : 300;
})();
const keys = Promise.all(
  secrets.map((s) => crypto.subtle.importKey("raw", enc.encode(s), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])),
);

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

function equal(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

async function verify(body: string, header: string): Promise<void> {
  const reject = (code: string, detail: string) => new Problem(400, code, "Webhook rejected", detail);
  if (!header) throw reject("missing_signature", "no Stripe-Signature header");
  let t: number | null = null, tCount = 0;
  const v1: string[] = [];
  for (const element of header.split(",")) {
    const i = element.indexOf("=");
    if (i < 0) continue;
    const name = element.slice(0, i), value = element.slice(i + 1);
    if (name === "t") {
      tCount++;
      t = /^(0|[1-9]\d{0,11})$/.test(value) ? Number(value) : null;
    } else if (name === "v1") {
      v1.push(value);
      if (v1.length > 8) throw reject("too_many_signatures", "too many signatures");
    }
  }
  if (t === null || tCount !== 1) throw reject("no_timestamp", "the signature header has no valid timestamp");
  if (v1.length === 0) throw reject("no_signature", "the signature header has no v1 signature");
  if (Math.abs(Math.floor(Date.now() / 1000) - t) > tolerance) throw reject("timestamp_out_of_tolerance", "the signature is too old");
  const signed = enc.encode(`${t}.${body}`);
  for (const key of await keys) {
    const expected = hex(await crypto.subtle.sign("HMAC", key, signed));
    if (v1.some((s) => equal(s, expected))) return;
  }
  throw reject("signature_mismatch", "no signature matches");
}

// deno-lint-ignore no-explicit-any
type Json = any;
type Tx = postgres.TransactionSql;

class HandlerFailure extends Error {}

function customerId(o: Json): string | null {
  if (o.object === "customer") return o.id ?? null;
  if (typeof o.customer === "string") return o.customer;
  if (o.customer && typeof o.customer === "object") return o.customer.id ?? null;
  return null;
}

const q = (tx: Tx, text: string, params: unknown[]) => tx.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const STATUSES = ["trialing", "active", "canceled", "incomplete", "incomplete_expired", "past_due", "unpaid", "paused"];

async function upsertPrice(tx: Tx, o: Json) {
  const product = typeof o.product === "string" ? o.product : o.product?.id ?? "";
  if (!o.currency) throw new HandlerFailure(`price ${o.id} has no currency`);
  const r = o.recurring && typeof o.recurring === "object" ? o.recurring : null;
  await q(tx, `INSERT INTO public.stripe_prices (id, stripe_product_id, active, currency, unit_amount, type, "interval",
                                           interval_count, trial_period_days, metadata, last_event_created, last_event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, 1), $9, $10, to_timestamp($11::int8), $12)
         ON CONFLICT (id) DO UPDATE SET stripe_product_id = EXCLUDED.stripe_product_id, active = EXCLUDED.active,
           currency = EXCLUDED.currency, unit_amount = EXCLUDED.unit_amount, type = EXCLUDED.type,
           "interval" = EXCLUDED."interval", interval_count = EXCLUDED.interval_count,
           trial_period_days = EXCLUDED.trial_period_days, metadata = EXCLUDED.metadata,
           last_event_created = coalesce(EXCLUDED.last_event_created, stripe_prices.last_event_created),
           last_event_id = coalesce(EXCLUDED.last_event_id, stripe_prices.last_event_id), updated_at = now()`, [
    o.id, product, o.active ?? true, String(o.currency).toLowerCase(), o.unit_amount ?? null, o.type ?? null,
    r?.interval ?? null, r?.interval_count ?? null, r?.trial_period_days ?? null,
    JSON.stringify(o.metadata && typeof o.metadata === "object" ? o.metadata : {}), null, null,
  ]);
}

async function subscription(tx: Tx, e: Json): Promise<[string, string]> {
  const o = e.data.object;
  const id = o.id;
  if (typeof id !== "string") throw new HandlerFailure("subscription has no id");
  const customer = customerId(o);
  const claimed = typeof o.metadata?.supabase_user_id === "string" && UUID.test(o.metadata.supabase_user_id) ? o.metadata.supabase_user_id : null;
  const [{ user_id: user }] = await q(tx, `SELECT coalesce(
           (SELECT user_id::text FROM public.stripe_customers WHERE stripe_customer_id = $1),
           CASE WHEN $2::uuid IS NOT NULL AND public.auth_user_exists($2::uuid) THEN $2::uuid::text END) AS user_id`, [customer, claimed]);
  if (!user) throw new HandlerFailure(`subscription ${id}: customer ${customer ?? ""} is not linked to a user`);
  const advanced = await q(tx, `INSERT INTO public.stripe_object_watermarks AS w (object_type, object_id, event_created, event_id)
         VALUES ($1, $2, to_timestamp($3::int8), $4)
         ON CONFLICT (object_type, object_id) DO UPDATE
           SET event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id, updated_at = now()
           WHERE w.event_created <= EXCLUDED.event_created
         RETURNING true AS advanced`, ["subscription", id, e.created, e.id]);
  if (advanced.length === 0) return ["stale", `subscription ${id} already reflects a newer event`];
  if (customer) {
    await q(tx, `INSERT INTO public.stripe_customers (user_id, stripe_customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [user, customer]);
  }
  const item = o.items?.data?.[0];
  const price = item?.price && typeof item.price === "object" ? item.price : null;
  const priceId: string | null = price?.id ?? null;
  if (price) {
    const exists = (await q(tx, `SELECT 1 FROM public.stripe_prices WHERE id = $1`, [priceId ?? ""])).length > 0;
    if (!exists) {
      if (typeof price.product === "string") {
        await q(tx, `INSERT INTO public.stripe_products (id, active) VALUES ($1, true) ON CONFLICT (id) DO NOTHING`, [price.product]);
      }
      await upsertPrice(tx, price);
    }
  }
  const ts = (v: Json, k: string) => (Number.isInteger(v?.[k]) ? v[k] : null);
  const period = (k: string) => (Number.isInteger(o[k]) ? o[k] : ts(item, k));
  const quantity = Number.isInteger(item?.quantity) ? item.quantity : Number.isInteger(o.quantity) ? o.quantity : 1;
  const status = o.status;
  if (typeof status !== "string") throw new HandlerFailure(`subscription ${id} has no status`);
  if (!STATUSES.includes(status)) throw new HandlerFailure(`subscription ${id} has unknown status ${status}`);
  const cancel = o.cancel_at_period_end === true;
  const latestInvoice = typeof o.latest_invoice === "string" ? o.latest_invoice : o.latest_invoice?.id ?? null;
  const previous = await q(tx, `WITH old AS (
           SELECT status::text AS status, cancel_at_period_end, stripe_price_id
           FROM public.subscriptions WHERE stripe_subscription_id = $1
         ), up AS (
         INSERT INTO public.subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
            quantity, cancel_at_period_end, created, current_period_start, current_period_end, ended_at, cancel_at,
            canceled_at, trial_start, trial_end, metadata, latest_invoice, default_payment_method,
            last_event_created, last_event_id)
         VALUES ($1, $2, $3, $4, $5::text::public.subscription_status, $6, $7, coalesce(to_timestamp($8::int8), now()),
            to_timestamp($9::int8), to_timestamp($10::int8), to_timestamp($11::int8), to_timestamp($12::int8),
            to_timestamp($13::int8), to_timestamp($14::int8), to_timestamp($15::int8), $16, $17, $18,
            to_timestamp($19::int8), $20)
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET user_id = EXCLUDED.user_id,
            stripe_customer_id = EXCLUDED.stripe_customer_id, stripe_price_id = EXCLUDED.stripe_price_id,
            status = EXCLUDED.status, quantity = EXCLUDED.quantity, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
            created = EXCLUDED.created, current_period_start = EXCLUDED.current_period_start,
            current_period_end = EXCLUDED.current_period_end, ended_at = EXCLUDED.ended_at,
            cancel_at = EXCLUDED.cancel_at, canceled_at = EXCLUDED.canceled_at, trial_start = EXCLUDED.trial_start,
            trial_end = EXCLUDED.trial_end, metadata = EXCLUDED.metadata, latest_invoice = EXCLUDED.latest_invoice,
            default_payment_method = EXCLUDED.default_payment_method,
            last_event_created = EXCLUDED.last_event_created, last_event_id = EXCLUDED.last_event_id, updated_at = now()
         RETURNING 1
         )
         SELECT * FROM old`, [
    id, user, customer, priceId, status, quantity, cancel, ts(o, "created"), period("current_period_start"),
    period("current_period_end"), ts(o, "ended_at"), ts(o, "cancel_at"), ts(o, "canceled_at"), ts(o, "trial_start"),
    ts(o, "trial_end"), JSON.stringify(o.metadata && typeof o.metadata === "object" ? o.metadata : {}), latestInvoice,
    typeof o.default_payment_method === "string" ? o.default_payment_method : null, e.created, e.id,
  ]);
  const before = previous[0];
  let change: [string, unknown] | null = null;
  if (!before) change = ["status_change", null];
  else if (before.status !== status) {
    const kind = status === "canceled" ? "cancellation"
      : before.status === "canceled" || (before.status === "paused" && status === "active") ? "reactivation" : "status_change";
    change = [kind, { status: before.status }];
  } else if (before.cancel_at_period_end !== cancel) {
    change = [cancel ? "cancellation" : "reactivation", { cancel_at_period_end: before.cancel_at_period_end }];
  } else if ((before.stripe_price_id ?? null) !== priceId) change = ["plan_change", { price: before.stripe_price_id }];
  if (change) {
    await q(tx, `INSERT INTO public.subscription_changes (user_id, subscription_id, change_type, old_value, new_value, "timestamp", metadata)
             VALUES ($1, $2, $3, $4, $5, to_timestamp($6::int8), $7)`, [
      user, id, change[0], JSON.stringify(change[1]),
      JSON.stringify({ status, cancel_at_period_end: cancel, price: priceId }), e.created,
      JSON.stringify({ event_id: e.id, event_type: e.type }),
    ]);
  }
  return ["applied", `subscription ${id} is ${status}`];
}

function apply(tx: Tx, e: Json): Promise<[string, string]> {
  if (String(e.type).startsWith("customer.subscription.")) return subscription(tx, e);
  return Promise.resolve(["ignored", `event type ${e.type} is recorded but not handled`]);
}

const AUDIT = `INSERT INTO public.webhook_audit_trail
           (stripe_event_id, event_type, signature_valid, duplicate, outcome, http_status, duration_ms, client_addr, source)
         VALUES ($1, $2, true, $3, $4, $5, $6, $7, $8)`;

export async function webhookHandler(req: Request, clientAddr: string): Promise<Response> {
  if (req.method !== "POST") throw new Problem(405, "method_not_allowed", "Method not allowed");
  const started = performance.now();
  if (secrets.length === 0) throw new Problem(503, "webhook_not_configured", "Service unavailable", "no Stripe webhook secret is configured");
  const raw = await req.text();
  await verify(raw, req.headers.get("stripe-signature") ?? "");
  let e: Json;
  try {
    e = JSON.parse(raw);
  } catch (err) {
    throw new Problem(400, "invalid_event", "Webhook rejected", `the body is not JSON (${err})`);
  }
  const ok = typeof e?.id === "string" && e.id.startsWith("evt_") && e.id.length <= 255 && typeof e.type === "string" &&
    e.type !== "" && e.type.length <= 255 && Number.isInteger(e.created) && e.data?.object && typeof e.data.object === "object";
  if (!ok) throw new Problem(400, "invalid_event", "Webhook rejected", "the JSON is not a Stripe event (needs id evt_…, type, created, data.object)");
  const o = e.data.object;
  const ms = () => performance.now() - started;
  let outcome: [string, string];
  try {
    outcome = await sql.begin(async (tx) => {
      await tx`SELECT set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role":"service_role"}', true)`;
      const [{ processed }] = await q(tx, `INSERT INTO public.stripe_webhook_events AS e
               (stripe_event_id, event_type, stripe_customer_id, event_created, payload, raw_body,
                object_type, object_id, livemode, api_version)
             VALUES ($1, $2, $3, to_timestamp($4::int8), $5, $6, $7, $8, $9, $10)
             ON CONFLICT (stripe_event_id) DO UPDATE SET deliveries = e.deliveries + 1
             RETURNING e.processed`, [
        e.id, e.type, customerId(o), e.created, raw, raw, o.object ?? null, o.id ?? null,
        typeof e.livemode === "boolean" ? e.livemode : null, typeof e.api_version === "string" ? e.api_version : null,
      ]);
      if (processed) {
        await q(tx, AUDIT, [e.id, e.type, true, "duplicate", 200, ms(), clientAddr, "stripe"]);
        return ["duplicate", "already processed"] as [string, string];
      }
      const [kind, detail] = await apply(tx, e);
      await q(tx, `WITH ev AS (
               UPDATE public.stripe_webhook_events
                  SET processed = true, processed_at = now(), outcome = $2, error_message = NULL, processing_ms = $3
                WHERE stripe_event_id = $1
             ), dlq AS (
               UPDATE public.webhook_dead_letter_queue
                  SET resolved_at = now(), resolution = $4, resolved_by = $5
                WHERE stripe_event_id = $1 AND resolved_at IS NULL
             ), log AS (
               INSERT INTO public.webhook_processing_logs (stripe_event_id, event_type, outcome, detail, duration_ms)
               VALUES ($1, $6, $2, $7, $3)
             )
             INSERT INTO public.webhook_audit_trail
               (stripe_event_id, event_type, signature_valid, duplicate, outcome, http_status, duration_ms, client_addr, source)
             VALUES ($1, $6, true, false, $2, 200, $3, $8, $5)`, [e.id, kind, ms(), "retried", "stripe", e.type, detail, clientAddr]);
      return [kind, detail] as [string, string];
    });
  } catch (err) {
    if (!(err instanceof HandlerFailure) && !(err as { code?: string })?.code?.match(/^[0-9A-Z]{5}$/)) throw err;
    if ((err as { code?: string })?.code?.match(/^(57P0[123]|53300|08\d\d\d)$/)) throw err;
    const error = String((err as Error).message).slice(0, 2000);
    console.error(`webhook ${e.id} (${e.type}) failed: ${error}`);
    await sql.begin(async (tx) => {
      await tx`SELECT set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role":"service_role"}', true)`;
      await q(tx, `INSERT INTO public.stripe_webhook_events AS e
               (stripe_event_id, event_type, stripe_customer_id, event_created, payload, raw_body, object_type,
                object_id, processed, outcome, error_message)
             VALUES ($1, $2, $3, to_timestamp($4::int8), $5, $6, $7, $8, false, 'failed', $9)
             ON CONFLICT (stripe_event_id) DO UPDATE
               SET deliveries = e.deliveries + 1, outcome = 'failed', error_message = EXCLUDED.error_message`,
        [e.id, e.type, customerId(o), e.created, raw, raw, o.object ?? null, o.id ?? null, error]);
      await q(tx, `INSERT INTO public.webhook_dead_letter_queue AS q (stripe_event_id, event_type, raw_body, payload, last_error)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (stripe_event_id) DO UPDATE
               SET failure_count = q.failure_count + 1, last_error = EXCLUDED.last_error,
                   last_failed_at = now(), resolved_at = NULL, resolution = NULL, resolved_by = NULL
             RETURNING q.id`, [e.id, e.type, raw, raw, error]);
      await q(tx, `INSERT INTO public.webhook_processing_logs (stripe_event_id, event_type, outcome, detail, duration_ms)
         VALUES ($1, $2, $3, $4, $5)`, [e.id, e.type, "failed", error, ms()]);
      await q(tx, AUDIT, [e.id, e.type, false, "failed", 500, ms(), clientAddr, "stripe"]);
    });
    throw new Problem(500, "webhook_handler_failed", "The event could not be applied",
      `event ${e.id} (${e.type}) was rolled back and queued for retry; Stripe will deliver it again`);
  }
  return json(200, { received: true, event_id: e.id, type: e.type, outcome: outcome[0], detail: outcome[1] });
}
