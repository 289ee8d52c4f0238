-- 0003_webhooks_and_jobs.sql: exactly-once Stripe webhook processing (events with their raw
-- payload, per-object watermarks, dead-letter queue, audit trail, processing logs) and the
-- durable batch jobs of batch-processor. Service role only; admins read through the monitor.

-- ---------------------------------------------------------------------------------------------
-- 1. Events: one row per Stripe event id (the idempotency key), with the exact raw body
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.stripe_webhook_events
  ADD COLUMN raw_body      text,                 -- the exact bytes Stripe signed (for replay)
  ADD COLUMN object_type   text,                 -- data.object.object
  ADD COLUMN object_id     text,                 -- data.object.id
  ADD COLUMN livemode      boolean,
  ADD COLUMN api_version   text,
  -- applied: changed the mirror; stale: older than the object's watermark, acknowledged;
  -- ignored: nothing to do (unknown type, unlinked customer); failed: handler error (in the DLQ)
  ADD COLUMN outcome       text CHECK (outcome IN ('applied', 'stale', 'ignored', 'failed')),
  ADD COLUMN deliveries    integer NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
  ADD COLUMN processing_ms double precision CHECK (processing_ms >= 0);

CREATE INDEX stripe_webhook_events_processed_at_idx ON public.stripe_webhook_events (processed_at);

-- The newest event applied to each mirrored object: an older event is recorded, not applied.
CREATE TABLE public.stripe_object_watermarks (
  object_type   text NOT NULL,
  object_id     text NOT NULL,
  event_created timestamptz NOT NULL,
  event_id      text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (object_type, object_id)
);

-- ---------------------------------------------------------------------------------------------
-- 2. Dead-letter queue: events whose handler failed, with the raw event for replay
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.webhook_dead_letter_queue (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stripe_event_id        text NOT NULL UNIQUE,
  event_type             text NOT NULL,
  raw_body               text NOT NULL,
  payload                jsonb,
  failure_count          integer NOT NULL DEFAULT 1 CHECK (failure_count >= 1),
  last_error             text NOT NULL,
  requires_manual_review boolean GENERATED ALWAYS AS (failure_count >= 5) STORED,
  first_failed_at        timestamptz NOT NULL DEFAULT now(),
  last_failed_at         timestamptz NOT NULL DEFAULT now(),
  resolved_at            timestamptz,
  resolution             text CHECK (resolution IN ('retried', 'replayed', 'manual')),
  resolved_by            text,
  resolution_note        text CHECK (char_length(resolution_note) <= 1000),
  created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_dlq_open_idx ON public.webhook_dead_letter_queue (last_failed_at) WHERE resolved_at IS NULL;

-- ---------------------------------------------------------------------------------------------
-- 3. Audit trail: every delivery attempt (bad signatures only within a rate limit)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.webhook_audit_trail (
  id               bigserial PRIMARY KEY,
  received_at      timestamptz NOT NULL DEFAULT now(),
  stripe_event_id  text,
  event_type       text,
  signature_valid  boolean NOT NULL,
  failure_reason   text,                          -- signature or body error code
  duplicate        boolean NOT NULL DEFAULT false,
  outcome          text,                          -- applied / stale / ignored / failed / duplicate / rejected / replayed
  http_status      integer NOT NULL CHECK (http_status BETWEEN 100 AND 599),
  duration_ms      double precision NOT NULL CHECK (duration_ms >= 0),
  client_addr      text,
  source           text NOT NULL DEFAULT 'stripe' CHECK (source IN ('stripe', 'replay'))
);
CREATE INDEX webhook_audit_trail_received_idx ON public.webhook_audit_trail (received_at);
CREATE INDEX webhook_audit_trail_event_idx ON public.webhook_audit_trail (stripe_event_id);

-- Per-minute count of rejected deliveries, so that an attacker sending unsigned requests
-- costs one counter update each, and at most `p_limit` audit rows a minute are written.
CREATE TABLE public.webhook_rejection_windows (
  window_start timestamptz PRIMARY KEY,
  rejections   integer NOT NULL DEFAULT 0,
  audited      integer NOT NULL DEFAULT 0
);

CREATE FUNCTION public.audit_rejected_webhook(
  p_reason text, p_status integer, p_duration_ms double precision, p_client_addr text, p_limit integer DEFAULT 30)
RETURNS boolean
  LANGUAGE sql
AS $$
  WITH w AS (
    INSERT INTO public.webhook_rejection_windows AS r (window_start, rejections, audited)
    VALUES (date_trunc('minute', now()), 1, 1)
    ON CONFLICT (window_start) DO UPDATE
      SET rejections = r.rejections + 1,
          audited = r.audited + (CASE WHEN r.audited < p_limit THEN 1 ELSE 0 END)
    RETURNING (rejections = audited) AS write_row
  ), ins AS (
    INSERT INTO public.webhook_audit_trail (signature_valid, failure_reason, outcome, http_status, duration_ms, client_addr)
    SELECT false, p_reason, 'rejected', p_status, p_duration_ms, p_client_addr FROM w WHERE w.write_row
    RETURNING true
  )
  SELECT coalesce((SELECT true FROM ins), false)
$$;
REVOKE ALL ON FUNCTION public.audit_rejected_webhook(text, integer, double precision, text, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.audit_rejected_webhook(text, integer, double precision, text, integer) TO service_role;

-- ---------------------------------------------------------------------------------------------
-- 4. Processing logs: what each handler run did
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.webhook_processing_logs (
  id              bigserial PRIMARY KEY,
  stripe_event_id text NOT NULL,
  event_type      text NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('applied', 'stale', 'ignored', 'failed')),
  detail          text,
  duration_ms     double precision NOT NULL CHECK (duration_ms >= 0),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_processing_logs_event_idx ON public.webhook_processing_logs (stripe_event_id);
CREATE INDEX webhook_processing_logs_created_idx ON public.webhook_processing_logs (created_at);

-- ---------------------------------------------------------------------------------------------
-- 5. Batch jobs (batch-processor): durable, resumable, claimed chunk by chunk
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.batch_jobs (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  operation       text NOT NULL CHECK (operation IN ('update_quote_status', 'delete_quotes', 'export_quotes',
                    'delete_clients', 'update_item_prices', 'bulk_create_items', 'generate_pdfs')),
  status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  options         jsonb NOT NULL DEFAULT '{}'::jsonb,
  idempotency_key text,
  total_items     integer NOT NULL CHECK (total_items >= 0),
  processed_items integer NOT NULL DEFAULT 0 CHECK (processed_items >= 0),
  failed_items    integer NOT NULL DEFAULT 0 CHECK (failed_items >= 0),
  result          jsonb,
  error_message   text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  completed_at    timestamptz,
  cancelled_at    timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, idempotency_key)
);
CREATE INDEX batch_jobs_user_created_idx ON public.batch_jobs (user_id, created_at DESC);
CREATE INDEX batch_jobs_status_idx ON public.batch_jobs (status, created_at);
CREATE TRIGGER batch_jobs_set_updated_at BEFORE UPDATE ON public.batch_jobs
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

CREATE TABLE public.batch_job_items (
  job_id       uuid NOT NULL REFERENCES public.batch_jobs (id) ON DELETE CASCADE,
  position     integer NOT NULL CHECK (position >= 0),
  item         jsonb NOT NULL,                    -- an id, or the item to create
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed', 'cancelled')),
  error        text,
  result       jsonb,
  processed_at timestamptz,
  PRIMARY KEY (job_id, position)
);
CREATE INDEX batch_job_items_pending_idx ON public.batch_job_items (job_id, position) WHERE status = 'pending';

-- ---------------------------------------------------------------------------------------------
-- 6. Row Level Security and privileges
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.stripe_object_watermarks ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.webhook_dead_letter_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.webhook_audit_trail ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.webhook_rejection_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.webhook_processing_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batch_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.batch_job_items ENABLE ROW LEVEL SECURITY;

CREATE POLICY stripe_object_watermarks_service_all ON public.stripe_object_watermarks
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY webhook_dlq_service_all ON public.webhook_dead_letter_queue
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY webhook_dlq_admin_select ON public.webhook_dead_letter_queue
  FOR SELECT TO authenticated USING (public.is_admin());
CREATE POLICY webhook_audit_trail_service_all ON public.webhook_audit_trail
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY webhook_audit_trail_admin_select ON public.webhook_audit_trail
  FOR SELECT TO authenticated USING (public.is_admin());
CREATE POLICY webhook_rejection_windows_service_all ON public.webhook_rejection_windows
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY webhook_processing_logs_service_all ON public.webhook_processing_logs
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY webhook_processing_logs_admin_select ON public.webhook_processing_logs
  FOR SELECT TO authenticated USING (public.is_admin());

-- Jobs belong to their user: read own jobs; all changes go through batch-processor.
CREATE POLICY batch_jobs_select_own ON public.batch_jobs
  FOR SELECT TO authenticated USING (user_id = auth.uid() OR public.is_admin());
CREATE POLICY batch_jobs_service_all ON public.batch_jobs
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY batch_job_items_select_own ON public.batch_job_items
  FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM public.batch_jobs j WHERE j.id = job_id AND (j.user_id = auth.uid() OR public.is_admin())));
