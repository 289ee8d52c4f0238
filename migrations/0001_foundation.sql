-- 0001_foundation.sql
--
-- Foundation schema: the Supabase bootstrap (only where absent), the application tables of a
-- quoting SaaS (profiles, roles, company settings, clients, catalog, quotes, numbering, usage,
-- request metrics), the single admin predicate `public.is_admin()`, and Row Level Security on
-- every table.
--
-- Applied inside one transaction by the migration runner (no BEGIN/COMMIT here), with
-- `psql -v ON_ERROR_STOP=1`, on plain PostgreSQL 15+ and on a real Supabase project.
--
-- Privilege model (holds on both targets; Supabase's default privileges would otherwise give
-- anon/authenticated ALL on every new table and EXECUTE on every new function, so each object
-- below has its privileges revoked and granted explicitly):
--   anon           nothing in this file.
--   authenticated  only what RLS policies below allow, on the tables granted to it.
--   service_role   everything (BYPASSRLS; explicit FOR ALL policies for Supabase tooling).

-- ---------------------------------------------------------------------------------------------
-- 1. Bootstrap of what Supabase provides. Every step creates only what is absent.
-- ---------------------------------------------------------------------------------------------

DO $bootstrap$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto') THEN
    CREATE EXTENSION pgcrypto;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$bootstrap$;

-- The login role that applies the migrations (and that the application connects as) must be
-- able to `SET ROLE` to the three API roles. Granted only where the membership is absent;
-- on Supabase `postgres` already holds these memberships.
DO $membership$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (
      SELECT 1
      FROM pg_auth_members m
      JOIN pg_roles granted ON granted.oid = m.roleid
      JOIN pg_roles member  ON member.oid  = m.member
      WHERE granted.rolname = r AND member.rolname = current_user
    ) THEN
      BEGIN
        EXECUTE format('GRANT %I TO %I', r, current_user);
      EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'could not grant role % to %: %', r, current_user, SQLERRM;
      END;
    END IF;
  END LOOP;
END
$membership$;

DO $auth_schema$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
  END IF;

  IF to_regclass('auth.users') IS NULL THEN
    CREATE TABLE auth.users (
      id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email              text,
      raw_user_meta_data jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at         timestamptz NOT NULL DEFAULT now(),
      updated_at         timestamptz NOT NULL DEFAULT now()
    );
    REVOKE ALL ON TABLE auth.users FROM PUBLIC;
  END IF;

  -- auth.uid(): the `sub` claim of the request JWT, as Supabase defines it
  -- (request.jwt.claims is what PostgREST sets today; request.jwt.claim.sub is the legacy form).
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'auth' AND p.proname = 'uid' AND p.pronargs = 0
  ) THEN
    CREATE FUNCTION auth.uid() RETURNS uuid
      LANGUAGE sql STABLE
    AS $fn$
      SELECT coalesce(
        nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', ''),
        nullif(current_setting('request.jwt.claim.sub', true), '')
      )::uuid
    $fn$;
  END IF;

  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'auth' AND p.proname = 'role' AND p.pronargs = 0
  ) THEN
    CREATE FUNCTION auth.role() RETURNS text
      LANGUAGE sql STABLE
    AS $fn$
      SELECT coalesce(
        nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', ''),
        nullif(current_setting('request.jwt.claim.role', true), '')
      )::text
    $fn$;
  END IF;

  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'auth' AND p.proname = 'jwt' AND p.pronargs = 0
  ) THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb
      LANGUAGE sql STABLE
    AS $fn$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claims', true), ''),
        nullif(current_setting('request.jwt.claim', true), '')
      )::jsonb
    $fn$;
  END IF;
END
$auth_schema$;

-- Usage/execute grants, only where missing (on Supabase they are in place and `postgres` may
-- not hold the grant option on Supabase-owned objects).
DO $auth_grants$
DECLARE
  r text;
  f text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT has_schema_privilege(r, 'auth', 'USAGE') THEN
      EXECUTE format('GRANT USAGE ON SCHEMA auth TO %I', r);
    END IF;
    IF NOT has_schema_privilege(r, 'public', 'USAGE') THEN
      EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
    END IF;
    FOREACH f IN ARRAY ARRAY['auth.uid()', 'auth.role()', 'auth.jwt()'] LOOP
      IF NOT has_function_privilege(r, f, 'EXECUTE') THEN
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, r);
      END IF;
    END LOOP;
  END LOOP;
