-- Adoption of a database that holds the original QuoteKit schema, step 1 of 2: set the
-- original aside. Run by `edge db migrate` inside the adoption's one transaction, before
-- migrations 0001-0009 create this application's schema (host/src/adopt.rs).
--
-- Every table, view, sequence, function and type of the `public` schema (extension members
-- excepted) moves, unchanged and with its rows, to the schema `quotekit_original`: renamed,
-- never dropped. Each move is recorded in supabase_migrations.adoptions with the row count of
-- tables. What moved becomes inert: its triggers are disabled (they would write the original
-- tables) and no API role can reach it (no USAGE on the schema, no grants inside it), so
-- nothing but an administrator's own SQL reads it from here on. Step 2 (carry_over.sql) maps
-- the rows the application needs into the new tables.

CREATE TABLE IF NOT EXISTS supabase_migrations.adoptions (
  object       text NOT NULL,            -- public.quotes, public.is_admin(user_id uuid)
  kind         text NOT NULL CHECK (kind IN ('table', 'view', 'sequence', 'function', 'type')),
  kept_as      text NOT NULL,            -- quotekit_original.quotes
  replaced_by  text,                     -- the migration version whose object took the name
  rows_kept    bigint,                   -- rows of a table when it was set aside
  mapped_into  text,                     -- the table its rows were carried over to
  rows_mapped  bigint,
  note         text,
  adopted_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (object, kind)
);
COMMENT ON TABLE supabase_migrations.adoptions IS
  'Objects of the original QuoteKit schema set aside in quotekit_original by edge db migrate, and where their rows went.';

CREATE SCHEMA quotekit_original;
COMMENT ON SCHEMA quotekit_original IS
  'The original QuoteKit schema as it was when edge db migrate adopted the database: kept, inert, readable by administrators only.';

DO $set_aside$
DECLARE
  o record;
  n bigint;
BEGIN
  -- Relations first: a table takes its indexes, constraints, policies, triggers and owned
  -- sequences along.
  FOR o IN
    SELECT c.oid, c.relname, c.relkind
    FROM pg_class c
    JOIN pg_namespace ns ON ns.oid = c.relnamespace
    WHERE ns.nspname = 'public'
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      -- sequences owned by a column move with their table
      AND NOT (c.relkind = 'S' AND EXISTS (
            SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    ORDER BY c.relkind, c.relname
  LOOP
    n := NULL;
    IF o.relkind IN ('r', 'p') THEN
      EXECUTE format('SELECT count(*) FROM public.%I', o.relname) INTO n;
    END IF;
    CASE o.relkind
      WHEN 'r', 'p' THEN
        EXECUTE format('ALTER TABLE public.%I SET SCHEMA quotekit_original', o.relname);
        EXECUTE format('ALTER TABLE quotekit_original.%I DISABLE TRIGGER USER', o.relname);
      WHEN 'f' THEN EXECUTE format('ALTER FOREIGN TABLE public.%I SET SCHEMA quotekit_original', o.relname);
      WHEN 'v' THEN EXECUTE format('ALTER VIEW public.%I SET SCHEMA quotekit_original', o.relname);
      WHEN 'm' THEN EXECUTE format('ALTER MATERIALIZED VIEW public.%I SET SCHEMA quotekit_original', o.relname);
      WHEN 'S' THEN EXECUTE format('ALTER SEQUENCE public.%I SET SCHEMA quotekit_original', o.relname);
    END CASE;
    INSERT INTO supabase_migrations.adoptions (object, kind, kept_as, rows_kept)
    VALUES ('public.' || o.relname,
            CASE o.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'table' END,
            'quotekit_original.' || o.relname, n);
  END LOOP;

  -- Functions and procedures (trigger functions included: triggers point at them by oid).
  FOR o IN
    SELECT p.oid, p.proname, p.prokind, pg_get_function_identity_arguments(p.oid) AS args
    FROM pg_proc p
    JOIN pg_namespace ns ON ns.oid = p.pronamespace
    WHERE ns.nspname = 'public'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    ORDER BY p.proname, 4
  LOOP
    EXECUTE format('ALTER %s public.%I(%s) SET SCHEMA quotekit_original',
                   CASE o.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                   o.proname, o.args);
    INSERT INTO supabase_migrations.adoptions (object, kind, kept_as)
    VALUES (format('public.%s(%s)', o.proname, o.args), 'function', format('quotekit_original.%s(%s)', o.proname, o.args));
  END LOOP;

  -- Types of their own (enums, domains, composites); a table's row type went with it.
  FOR o IN
    SELECT t.oid, t.typname, t.typtype
    FROM pg_type t
    JOIN pg_namespace ns ON ns.oid = t.typnamespace
    WHERE ns.nspname = 'public'
      AND t.typtype IN ('e', 'd', 'c', 'r', 'm')
      AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    ORDER BY t.typname
  LOOP
    EXECUTE format('ALTER %s public.%I SET SCHEMA quotekit_original',
                   CASE o.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, o.typname);
    INSERT INTO supabase_migrations.adoptions (object, kind, kept_as)
    VALUES ('public.' || o.typname, 'type', 'quotekit_original.' || o.typname);
  END LOOP;
END
$set_aside$;

-- Nothing set aside is reachable through the API roles.
REVOKE ALL ON SCHEMA quotekit_original FROM PUBLIC;
DO $revoke$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('REVOKE ALL ON SCHEMA quotekit_original FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA quotekit_original FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA quotekit_original FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA quotekit_original FROM %I', r);
    END IF;
  END LOOP;
  REVOKE ALL ON ALL FUNCTIONS IN SCHEMA quotekit_original FROM PUBLIC;
END
$revoke$;
