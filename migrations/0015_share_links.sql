-- 0015_share_links.sql: idempotent quote creation, share links a client can open, accept or
-- decline without an account, expiry of quotes past valid_until, and a history of every
-- change of a quote.
--
--   1. quote_idempotency_keys: one row per (owner, Idempotency-Key), inserted in the same
--      transaction as the quote it answers for. The primary key makes concurrent retries of
--      one key wait for the first and then read its answer; nothing else creates a quote. Keys
--      are kept 24 hours: quote-processor ignores (and deletes) older ones, and the scheduled
--      expiry purges them.
--   2. quote_share_links: capability links to one quote. Only the SHA-256 of the token is
--      stored, so a database read does not give working links away. A link expires, can be
--      revoked, and is used once (the first accept or decline).
--   3. quote_responses: the client's decision through a link: who signed (the name they
--      typed), when, from which address, and whether the owner's email went out.
--   4. quote_history: every insert, change and delete of a quote, written by a trigger, with
--      the changed fields (from / to), the user (auth.uid(), none for the system) and the
--      path: the transaction's `quotekit.change_path` setting (api, share_link, batch,
--      schedule), `api` when unset.
--   5. expire_quotes(): sent quotes past valid_until become expired (the schedule calls
--      quote-processor's POST /expire, which runs it).

-- ---------------------------------------------------------------------------------------------
-- 1. Idempotency keys of quote creation
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.quote_idempotency_keys (
  user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  idempotency_key text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
  request_sha256  text NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
  quote_id        uuid REFERENCES public.quotes (id) ON DELETE SET NULL,
  response_status integer,
  response        jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX quote_idempotency_keys_created_idx ON public.quote_idempotency_keys (created_at);

ALTER TABLE public.quote_idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY quote_idempotency_keys_select_own ON public.quote_idempotency_keys
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_idempotency_keys_insert_own ON public.quote_idempotency_keys
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY quote_idempotency_keys_update_own ON public.quote_idempotency_keys
  FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY quote_idempotency_keys_delete_own ON public.quote_idempotency_keys
  FOR DELETE TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_idempotency_keys_service_all ON public.quote_idempotency_keys
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------------------------------------
-- 2. Share links and 3. the decisions made through them
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.quote_share_links (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  quote_id    uuid NOT NULL REFERENCES public.quotes (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  used_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quote_share_links_quote_idx ON public.quote_share_links (quote_id);

CREATE TABLE public.quote_responses (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  quote_id            uuid NOT NULL REFERENCES public.quotes (id) ON DELETE CASCADE,
  user_id             uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  link_id             uuid NOT NULL REFERENCES public.quote_share_links (id) ON DELETE CASCADE,
  decision            text NOT NULL CHECK (decision IN ('accepted', 'declined')),
  signer_name         text NOT NULL CHECK (char_length(signer_name) BETWEEN 1 AND 200),
  comment             text CHECK (char_length(comment) <= 2000),
  client_address      text,
  owner_email_status  text NOT NULL DEFAULT 'pending'
                      CHECK (owner_email_status IN ('pending', 'sent', 'failed', 'skipped')),
  owner_email_error   text,
  decided_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quote_responses_quote_idx ON public.quote_responses (quote_id);

-- The owner manages their links and reads the decisions; the anonymous pages run as the
-- service role, always keyed by a token's hash.
ALTER TABLE public.quote_share_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quote_responses ENABLE ROW LEVEL SECURITY;
CREATE POLICY quote_share_links_select_own ON public.quote_share_links
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_share_links_insert_own ON public.quote_share_links
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid())
    AND EXISTS (SELECT 1 FROM public.quotes q WHERE q.id = quote_id AND q.user_id = (SELECT auth.uid())));
CREATE POLICY quote_share_links_update_own ON public.quote_share_links
  FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY quote_share_links_service_all ON public.quote_share_links
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY quote_responses_select_own ON public.quote_responses
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_responses_service_all ON public.quote_responses
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- Where the owner is told of a decision: their account's address, else their company's.
-- SECURITY DEFINER to read auth.users; for the service role only.
CREATE FUNCTION public.quote_owner_email(p_user_id uuid) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT coalesce(
    (SELECT nullif(u.email, '') FROM auth.users u WHERE u.id = p_user_id),
    (SELECT nullif(c.company_email, '') FROM public.company_settings c WHERE c.id = p_user_id))
$$;
REVOKE ALL ON FUNCTION public.quote_owner_email(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.quote_owner_email(uuid) TO service_role;

-- A link's own budget (per token; per address is the middleware's global budget), read by
-- security_gate(…, 'share_links').
INSERT INTO public.security_configuration (config_category, config_key, config_value) VALUES
  ('rate_limiting', 'share_links', '{"requestsPerMinute": 30, "burstLimit": 30}')
ON CONFLICT (config_category, config_key) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- 4. History of every change of a quote
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.quote_history (
  id          bigserial PRIMARY KEY,
  -- No foreign keys: the history of a deleted quote stays. A deleted owner's history goes
  -- with their quotes (see the trigger); a foreign key to auth.users would refuse the rows
  -- the trigger writes while that delete cascades.
  quote_id    uuid NOT NULL,
  user_id     uuid NOT NULL,
  action      text NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
  status_from text,
  status_to   text,
  changes     jsonb NOT NULL DEFAULT '{}'::jsonb,
  changed_by  uuid,
  path        text NOT NULL CHECK (path IN ('api', 'share_link', 'batch', 'schedule')),
  changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quote_history_quote_idx ON public.quote_history (quote_id, id);

ALTER TABLE public.quote_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY quote_history_select_own ON public.quote_history
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_history_service_all ON public.quote_history
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- SECURITY DEFINER: users never write history themselves (no INSERT grant), the trigger does.
CREATE FUNCTION public.record_quote_history() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  v_path    text := coalesce(nullif(current_setting('quotekit.change_path', true), ''), 'api');
  v_changes jsonb := '{}'::jsonb;
BEGIN
  IF v_path NOT IN ('api', 'share_link', 'batch', 'schedule') THEN
    v_path := 'api';
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO public.quote_history (quote_id, user_id, action, status_to, changed_by, path)
    VALUES (NEW.id, NEW.user_id, 'created', NEW.status::text, auth.uid(), v_path);
    RETURN NEW;
  ELSIF TG_OP = 'DELETE' THEN
    -- The owner's account is being deleted (the quote goes by cascade): nothing of theirs stays.
    IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = OLD.user_id) THEN
      DELETE FROM public.quote_history WHERE user_id = OLD.user_id;
      RETURN OLD;
    END IF;
    INSERT INTO public.quote_history (quote_id, user_id, action, status_from, changed_by, path)
    VALUES (OLD.id, OLD.user_id, 'deleted', OLD.status::text, auth.uid(), v_path);
    RETURN OLD;
  END IF;
  SELECT coalesce(jsonb_object_agg(n.key, jsonb_build_object('from', o.value, 'to', n.value)), '{}'::jsonb)
    INTO v_changes
    FROM jsonb_each(to_jsonb(NEW)) n
    JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
   WHERE n.value IS DISTINCT FROM o.value AND n.key <> 'updated_at';
  IF v_changes = '{}'::jsonb THEN
    RETURN NEW;
  END IF;
  INSERT INTO public.quote_history (quote_id, user_id, action, status_from, status_to, changes, changed_by, path)
  VALUES (NEW.id, NEW.user_id, 'updated', OLD.status::text, NEW.status::text, v_changes, auth.uid(), v_path);
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.record_quote_history() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER quotes_record_history
  AFTER INSERT OR UPDATE OR DELETE ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.record_quote_history();

-- ---------------------------------------------------------------------------------------------
-- 5. Expiry of quotes past valid_until
-- ---------------------------------------------------------------------------------------------

-- Sent quotes whose valid_until is before today (UTC) become expired (the only status a
-- quote past its validity can move to; drafts and decided quotes keep theirs). Recorded in
-- the history with path `schedule`. Idempotency keys past their 24 hours are purged here too.
CREATE FUNCTION public.expire_quotes()
RETURNS TABLE (expired integer, keys_purged integer)
  LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
  v_expired integer;
  v_purged  integer;
BEGIN
  PERFORM set_config('quotekit.change_path', 'schedule', true);
  UPDATE public.quotes SET status = 'expired'
   WHERE status = 'sent' AND valid_until < (now() AT TIME ZONE 'UTC')::date;
  GET DIAGNOSTICS v_expired = ROW_COUNT;
  DELETE FROM public.quote_idempotency_keys WHERE created_at < now() - interval '24 hours';
  GET DIAGNOSTICS v_purged = ROW_COUNT;
  PERFORM set_config('quotekit.change_path', '', true);
  RETURN QUERY SELECT v_expired, v_purged;
END
$$;
REVOKE ALL ON FUNCTION public.expire_quotes() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.expire_quotes() TO service_role;

-- ---------------------------------------------------------------------------------------------
-- Privileges (explicit; RLS decides which rows)
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON TABLE public.quote_idempotency_keys, public.quote_share_links, public.quote_responses,
  public.quote_history FROM PUBLIC, anon, authenticated;
REVOKE ALL ON SEQUENCE public.quote_history_id_seq FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.quote_idempotency_keys TO authenticated;
GRANT SELECT, INSERT, UPDATE ON TABLE public.quote_share_links TO authenticated;
GRANT SELECT ON TABLE public.quote_responses, public.quote_history TO authenticated;
GRANT ALL ON TABLE public.quote_idempotency_keys, public.quote_share_links, public.quote_responses,
  public.quote_history TO service_role;
GRANT ALL ON SEQUENCE public.quote_history_id_seq TO service_role;