END
$auth_grants$;

-- ---------------------------------------------------------------------------------------------
-- 2. Types and shared trigger function
-- ---------------------------------------------------------------------------------------------

CREATE TYPE public.quote_status AS ENUM (
  'draft', 'sent', 'accepted', 'declined', 'expired', 'converted'
);

CREATE TYPE public.subscription_status AS ENUM (
  'trialing', 'active', 'canceled', 'incomplete', 'incomplete_expired', 'past_due', 'unpaid', 'paused'
);

-- The one updated_at trigger function; every table with an updated_at column uses it
-- (later migrations included).
CREATE FUNCTION public.set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.set_updated_at() FROM PUBLIC, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- 3. Profiles (public.users), created by a trigger on auth.users
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.users (
  id          uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  full_name   text,
  avatar_url  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.users IS
  'Profile, 1:1 with auth.users. The e-mail address lives in auth.users only.';

CREATE TRIGGER users_set_updated_at
  BEFORE UPDATE ON public.users
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

CREATE FUNCTION public.handle_new_auth_user() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO public.users (id, full_name, avatar_url)
  VALUES (
    NEW.id,
    nullif(coalesce(NEW.raw_user_meta_data, '{}'::jsonb) ->> 'full_name', ''),
    nullif(coalesce(NEW.raw_user_meta_data, '{}'::jsonb) ->> 'avatar_url', '')
  )
  ON CONFLICT (id) DO NOTHING;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.handle_new_auth_user() FROM PUBLIC, anon, authenticated;

CREATE OR REPLACE TRIGGER on_auth_user_created
  AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_auth_user();

-- Users that already exist when this migration runs (an existing Supabase project) get a profile too.
INSERT INTO public.users (id, full_name, avatar_url)
SELECT u.id,
       nullif(coalesce(u.raw_user_meta_data, '{}'::jsonb) ->> 'full_name', ''),
       nullif(coalesce(u.raw_user_meta_data, '{}'::jsonb) ->> 'avatar_url', '')
FROM auth.users u
ON CONFLICT (id) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- 4. Roles and the single admin predicate
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.user_roles (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  role        text NOT NULL CHECK (role IN ('admin', 'user', 'moderator')),
  granted_by  uuid REFERENCES auth.users (id) ON DELETE SET NULL,
  granted_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  is_active   boolean NOT NULL DEFAULT true,
  metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, role)
);
CREATE INDEX user_roles_role_idx ON public.user_roles (role);
CREATE INDEX user_roles_active_admin_idx ON public.user_roles (user_id)
  WHERE role = 'admin' AND is_active;

CREATE TRIGGER user_roles_set_updated_at
  BEFORE UPDATE ON public.user_roles
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- THE admin predicate, used by RLS policies and by the API layer alike:
-- the caller (auth.uid()) holds an active, unexpired `admin` row in user_roles,
-- or the caller is the service role (JWT role claim, or the database role set with SET ROLE).
CREATE FUNCTION public.is_admin() RETURNS boolean
  LANGUAGE sql
  STABLE
  SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
  SELECT coalesce(auth.role() = 'service_role', false)
      OR current_setting('role', true) = 'service_role'
      OR EXISTS (
           SELECT 1
           FROM public.user_roles ur
           WHERE ur.user_id = auth.uid()
             AND ur.role = 'admin'
             AND ur.is_active
             AND (ur.expires_at IS NULL OR ur.expires_at > now())
         )
$$;
COMMENT ON FUNCTION public.is_admin() IS
  'Single admin predicate: active, unexpired admin row in user_roles for auth.uid(), or the service role.';
