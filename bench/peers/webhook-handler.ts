// webhook-handler for Deno: Stripe signature, then the event recorded, applied and marked in one
// transaction, exactly once (the statements of quotekit::webhooks). The subscription events are
// applied as quotekit::webhooks applies them (the benchmark's workload); other types are recorded
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

// `linked`: the user the event's customer was linked to, read with the event's row.
async function subscription(tx: Tx, e: Json, linked: string | null): Promise<[string, string]> {
  const o = e.data.object;
  const id = o.id;
  if (typeof id !== "string") throw new HandlerFailure("subscription has no id");
  const customer = customerId(o);
  let user = linked;
  let claimedLink = false;
  if (!user) {
    const claimed = typeof o.metadata?.supabase_user_id === "string" && UUID.test(o.metadata.supabase_user_id) ? o.metadata.supabase_user_id : null;
    if (customer && claimed && (await q(tx, `SELECT public.auth_user_exists($1) AS found`, [claimed]))[0].found) {
      user = claimed.toLowerCase();
      claimedLink = true;
    }
  }
  if (!user) throw new HandlerFailure(`subscription ${id}: customer ${customer ?? ""} is not linked to a user`);
  const item = o.items?.data?.[0];
  const price = item?.price && typeof item.price === "object" ? item.price : null;
  const priceId: string | null = price?.id ?? null;
  const [mark] = await q(tx, `WITH w AS (INSERT INTO public.stripe_object_watermarks AS w (object_type, object_id, event_created, event_id)
         VALUES ($1, $2, to_timestamp($3::int8), $4)
         ON CONFLICT (object_type, object_id) DO UPDATE
           SET event_created = EXCLUDED.event_created, event_id = EXCLUDED.event_id, updated_at = now()
           WHERE w.event_created <= EXCLUDED.event_created
         RETURNING true AS advanced) SELECT EXISTS (SELECT 1 FROM w) AS advanced,
                      EXISTS (SELECT 1 FROM public.stripe_prices WHERE id = $5) AS price_mirrored`,
    ["subscription", id, e.created, e.id, priceId]);
  if (!mark.advanced) return ["stale", `subscription ${id} already reflects a newer event`];
  if (claimedLink) {
    await q(tx, `INSERT INTO public.stripe_customers (user_id, stripe_customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [user, customer]);
  }
  if (price) {
    if (!mark.price_mirrored) {
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
  await q(tx, `WITH s AS (
           SELECT * FROM jsonb_to_record($1::jsonb) AS s(id text, user_id uuid, customer text, price_id text,
             status text, quantity int, cancel_at_period_end bool, created int8, current_period_start int8,
             current_period_end int8, ended_at int8, cancel_at int8, canceled_at int8, trial_start int8, trial_end int8,
             metadata jsonb, latest_invoice text, default_payment_method text, event_created int8, event_id text)
         ), old AS (
           SELECT status::text AS status, cancel_at_period_end, stripe_price_id
           FROM public.subscriptions WHERE stripe_subscription_id = (SELECT id FROM s)
         ), up AS (
         INSERT INTO public.subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
            quantity, cancel_at_period_end, created, current_period_start, current_period_end, ended_at, cancel_at,
            canceled_at, trial_start, trial_end, metadata, latest_invoice, default_payment_method,
            last_event_created, last_event_id)
         SELECT s.id, s.user_id, s.customer, s.price_id, s.status::public.subscription_status, s.quantity,
            s.cancel_at_period_end, coalesce(to_timestamp(s.created), now()), to_timestamp(s.current_period_start),
            to_timestamp(s.current_period_end), to_timestamp(s.ended_at), to_timestamp(s.cancel_at),
            to_timestamp(s.canceled_at), to_timestamp(s.trial_start), to_timestamp(s.trial_end), s.metadata,
            s.latest_invoice, s.default_payment_method, to_timestamp(s.event_created), s.event_id
         FROM s
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET user_id = EXCLUDED.user_id,
            stripe_customer_id = EXCLUDED.stripe_customer_id, stripe_price_id = EXCLUDED.stripe_price_id,
            status = EXCLUDED.status, quantity = EXCLUDED.quantity, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
            created = EXCLUDED.created, current_period_start = EXCLUDED.current_period_start,
            current_period_end = EXCLUDED.current_period_end, ended_at = EXCLUDED.ended_at,
            cancel_at = EXCLUDED.cancel_at, canceled_at = EXCLUDED.canceled_at, trial_start = EXCLUDED.trial_start,
            trial_end = EXCLUDED.trial_end, metadata = EXCLUDED.metadata, latest_invoice = EXCLUDED.latest_invoice,
            default_payment_method = EXCLUDED.default_payment_method,
            last_event_created = EXCLUDED.last_event_created, last_event_id = EXCLUDED.last_event_id, updated_at = now()
         ), change AS (
           SELECT CASE
                    WHEN old.status IS NULL THEN 'status_change'
                    WHEN old.status <> s.status THEN
                      CASE WHEN s.status = 'canceled' THEN 'cancellation'
                           WHEN old.status = 'canceled' OR (old.status = 'paused' AND s.status = 'active') THEN 'reactivation'
                           ELSE 'status_change' END
                    WHEN old.cancel_at_period_end <> s.cancel_at_period_end THEN
                      CASE WHEN s.cancel_at_period_end THEN 'cancellation' ELSE 'reactivation' END
                    WHEN old.stripe_price_id IS DISTINCT FROM s.price_id THEN 'plan_change'
                  END AS kind,
                  CASE
                    WHEN old.status IS NULL THEN 'null'::jsonb
                    WHEN old.status <> s.status THEN jsonb_build_object('status', old.status)
                    WHEN old.cancel_at_period_end <> s.cancel_at_period_end
                      THEN jsonb_build_object('cancel_at_period_end', old.cancel_at_period_end)
                    ELSE jsonb_build_object('price', old.stripe_price_id)
                  END AS old_value
           FROM s LEFT JOIN old ON true
         )
         INSERT INTO public.subscription_changes (user_id, subscription_id, change_type, old_value, new_value, "timestamp", metadata)
         SELECT s.user_id, s.id, change.kind, change.old_value,
                jsonb_build_object('status', s.status, 'cancel_at_period_end', s.cancel_at_period_end, 'price', s.price_id),
                to_timestamp(s.event_created), jsonb_build_object('event_id', s.event_id, 'event_type', $2::text)
         FROM s, change WHERE change.kind IS NOT NULL`, [
    {
      id, user_id: user, customer, price_id: priceId, status, quantity, cancel_at_period_end: cancel,
      created: ts(o, "created"), current_period_start: period("current_period_start"),
      current_period_end: period("current_period_end"), ended_at: ts(o, "ended_at"), cancel_at: ts(o, "cancel_at"),
      canceled_at: ts(o, "canceled_at"), trial_start: ts(o, "trial_start"), trial_end: ts(o, "trial_end"),
      metadata: o.metadata && typeof o.metadata === "object" ? o.metadata : {}, latest_invoice: latestInvoice,
      default_payment_method: typeof o.default_payment_method === "string" ? o.default_payment_method : null,
      event_created: e.created, event_id: e.id,
    },
    e.type,
  ]);
  return ["applied", `subscription ${id} is ${status}`];
}

function apply(tx: Tx, e: Json, linked: string | null): Promise<[string, string]> {
  if (String(e.type).startsWith("customer.subscription.")) return subscription(tx, e, linked);
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
      const [{ duplicate, linked_user }] = await q(tx, `INSERT INTO public.stripe_webhook_events AS e
               (stripe_event_id, event_type, stripe_customer_id, event_created, payload, raw_body,
                object_type, object_id, livemode, api_version, processed, processed_at)
             VALUES ($1, $2, $3, to_timestamp($4::int8), $5, $6, $7, $8, $9, $10, true, now())
             ON CONFLICT (stripe_event_id) DO UPDATE SET deliveries = e.deliveries + 1
             RETURNING e.deliveries > 1 AND e.processed AS duplicate,
               (SELECT c.user_id::text FROM public.stripe_customers c WHERE c.stripe_customer_id = $3) AS linked_user`, [
        e.id, e.type, customerId(o), e.created, raw, raw, o.object ?? null, o.id ?? null,
        typeof e.livemode === "boolean" ? e.livemode : null, typeof e.api_version === "string" ? e.api_version : null,
      ]);
      if (duplicate) {
        await q(tx, AUDIT, [e.id, e.type, true, "duplicate", 200, ms(), clientAddr, "stripe"]);
        return ["duplicate", "already processed"] as [string, string];
      }
      const [kind, detail] = await apply(tx, e, linked_user);
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