CREATE POLICY batch_job_items_service_all ON public.batch_job_items
  FOR ALL TO service_role USING (true) WITH CHECK (true);

REVOKE ALL ON TABLE
  public.stripe_object_watermarks, public.webhook_dead_letter_queue, public.webhook_audit_trail,
  public.webhook_rejection_windows, public.webhook_processing_logs, public.batch_jobs, public.batch_job_items
FROM PUBLIC, anon, authenticated;
GRANT SELECT ON TABLE public.webhook_dead_letter_queue, public.webhook_audit_trail, public.webhook_processing_logs,
  public.batch_jobs, public.batch_job_items TO authenticated;
GRANT ALL ON TABLE
  public.stripe_object_watermarks, public.webhook_dead_letter_queue, public.webhook_audit_trail,
  public.webhook_rejection_windows, public.webhook_processing_logs, public.batch_jobs, public.batch_job_items
TO service_role;
GRANT USAGE, SELECT ON SEQUENCE public.webhook_audit_trail_id_seq, public.webhook_processing_logs_id_seq TO service_role;

-- ---------------------------------------------------------------------------------------------
-- 7. Subscription fields the webhook snapshot carries
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.subscriptions
  ADD COLUMN latest_invoice         text,
  ADD COLUMN default_payment_method text;

-- ---------------------------------------------------------------------------------------------
-- 8. Looking up users for webhook linking (auth.users is not readable by the service role
--    on every deployment; these two questions are all the webhook needs to ask)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION public.auth_user_exists(p_user_id uuid)
RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM auth.users WHERE id = p_user_id) $$;

-- Users with this email (at most two are returned: the caller only needs to know "exactly one").
CREATE FUNCTION public.auth_users_by_email(p_email text)
RETURNS TABLE (id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT u.id FROM auth.users u WHERE lower(u.email) = lower(p_email) LIMIT 2 $$;

REVOKE ALL ON FUNCTION public.auth_user_exists(uuid), public.auth_users_by_email(text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.auth_user_exists(uuid), public.auth_users_by_email(text) TO service_role;