REVOKE ALL ON FUNCTION public.is_admin() FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.is_admin() TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- 5. Company settings, clients, item catalog
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.company_settings (
  id                  uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  company_name        text,
  company_address     text,
  company_email       text,
  company_phone       text,
  logo_url            text,
  default_tax_rate    numeric(5,2) NOT NULL DEFAULT 0
                      CHECK (default_tax_rate >= 0 AND default_tax_rate <= 100),
  default_markup_rate numeric(7,2) NOT NULL DEFAULT 0 CHECK (default_markup_rate >= 0),
  preferred_currency  text NOT NULL DEFAULT 'USD' CHECK (char_length(preferred_currency) = 3),
  quote_terms         text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN public.company_settings.id IS 'The owning user id (auth.users.id).';

CREATE TRIGGER company_settings_set_updated_at
  BEFORE UPDATE ON public.company_settings
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

CREATE TABLE public.clients (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  name        text NOT NULL CHECK (btrim(name) <> ''),
  email       text,
  phone       text,
  address     text,
  notes       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  -- target of quotes' composite foreign key: a quote can only point at its owner's client
  UNIQUE (id, user_id)
);
CREATE INDEX clients_user_id_idx ON public.clients (user_id);
CREATE INDEX clients_user_id_name_idx ON public.clients (user_id, name);
CREATE INDEX clients_search_idx ON public.clients USING gin (
  to_tsvector('simple'::regconfig,
              coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(notes, ''))
);

CREATE TRIGGER clients_set_updated_at
  BEFORE UPDATE ON public.clients
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

CREATE TABLE public.line_items (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (btrim(name) <> ''),
  unit         text,
  cost         numeric(12,2) NOT NULL CHECK (cost >= 0),
  category     text,
  tags         text[] NOT NULL DEFAULT '{}'::text[],
  is_favorite  boolean NOT NULL DEFAULT false,
  last_used_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.line_items IS 'The user''s catalog of services and materials.';
CREATE INDEX line_items_user_id_idx ON public.line_items (user_id);
CREATE INDEX line_items_user_category_idx ON public.line_items (user_id, category);
CREATE INDEX line_items_favorites_idx ON public.line_items (user_id) WHERE is_favorite;
CREATE INDEX line_items_search_idx ON public.line_items USING gin (
  to_tsvector('simple'::regconfig, coalesce(name, '') || ' ' || coalesce(category, ''))
);

CREATE TRIGGER line_items_set_updated_at
  BEFORE UPDATE ON public.line_items
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- 6. Quotes and their numbering
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.quotes (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  client_id      uuid,
  client_name    text NOT NULL,
  client_email   text,
  client_phone   text,
  client_address text,
  quote_number   text NOT NULL,
  quote_year     integer NOT NULL CHECK (quote_year BETWEEN 1900 AND 9999),
  quote_seq      integer NOT NULL CHECK (quote_seq > 0),
  line_items     jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(line_items) = 'array'),
  subtotal       numeric(12,2) NOT NULL DEFAULT 0 CHECK (subtotal >= 0),
  markup_rate    numeric(7,2)  NOT NULL DEFAULT 0 CHECK (markup_rate >= 0),
  markup_amount  numeric(12,2) NOT NULL DEFAULT 0 CHECK (markup_amount >= 0),
  tax_rate       numeric(5,2)  NOT NULL DEFAULT 0 CHECK (tax_rate >= 0 AND tax_rate <= 100),
  tax_amount     numeric(12,2) NOT NULL DEFAULT 0 CHECK (tax_amount >= 0),
  total          numeric(12,2) NOT NULL DEFAULT 0 CHECK (total >= 0),
  status         public.quote_status NOT NULL DEFAULT 'draft',
  sent_at        timestamptz,
  accepted_at    timestamptz,
  declined_at    timestamptz,
  valid_until    date,
  notes          text,
  is_template    boolean NOT NULL DEFAULT false,
  template_name  text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT quotes_user_quote_number_key UNIQUE (user_id, quote_number),
  CONSTRAINT quotes_user_year_seq_key UNIQUE (user_id, quote_year, quote_seq),
  CONSTRAINT quotes_total_adds_up CHECK (total = subtotal + markup_amount + tax_amount),
  -- the client must belong to the quote's owner; deleting the client clears client_id only
  CONSTRAINT quotes_client_fkey FOREIGN KEY (client_id, user_id)
    REFERENCES public.clients (id, user_id) ON DELETE SET NULL (client_id)
);
COMMENT ON COLUMN public.quotes.line_items IS
  'Array of {id, name, unit, cost, quantity} priced at the time of quoting.';
CREATE INDEX quotes_client_id_idx ON public.quotes (client_id);
CREATE INDEX quotes_user_status_idx ON public.quotes (user_id, status);
CREATE INDEX quotes_user_created_idx ON public.quotes (user_id, created_at DESC);
CREATE INDEX quotes_templates_idx ON public.quotes (user_id) WHERE is_template;

CREATE TRIGGER quotes_set_updated_at
  BEFORE UPDATE ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Per-user, per-year numbering. A counter only moves forward, so numbers are never reused
-- after a delete; the increment happens in the same transaction as the quote insert.
CREATE TABLE public.quote_counters (
  user_id   uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  year      integer NOT NULL CHECK (year BETWEEN 1900 AND 9999),
  last_seq  integer NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  PRIMARY KEY (user_id, year)
);

-- Allocates the caller's next sequence number for p_year (row lock through the upsert, so
-- concurrent inserts serialize on the counter row). Only ever touches auth.uid()'s row.
CREATE FUNCTION public.next_quote_number(
  p_year integer DEFAULT extract(year FROM (now() AT TIME ZONE 'UTC'))::integer
) RETURNS integer
  LANGUAGE plpgsql
  VOLATILE
  SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
  v_uid uuid := auth.uid();
  v_seq integer;
