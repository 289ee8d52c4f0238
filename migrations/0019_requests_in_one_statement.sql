-- A request's work as the caller in one statement.
--
-- A user's read used to cost four statements, each its own round trip to the server: BEGIN,
-- the role and claims (set_config), the query, COMMIT. Most of the database's CPU went to those
-- round trips rather than to the query. A function below takes the caller's identity for the
-- rest of its own statement (public.enter_as_user) and then runs the query: Row Level Security
-- applies exactly as before, in one statement and one round trip.
--
-- The identity lasts until the end of the statement's transaction (set_config's is_local), so
-- these functions are called outside an explicit transaction, as one statement of their own.
-- Whoever can call them can act as any user: only the owner (the login the functions use) may.

CREATE FUNCTION public.enter_as_user(p_claims text)
RETURNS void
  LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM set_config('role', 'authenticated', true), set_config('request.jwt.claims', p_claims, true);
END
$$;
COMMENT ON FUNCTION public.enter_as_user(text) IS
  'Take the authenticated role and these JWT claims until the end of the transaction (for one-statement requests).';
REVOKE ALL ON FUNCTION public.enter_as_user(text) FROM PUBLIC, anon, authenticated, service_role;

-- subscription-status: the caller's plan, usage this period, Stripe customer and (when asked)
-- the customer's unprocessed webhook events, read as the caller. The rows come back as the
-- components read every result: a JSON array of objects in one text value (shared/src/db/shape.rs).
-- An event says why it is unprocessed by a classified `reason`, never by the handler's own text.
CREATE FUNCTION public.subscription_status_as(p_claims text, p_user_id uuid, p_include_backlog boolean)
RETURNS text
  LANGUAGE plpgsql
AS $$
DECLARE
  v_rows text;
BEGIN
  PERFORM public.enter_as_user(p_claims);
  SELECT coalesce(json_agg(r), '[]')::text INTO v_rows
  FROM (
    SELECT e.*, u.*, c.stripe_customer_id, c.email AS customer_email, b.backlog_total, b.backlog
    FROM public.my_entitlements() e
    CROSS JOIN public.my_usage() u
    LEFT JOIN public.stripe_customers c ON c.user_id = p_user_id AND NOT c.deleted
    LEFT JOIN LATERAL (
      SELECT max(w.total) AS backlog_total,
             jsonb_agg(jsonb_build_object('id', w.stripe_event_id, 'type', w.event_type,
                                          'received_at', w.received_at, 'reason', w.reason)
                       ORDER BY w.received_at DESC) FILTER (WHERE w.stripe_event_id IS NOT NULL) AS backlog
      FROM public.my_webhook_backlog(5) w
    ) b ON p_include_backlog AND c.stripe_customer_id IS NOT NULL
  ) r;
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION public.subscription_status_as(text, uuid, boolean) IS
  'subscription-status''s read, as the caller whose claims are given (rows as JSON text).';
REVOKE ALL ON FUNCTION public.subscription_status_as(text, uuid, boolean) FROM PUBLIC, anon, authenticated, service_role;