BEGIN
  IF v_uid IS NULL THEN
    RAISE EXCEPTION 'next_quote_number requires an authenticated user (auth.uid() is null)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_year IS NULL OR p_year < 1900 OR p_year > 9999 THEN
    RAISE EXCEPTION 'invalid quote year: %', p_year USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO public.quote_counters AS c (user_id, year, last_seq)
  VALUES (v_uid, p_year, 1)
  ON CONFLICT (user_id, year) DO UPDATE SET last_seq = c.last_seq + 1
  RETURNING c.last_seq INTO v_seq;

  RETURN v_seq;
END
$$;
COMMENT ON FUNCTION public.next_quote_number(integer) IS
  'Next quote_seq of auth.uid() for the year (default: current UTC year). Never reuses numbers.';
REVOKE ALL ON FUNCTION public.next_quote_number(integer) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.next_quote_number(integer) TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- 7. Usage counters
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.user_usage (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id               uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  month_year            text NOT NULL CHECK (month_year ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  quotes_count          integer NOT NULL DEFAULT 0 CHECK (quotes_count >= 0),
  clients_count         integer NOT NULL DEFAULT 0 CHECK (clients_count >= 0),
  pdf_exports_count     integer NOT NULL DEFAULT 0 CHECK (pdf_exports_count >= 0),
  api_calls_count       integer NOT NULL DEFAULT 0 CHECK (api_calls_count >= 0),
  bulk_operations_count integer NOT NULL DEFAULT 0 CHECK (bulk_operations_count >= 0),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, month_year)
);
CREATE INDEX user_usage_month_year_idx ON public.user_usage (month_year);

CREATE TRIGGER user_usage_set_updated_at
  BEFORE UPDATE ON public.user_usage
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Adds p_amount (> 0) to one counter of the current UTC month and returns the new value.
-- Service only: users can never move their own counters.
CREATE FUNCTION public.increment_usage(
  p_user_id    uuid,
  p_usage_type text,
  p_amount     integer DEFAULT 1
) RETURNS integer
  LANGUAGE plpgsql
  VOLATILE
  SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
  v_month text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM');
  v_new   integer;
BEGIN
  IF p_user_id IS NULL THEN
    RAISE EXCEPTION 'p_user_id must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_usage_type IS NULL
     OR p_usage_type NOT IN ('quotes', 'clients', 'pdf_exports', 'api_calls', 'bulk_operations') THEN
    RAISE EXCEPTION 'unknown usage type: % (expected quotes, clients, pdf_exports, api_calls or bulk_operations)',
      coalesce(p_usage_type, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RAISE EXCEPTION 'usage increment must be a positive integer, got %', coalesce(p_amount::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO public.user_usage AS u
    (user_id, month_year, quotes_count, clients_count, pdf_exports_count, api_calls_count, bulk_operations_count)
  VALUES (
    p_user_id, v_month,
    CASE WHEN p_usage_type = 'quotes'          THEN p_amount ELSE 0 END,
    CASE WHEN p_usage_type = 'clients'         THEN p_amount ELSE 0 END,
    CASE WHEN p_usage_type = 'pdf_exports'     THEN p_amount ELSE 0 END,
    CASE WHEN p_usage_type = 'api_calls'       THEN p_amount ELSE 0 END,
    CASE WHEN p_usage_type = 'bulk_operations' THEN p_amount ELSE 0 END
  )
  ON CONFLICT (user_id, month_year) DO UPDATE SET
    quotes_count          = u.quotes_count          + EXCLUDED.quotes_count,
    clients_count         = u.clients_count         + EXCLUDED.clients_count,
    pdf_exports_count     = u.pdf_exports_count     + EXCLUDED.pdf_exports_count,
    api_calls_count       = u.api_calls_count       + EXCLUDED.api_calls_count,
    bulk_operations_count = u.bulk_operations_count + EXCLUDED.bulk_operations_count
  RETURNING CASE p_usage_type
              WHEN 'quotes'          THEN u.quotes_count
              WHEN 'clients'         THEN u.clients_count
              WHEN 'pdf_exports'     THEN u.pdf_exports_count
              WHEN 'api_calls'       THEN u.api_calls_count
              WHEN 'bulk_operations' THEN u.bulk_operations_count
            END
  INTO v_new;

  RETURN v_new;
END
$$;
REVOKE ALL ON FUNCTION public.increment_usage(uuid, text, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.increment_usage(uuid, text, integer) TO service_role;

-- Usage of the current UTC month (zeros when no row yet). clients_count is the number of
-- clients the user has now (clients are not a monthly quantity).
-- SECURITY INVOKER: an authenticated caller reads through RLS and may only ask about itself;
-- the service role (BYPASSRLS) may ask about anyone.
-- usage_of(): the one definition of "usage this period". Invoker rights and plain SQL, so
-- the planner inlines it into the caller's query; RLS still applies (a user asking for
-- someone else's id gets zeros, never their figures).
CREATE FUNCTION public.usage_of(p_user_id uuid)
RETURNS TABLE (
  quotes_count          integer,
  clients_count         integer,
  pdf_exports_count     integer,
  api_calls_count       integer,
  bulk_operations_count integer,
  period_start          timestamptz,
  period_end            timestamptz
)
  LANGUAGE sql
  STABLE
AS $$
  SELECT coalesce(u.quotes_count, 0),
         (SELECT count(*)::integer FROM public.clients c WHERE c.user_id = p_user_id),
         coalesce(u.pdf_exports_count, 0),
         coalesce(u.api_calls_count, 0),
         coalesce(u.bulk_operations_count, 0),
         date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
  FROM (SELECT 1) AS one
  LEFT JOIN public.user_usage u
         ON u.user_id = p_user_id
        AND u.month_year = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')
$$;
COMMENT ON FUNCTION public.usage_of(uuid) IS
  'Current UTC month usage (period_end exclusive); invoker rights, RLS applies.';
REVOKE ALL ON FUNCTION public.usage_of(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.usage_of(uuid) TO authenticated, service_role;

-- The caller's own usage (inlined like usage_of).
CREATE FUNCTION public.my_usage()
RETURNS TABLE (
  quotes_count          integer,
  clients_count         integer,
  pdf_exports_count     integer,
  api_calls_count       integer,
  bulk_operations_count integer,
  period_start          timestamptz,
  period_end            timestamptz
)
  LANGUAGE sql
  STABLE
AS $$
  SELECT * FROM public.usage_of(auth.uid())
$$;
REVOKE ALL ON FUNCTION public.my_usage() FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.my_usage() TO authenticated, service_role;

-- get_current_usage(): usage_of() with an explicit refusal when a user asks about someone else.
CREATE FUNCTION public.get_current_usage(p_user_id uuid)
RETURNS TABLE (
  quotes_count          integer,
  clients_count         integer,
  pdf_exports_count     integer,
  api_calls_count       integer,
  bulk_operations_count integer,
  period_start          timestamptz,
  period_end            timestamptz
)
  LANGUAGE plpgsql
  STABLE
  SECURITY INVOKER
  SET search_path = public, pg_temp
AS $$
BEGIN
  IF p_user_id IS NULL THEN
    RAISE EXCEPTION 'p_user_id must not be null' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF auth.uid() IS DISTINCT FROM p_user_id
     AND NOT pg_has_role(current_user, 'service_role', 'MEMBER') THEN
    RAISE EXCEPTION 'get_current_usage: a user may only read their own usage'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY SELECT * FROM public.usage_of(p_user_id);
END
$$;
COMMENT ON FUNCTION public.get_current_usage(uuid) IS
  'Current UTC month usage (period_end exclusive). Authenticated callers: own user id only.';
REVOKE ALL ON FUNCTION public.get_current_usage(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.get_current_usage(uuid) TO authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- 8. Request metrics (one row per HTTP request of every function)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.performance_metrics (
  id               bigserial PRIMARY KEY,
  function_name    text NOT NULL,
  route            text NOT NULL,
  method           text NOT NULL,
  status           integer NOT NULL CHECK (status BETWEEN 100 AND 599),
  duration_ms      double precision NOT NULL CHECK (duration_ms >= 0),
  region           text,
  deployment_color text NOT NULL DEFAULT 'blue',
  user_id          uuid,            -- no FK: requests may come from unknown or deleted users
  request_id       text,
  cold_start       boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX performance_metrics_function_created_idx ON public.performance_metrics (function_name, created_at);
CREATE INDEX performance_metrics_created_idx ON public.performance_metrics (created_at);
CREATE INDEX performance_metrics_color_created_idx ON public.performance_metrics (deployment_color, created_at);

-- ---------------------------------------------------------------------------------------------
-- 9. Row Level Security
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.users               ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_roles          ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.company_settings    ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.clients             ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.line_items          ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quotes              ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quote_counters      ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_usage          ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.performance_metrics ENABLE ROW LEVEL SECURITY;

-- users: read and update own profile (rows are created by the auth trigger, removed by cascade)
CREATE POLICY users_select_own ON public.users
  FOR SELECT TO authenticated USING (id = (SELECT auth.uid()));
CREATE POLICY users_update_own ON public.users
  FOR UPDATE TO authenticated
  USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY users_service_all ON public.users
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- user_roles: users read their own rows; admins read all and manage
CREATE POLICY user_roles_select_own_or_admin ON public.user_roles
  FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()) OR (SELECT public.is_admin()));
CREATE POLICY user_roles_admin_insert ON public.user_roles
  FOR INSERT TO authenticated WITH CHECK ((SELECT public.is_admin()));
CREATE POLICY user_roles_admin_update ON public.user_roles
  FOR UPDATE TO authenticated
  USING ((SELECT public.is_admin())) WITH CHECK ((SELECT public.is_admin()));
CREATE POLICY user_roles_admin_delete ON public.user_roles
  FOR DELETE TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY user_roles_service_all ON public.user_roles
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- company_settings: own row only (id = user id)
CREATE POLICY company_settings_select_own ON public.company_settings
  FOR SELECT TO authenticated USING (id = (SELECT auth.uid()));
CREATE POLICY company_settings_insert_own ON public.company_settings
  FOR INSERT TO authenticated WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY company_settings_update_own ON public.company_settings
  FOR UPDATE TO authenticated
  USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY company_settings_delete_own ON public.company_settings
  FOR DELETE TO authenticated USING (id = (SELECT auth.uid()));
CREATE POLICY company_settings_service_all ON public.company_settings
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- clients
CREATE POLICY clients_select_own ON public.clients
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY clients_insert_own ON public.clients
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY clients_update_own ON public.clients
  FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY clients_delete_own ON public.clients
  FOR DELETE TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY clients_service_all ON public.clients
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- line_items
CREATE POLICY line_items_select_own ON public.line_items
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY line_items_insert_own ON public.line_items
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY line_items_update_own ON public.line_items
  FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY line_items_delete_own ON public.line_items
  FOR DELETE TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY line_items_service_all ON public.line_items
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- quotes
CREATE POLICY quotes_select_own ON public.quotes
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quotes_insert_own ON public.quotes
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY quotes_update_own ON public.quotes
  FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY quotes_delete_own ON public.quotes
  FOR DELETE TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quotes_service_all ON public.quotes
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- quote_counters: read own; written only by next_quote_number() (SECURITY DEFINER) or the service
CREATE POLICY quote_counters_select_own ON public.quote_counters
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_counters_service_all ON public.quote_counters
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- user_usage: read own; no write policy for users at all
CREATE POLICY user_usage_select_own ON public.user_usage
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY user_usage_service_all ON public.user_usage
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- performance_metrics: admins read; written by the service
CREATE POLICY performance_metrics_admin_select ON public.performance_metrics
  FOR SELECT TO authenticated USING ((SELECT public.is_admin()));
CREATE POLICY performance_metrics_service_all ON public.performance_metrics
  FOR ALL TO service_role USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------------------------------------
-- 10. Table privileges (explicit; RLS decides which rows)
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON TABLE
  public.users, public.user_roles, public.company_settings, public.clients, public.line_items,
  public.quotes, public.quote_counters, public.user_usage, public.performance_metrics
FROM PUBLIC, anon, authenticated;
REVOKE ALL ON SEQUENCE public.performance_metrics_id_seq FROM PUBLIC, anon, authenticated;

GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE
  public.company_settings, public.clients, public.line_items, public.quotes
TO authenticated;
GRANT SELECT ON TABLE public.users TO authenticated;
GRANT UPDATE (full_name, avatar_url) ON TABLE public.users TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.user_roles TO authenticated;  -- writes: admins only (RLS)
GRANT SELECT ON TABLE public.quote_counters, public.user_usage TO authenticated;
GRANT SELECT ON TABLE public.performance_metrics TO authenticated;                -- admins only (RLS)

GRANT ALL ON TABLE
  public.users, public.user_roles, public.company_settings, public.clients, public.line_items,
  public.quotes, public.quote_counters, public.user_usage, public.performance_metrics
TO service_role;
GRANT ALL ON SEQUENCE public.performance_metrics_id_seq TO service_role;
-- Tables and sequences created later by this role are the service role's too (as on Supabase).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO service_role;

-- ---------------------------------------------------------------------------------------------
-- A quote's identity never changes: id, owner, number and creation time are fixed at insert
-- (the number comes from next_quote_number() in the same transaction).
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION public.keep_quote_identity()
RETURNS trigger
  LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.quote_number <> OLD.quote_number
     OR NEW.quote_year <> OLD.quote_year OR NEW.quote_seq <> OLD.quote_seq
     OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'a quote''s id, owner, number and creation time cannot change'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER quotes_keep_identity
  BEFORE UPDATE ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.keep_quote_identity();

-- ---------------------------------------------------------------------------------------------
-- Rendered quote documents (a cache keyed by the quote's updated_at) and email attempts
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.quote_documents (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  quote_id         uuid NOT NULL REFERENCES public.quotes (id) ON DELETE CASCADE,
  user_id          uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  quote_updated_at timestamptz NOT NULL,
  content          bytea NOT NULL,
  sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes       integer NOT NULL CHECK (size_bytes > 0),
  render_ms        double precision CHECK (render_ms >= 0),
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (quote_id, quote_updated_at)
);
CREATE INDEX quote_documents_user_idx ON public.quote_documents (user_id, created_at DESC);

CREATE TABLE public.quote_email_attempts (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  quote_id            uuid NOT NULL REFERENCES public.quotes (id) ON DELETE CASCADE,
  user_id             uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  recipient           text NOT NULL,
  subject             text NOT NULL,
  status              text NOT NULL CHECK (status IN ('sent', 'failed')),
  provider_message_id text,
  http_status         integer,
  error               text,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quote_email_attempts_quote_idx ON public.quote_email_attempts (quote_id, created_at DESC);

ALTER TABLE public.quote_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quote_email_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY quote_documents_select_own ON public.quote_documents
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_documents_insert_own ON public.quote_documents
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid())
    AND EXISTS (SELECT 1 FROM public.quotes q WHERE q.id = quote_id AND q.user_id = (SELECT auth.uid())));
CREATE POLICY quote_documents_delete_own ON public.quote_documents
  FOR DELETE TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_documents_service_all ON public.quote_documents
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY quote_email_attempts_select_own ON public.quote_email_attempts
  FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE POLICY quote_email_attempts_insert_own ON public.quote_email_attempts
  FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid())
    AND EXISTS (SELECT 1 FROM public.quotes q WHERE q.id = quote_id AND q.user_id = (SELECT auth.uid())));
CREATE POLICY quote_email_attempts_service_all ON public.quote_email_attempts
  FOR ALL TO service_role USING (true) WITH CHECK (true);

REVOKE ALL ON TABLE public.quote_documents, public.quote_email_attempts FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, DELETE ON TABLE public.quote_documents TO authenticated;
GRANT SELECT, INSERT ON TABLE public.quote_email_attempts TO authenticated;
GRANT ALL ON TABLE public.quote_documents, public.quote_email_attempts TO service_role;
