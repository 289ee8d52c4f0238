-- Adoption of a database that holds the original QuoteKit schema, step 2 of 2: carry the
-- rows the application needs from quotekit_original into the tables migrations 0001-0009
-- created. Run by `edge db migrate` in the adoption's one transaction (host/src/adopt.rs);
-- any failure rolls everything back, the original schema included.
--
-- What is carried over, and how (supabase_migrations.adoptions records the counts):
--   users             profile fields (0001 made a profile for every auth user)
--   company_settings  as is; missing rates 0, a missing or malformed currency USD
--   clients           as is
--   line_items        the catalog, as is
--   quotes            numbers kept (Q-YYYY-NNNN gives year and sequence; a number another of
--                     the user's quotes already holds, or none, gets the next free number of
--                     its year); subtotal and total kept to the cent, the markup amount
--                     computed from the rate and the tax amount the rest; line items from
--                     quote_data in either original shape ({id,name,unit,cost,quantity} from
--                     the app, {line_items:[...]} from the original quote-processor), prices
--                     to cents and quantities to thousandths; client contact from quote_data
--                     or client_contact; a client link only to the quote owner's own client;
--                     expires_at (or quote_data.valid_until) as valid_until
--   quote_counters    each user's highest number per year, so new quotes follow
--   user_usage        the counters, as is
--   customers         -> stripe_customers (with the auth email)
--   stripe_products / stripe_prices   as is; product metadata with max_quotes -> plan_limits,
--                     as the webhook handler does for product events
--   subscriptions     Stripe subscriptions with their Stripe id; local rows of a paid price
--                     (sub_admin_...) without one; the local free rows (sub_free_...) are
--                     not carried: the free plan is what a user without a subscription has
--   payment_methods, billing_history, subscription_changes   as is
--   stripe_webhook_events   processed ones (a redelivery stays a duplicate); the original
--                     handler's failures stay in quotekit_original.stripe_webhook_events
--   user_roles        as is, except the development admin seeded by the original's
--                     20250802152848 migration with a published password
--   security_configuration   the operator's settings replace the seeded defaults

CREATE FUNCTION pg_temp.mapped(p_object text, p_into text, p_rows bigint, p_note text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
  UPDATE supabase_migrations.adoptions
  SET mapped_into = p_into, rows_mapped = coalesce(rows_mapped, 0) + p_rows,
      note = coalesce(note || '; ', '') || p_note
  WHERE object = p_object AND kind = 'table'
$$;

-- A price in cents, a quantity in thousandths, as JSON numbers; NULL when not a number.
CREATE FUNCTION pg_temp.num(p jsonb, p_scale int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
           WHEN jsonb_typeof(p) = 'number' THEN to_jsonb(round((p #>> '{}')::numeric, p_scale))
           WHEN jsonb_typeof(p) = 'string' AND btrim(p #>> '{}') ~ '^-?[0-9]+(\.[0-9]+)?$'
             THEN to_jsonb(round(btrim(p #>> '{}')::numeric, p_scale))
         END
$$;

-- One original line item in the shape quotes.line_items stores.
CREATE FUNCTION pg_temp.item(i jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'id', CASE jsonb_typeof(i -> 'id') WHEN 'number' THEN i -> 'id'
                                       WHEN 'string' THEN to_jsonb(left(i ->> 'id', 100)) END,
    'name', to_jsonb(coalesce(nullif(left(btrim(i ->> 'name'), 200), ''), 'Item')),
    'description', to_jsonb(nullif(left(btrim(i ->> 'description'), 2000), '')),
    'unit', to_jsonb(nullif(left(btrim(i ->> 'unit'), 50), '')),
    'category', to_jsonb(nullif(left(btrim(i ->> 'category'), 100), '')),
    'quantity', pg_temp.num(i -> 'quantity', 3),
    'cost', pg_temp.num(coalesce(i -> 'cost', i -> 'unit_price'), 2)
  ))
$$;

DO $carry_over$
DECLARE
  n bigint;
  bad text;
  seeded_admin constant uuid := '0a8b8ce7-3cc3-476e-b820-2296df2119cf';
BEGIN
  -- Profiles ------------------------------------------------------------------------------
  IF to_regclass('quotekit_original.users') IS NOT NULL THEN
    UPDATE public.users u
    SET full_name = coalesce(o.full_name, u.full_name), avatar_url = coalesce(o.avatar_url, u.avatar_url),
        created_at = coalesce(o.created_at, u.created_at)
    FROM quotekit_original.users o WHERE o.id = u.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.users', 'public.users', n, 'billing_address and payment_method stay in the original');
  END IF;

  -- Business settings, clients, catalog ----------------------------------------------------
  IF to_regclass('quotekit_original.company_settings') IS NOT NULL THEN
    INSERT INTO public.company_settings (id, company_name, company_address, company_email, company_phone, logo_url,
                                         default_tax_rate, default_markup_rate, preferred_currency, quote_terms,
                                         created_at, updated_at)
    SELECT o.id, o.company_name, o.company_address, o.company_email, o.company_phone, o.logo_url,
           coalesce(o.default_tax_rate, 0), coalesce(o.default_markup_rate, 0),
           CASE WHEN upper(btrim(o.preferred_currency)) ~ '^[A-Z]{3}$' THEN upper(btrim(o.preferred_currency)) ELSE 'USD' END,
           o.quote_terms, coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.company_settings o
    JOIN auth.users a ON a.id = o.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.company_settings', 'public.company_settings', n);
  END IF;

  IF to_regclass('quotekit_original.clients') IS NOT NULL THEN
    INSERT INTO public.clients (id, user_id, name, email, phone, address, notes, created_at, updated_at)
    SELECT o.id, o.user_id, coalesce(nullif(btrim(o.name), ''), 'Client'), o.email, o.phone, o.address, o.notes,
           coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.clients o;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.clients', 'public.clients', n);
  END IF;

  IF to_regclass('quotekit_original.line_items') IS NOT NULL THEN
    INSERT INTO public.line_items (id, user_id, name, unit, cost, category, tags, is_favorite, last_used_at,
                                   created_at, updated_at)
    SELECT o.id, o.user_id, coalesce(nullif(btrim(o.name), ''), 'Item'), o.unit, o.cost, o.category,
           coalesce(o.tags, '{}'), coalesce(o.is_favorite, false), o.last_used_at,
           coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.line_items o;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.line_items', 'public.line_items', n, 'item_categories stay in the original');
  END IF;

  -- Quotes ---------------------------------------------------------------------------------
  CREATE TEMP TABLE adopted_quotes ON COMMIT DROP AS
  SELECT o.id, o.user_id, o.client_id, o.client_name, o.client_contact, o.quote_number, o.quote_data,
         o.subtotal, o.tax_rate, o.markup_rate, o.total, o.status::text AS status, o.sent_at, o.expires_at,
         o.notes, coalesce(o.is_template, false) AS is_template, o.template_name,
         coalesce(o.created_at, now()) AS created_at, coalesce(o.updated_at, o.created_at, now()) AS updated_at,
         CASE jsonb_typeof(o.quote_data) WHEN 'array' THEN o.quote_data
                                         WHEN 'object' THEN coalesce(o.quote_data -> 'line_items', '[]') END AS items_in,
         CASE WHEN jsonb_typeof(o.quote_data) = 'object' THEN o.quote_data END AS extra,
         round(o.subtotal * o.markup_rate / 100, 2) AS markup_amount,
         NULL::integer AS quote_year, NULL::integer AS quote_seq, NULL::text AS number, NULL::jsonb AS items
  FROM quotekit_original.quotes o;

  -- Totals: what the customer was shown stays; markup and tax split what lies between.
  SELECT string_agg(id::text, ', ' ORDER BY id) INTO bad
  FROM adopted_quotes WHERE subtotal IS NULL OR total IS NULL OR subtotal < 0 OR total < subtotal;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'cannot adopt quotes whose total is below their subtotal (or missing): %', bad
      USING HINT = 'correct those rows in public.quotes of the original schema, then run edge db migrate again';
  END IF;
  UPDATE adopted_quotes SET markup_amount = least(markup_amount, total - subtotal);

  -- Line items.
  UPDATE adopted_quotes q
  SET items = coalesce((SELECT jsonb_agg(pg_temp.item(e) ORDER BY ord)
                        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(q.items_in) = 'array' THEN q.items_in ELSE '[]' END)
                             WITH ORDINALITY AS t (e, ord)
                        WHERE jsonb_typeof(e) = 'object'), '[]');
  SELECT string_agg(DISTINCT id::text, ', ') INTO bad
  FROM adopted_quotes, jsonb_array_elements(items) AS i
  WHERE NOT (i ? 'quantity' AND i ? 'cost')
     OR (i ->> 'quantity')::numeric <= 0 OR (i ->> 'quantity')::numeric > 1000000
     OR (i ->> 'cost')::numeric < 0 OR (i ->> 'cost')::numeric > 1000000000;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'cannot adopt quotes with a line item lacking a number quantity in (0, 1000000] and cost in [0, 1000000000]: %', bad
      USING HINT = 'correct quote_data of those rows in public.quotes of the original schema, then run edge db migrate again';
  END IF;
  SELECT string_agg(id::text, ', ') INTO bad
  FROM adopted_quotes WHERE NOT is_template AND jsonb_array_length(items) = 0 OR jsonb_array_length(items) > 200;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'cannot adopt quotes without line items (or with more than 200): %', bad
      USING HINT = 'mark them as templates, or delete them, in the original schema, then run edge db migrate again';
  END IF;

  -- Numbers: Q-YYYY-NNNN keeps its year and sequence unless the user already has it.
  UPDATE adopted_quotes
  SET quote_year = substring(btrim(quote_number) FROM '^Q-([0-9]{4})-[0-9]{1,9}$')::integer,
      quote_seq  = substring(btrim(quote_number) FROM '^Q-[0-9]{4}-([0-9]{1,9})$')::integer,
      number     = btrim(quote_number)
  WHERE btrim(quote_number) ~ '^Q-(19|[2-9][0-9])[0-9]{2}-0*[1-9][0-9]{0,8}$';
  UPDATE adopted_quotes a SET quote_year = NULL, quote_seq = NULL, number = NULL
  FROM (SELECT id, row_number() OVER (PARTITION BY user_id, quote_year, quote_seq ORDER BY created_at, id) AS k
        FROM adopted_quotes WHERE quote_seq IS NOT NULL) d
  WHERE d.id = a.id AND d.k > 1;
  WITH fresh AS (
    SELECT a.id, a.user_id, extract(year FROM a.created_at AT TIME ZONE 'UTC')::integer AS y,
           coalesce((SELECT max(b.quote_seq) FROM adopted_quotes b
                     WHERE b.user_id = a.user_id AND b.quote_year = extract(year FROM a.created_at AT TIME ZONE 'UTC')::integer), 0)
           + row_number() OVER (PARTITION BY a.user_id, extract(year FROM a.created_at AT TIME ZONE 'UTC') ORDER BY a.created_at, a.id) AS s
    FROM adopted_quotes a WHERE a.quote_seq IS NULL
  )
  UPDATE adopted_quotes a SET quote_year = f.y, quote_seq = f.s, number = format('Q-%s-%s', f.y, lpad(f.s::text, 4, '0'))
  FROM fresh f WHERE f.id = a.id;

  ALTER TABLE public.quotes DISABLE TRIGGER quotes_enforce_quota;  -- usage comes from the original's counters
  INSERT INTO public.quotes (id, user_id, client_id, client_name, client_email, client_phone, client_address,
                             quote_number, quote_year, quote_seq, line_items, subtotal, markup_rate, markup_amount,
                             tax_rate, tax_amount, total, status, sent_at, accepted_at, declined_at, valid_until, notes,
                             is_template, template_name, created_at, updated_at)
  SELECT a.id, a.user_id, c.id,
         coalesce(nullif(btrim(a.client_name), ''), 'Client'),
         coalesce(nullif(btrim(a.extra ->> 'client_email'), ''),
                  CASE WHEN a.client_contact LIKE '%@%' THEN btrim(a.client_contact) END, c.email),
         coalesce(nullif(btrim(a.extra ->> 'client_phone'), ''),
                  CASE WHEN a.client_contact NOT LIKE '%@%' THEN nullif(btrim(a.client_contact), '') END, c.phone),
         coalesce(nullif(btrim(a.extra ->> 'client_address'), ''), c.address),
         a.number, a.quote_year, a.quote_seq, a.items, a.subtotal, a.markup_rate, a.markup_amount,
         a.tax_rate, a.total - a.subtotal - a.markup_amount, a.total,
         coalesce(a.status, 'draft')::public.quote_status, a.sent_at,
         CASE WHEN a.status IN ('accepted', 'converted') THEN a.updated_at END,
         CASE WHEN a.status = 'declined' THEN a.updated_at END,
         coalesce(CASE WHEN a.extra ->> 'valid_until' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN left(a.extra ->> 'valid_until', 10)::date END,
                  (a.expires_at AT TIME ZONE 'UTC')::date),
         a.notes, a.is_template,
         CASE WHEN a.is_template THEN coalesce(nullif(btrim(a.template_name), ''), 'Template') ELSE a.template_name END,
         a.created_at, a.updated_at
  FROM adopted_quotes a
  LEFT JOIN public.clients c ON c.id = a.client_id AND c.user_id = a.user_id;
  GET DIAGNOSTICS n = ROW_COUNT;
  ALTER TABLE public.quotes ENABLE TRIGGER quotes_enforce_quota;
  SELECT count(*) INTO bad FROM adopted_quotes WHERE number IS DISTINCT FROM btrim(quote_number);
  PERFORM pg_temp.mapped('public.quotes', 'public.quotes', n,
    CASE WHEN bad::int > 0 THEN bad || ' numbered anew (none, or one another of the user''s quotes holds)' END);

  INSERT INTO public.quote_counters (user_id, year, last_seq)
  SELECT user_id, quote_year, max(quote_seq) FROM adopted_quotes GROUP BY user_id, quote_year
  ON CONFLICT (user_id, year) DO UPDATE SET last_seq = greatest(public.quote_counters.last_seq, EXCLUDED.last_seq);

  -- Usage -----------------------------------------------------------------------------------
  IF to_regclass('quotekit_original.user_usage') IS NOT NULL THEN
    INSERT INTO public.user_usage (user_id, month_year, quotes_count, pdf_exports_count, api_calls_count,
                                   bulk_operations_count, created_at, updated_at)
    SELECT o.user_id, o.month_year, greatest(o.quotes_count, 0), greatest(o.pdf_exports_count, 0),
           greatest(o.api_calls_count, 0), greatest(o.bulk_operations_count, 0), o.created_at, o.updated_at
    FROM quotekit_original.user_usage o
    WHERE o.month_year ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'
    ON CONFLICT (user_id, month_year) DO UPDATE SET quotes_count = EXCLUDED.quotes_count,
      pdf_exports_count = EXCLUDED.pdf_exports_count, api_calls_count = EXCLUDED.api_calls_count,
      bulk_operations_count = EXCLUDED.bulk_operations_count;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.user_usage', 'public.user_usage', n);
  END IF;

  -- Stripe ------------------------------------------------------------------------------------
  IF to_regclass('quotekit_original.customers') IS NOT NULL THEN
    INSERT INTO public.stripe_customers (user_id, stripe_customer_id, email)
    SELECT o.id, o.stripe_customer_id, a.email
    FROM quotekit_original.customers o JOIN auth.users a ON a.id = o.id
    WHERE nullif(btrim(o.stripe_customer_id), '') IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.customers', 'public.stripe_customers', n);
  END IF;

  IF to_regclass('quotekit_original.stripe_products') IS NOT NULL THEN
    INSERT INTO public.stripe_products (id, active, name, description, metadata, created_at, updated_at)
    SELECT o.id, coalesce(o.active, true), o.name, o.description, coalesce(o.metadata, '{}'),
           coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.stripe_products o;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.stripe_products', 'public.stripe_products', n);

    -- Limits kept in Stripe's product metadata (strings, as Stripe stores them).
    INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients, pdf_export, email_quotes,
                                    custom_branding, analytics, api_access, bulk_operations)
    SELECT o.id, coalesce(o.name, o.id),
           (o.metadata ->> 'max_quotes')::integer,
           CASE WHEN o.metadata ->> 'max_clients' ~ '^-?[0-9]+$' THEN (o.metadata ->> 'max_clients')::integer ELSE -1 END,
           coalesce(o.metadata ->> 'pdf_export' = 'true', false), coalesce(o.metadata ->> 'email_quotes' = 'true', false),
           coalesce(o.metadata ->> 'custom_branding' = 'true', false), coalesce(o.metadata ->> 'analytics' = 'true', false),
           coalesce(o.metadata ->> 'api_access' = 'true', false), coalesce(o.metadata ->> 'bulk_operations' = 'true', false)
    FROM quotekit_original.stripe_products o
    WHERE o.metadata ->> 'max_quotes' ~ '^-?[0-9]+$' AND (o.metadata ->> 'max_quotes')::integer >= -1
    ON CONFLICT (plan_key) DO NOTHING;
  END IF;

  IF to_regclass('quotekit_original.stripe_prices') IS NOT NULL THEN
    INSERT INTO public.stripe_prices (id, stripe_product_id, active, currency, unit_amount, type, "interval",
                                      interval_count, trial_period_days, metadata, created_at, updated_at)
    SELECT o.id, o.stripe_product_id, coalesce(o.active, true), lower(coalesce(o.currency, 'usd')),
           o.unit_amount, o.type::text, o.interval::text, greatest(coalesce(o.interval_count, 1), 1),
           o.trial_period_days, coalesce(o.metadata, '{}'), coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.stripe_prices o
    WHERE o.stripe_product_id IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.stripe_prices', 'public.stripe_prices', n);
  END IF;

  IF to_regclass('quotekit_original.subscriptions') IS NOT NULL THEN
    INSERT INTO public.subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
                                      quantity, cancel_at_period_end, created, current_period_start, current_period_end,
                                      ended_at, cancel_at, canceled_at, trial_start, trial_end, metadata, updated_at)
    SELECT o.stripe_subscription_id, o.user_id, sc.stripe_customer_id, o.stripe_price_id,
           coalesce(o.status::text, 'incomplete')::public.subscription_status,
           greatest(coalesce(o.quantity, 1), 0), coalesce(o.cancel_at_period_end, false), coalesce(o.created, now()),
           o.current_period_start, o.current_period_end, o.ended_at, o.cancel_at, o.canceled_at, o.trial_start,
           o.trial_end, coalesce(o.metadata, '{}'), coalesce(o.updated_at, now())
    FROM quotekit_original.subscriptions o
    LEFT JOIN public.stripe_prices p ON p.id = o.stripe_price_id
    LEFT JOIN public.stripe_customers sc ON sc.user_id = o.user_id
    WHERE p.id IS NOT NULL AND p.unit_amount IS DISTINCT FROM 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.subscriptions', 'public.subscriptions', n,
      (SELECT count(*) FROM quotekit_original.subscriptions o LEFT JOIN public.stripe_prices p ON p.id = o.stripe_price_id
       WHERE p.id IS NULL OR p.unit_amount = 0) || ' local free-plan rows not carried (the free plan is the default)');
  END IF;

  IF to_regclass('quotekit_original.payment_methods') IS NOT NULL THEN
    INSERT INTO public.payment_methods (id, user_id, stripe_customer_id, type, card_brand, card_last4, card_exp_month,
                                        card_exp_year, is_default, created_at, updated_at)
    SELECT o.stripe_payment_method_id, o.user_id, sc.stripe_customer_id, coalesce(o.type, 'card'), o.card_brand,
           CASE WHEN o.card_last4 ~ '^[0-9]{4}$' THEN o.card_last4 END,
           CASE WHEN o.card_exp_month BETWEEN 1 AND 12 THEN o.card_exp_month END, o.card_exp_year,
           coalesce(o.is_default, false), coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.payment_methods o
    LEFT JOIN public.stripe_customers sc ON sc.user_id = o.user_id
    WHERE o.user_id IS NOT NULL
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.payment_methods', 'public.payment_methods', n);
  END IF;

  IF to_regclass('quotekit_original.billing_history') IS NOT NULL THEN
    INSERT INTO public.billing_history (id, user_id, stripe_customer_id, subscription_id, amount, currency, status,
                                        description, invoice_url, created_at, updated_at)
    SELECT coalesce(o.stripe_invoice_id, o.id), o.user_id, sc.stripe_customer_id, o.subscription_id, o.amount,
           lower(coalesce(o.currency, 'usd')), o.status, o.description, o.invoice_url,
           coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.billing_history o
    LEFT JOIN public.stripe_customers sc ON sc.user_id = o.user_id
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.billing_history', 'public.billing_history', n);
  END IF;

  IF to_regclass('quotekit_original.subscription_changes') IS NOT NULL THEN
    INSERT INTO public.subscription_changes (user_id, subscription_id, change_type, old_value, new_value, "timestamp",
                                             metadata, created_at)
    SELECT o.user_id, o.subscription_id, o.change_type, o.old_value, o.new_value, o."timestamp",
           coalesce(o.metadata, '{}'), coalesce(o.created_at, now())
    FROM quotekit_original.subscription_changes o;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.subscription_changes', 'public.subscription_changes', n);
  END IF;

  IF to_regclass('quotekit_original.stripe_webhook_events') IS NOT NULL THEN
    INSERT INTO public.stripe_webhook_events (stripe_event_id, event_type, processed, processed_at, payload,
                                              received_at, created_at)
    SELECT o.stripe_event_id, o.event_type, true, o.processed_at, o.data, coalesce(o.created_at, now()),
           coalesce(o.created_at, now())
    FROM quotekit_original.stripe_webhook_events o
    WHERE o.processed;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.stripe_webhook_events', 'public.stripe_webhook_events', n,
      (SELECT count(*) FROM quotekit_original.stripe_webhook_events WHERE NOT coalesce(processed, false))
      || ' unprocessed events of the original handler not carried');
  END IF;

  -- Roles and settings ------------------------------------------------------------------------
  IF to_regclass('quotekit_original.user_roles') IS NOT NULL THEN
    INSERT INTO public.user_roles (user_id, role, granted_by, granted_at, expires_at, is_active, metadata,
                                   created_at, updated_at)
    SELECT o.user_id, o.role, o.granted_by, coalesce(o.granted_at, now()), o.expires_at, coalesce(o.is_active, true),
           coalesce(o.metadata, '{}'), coalesce(o.created_at, now()), coalesce(o.updated_at, now())
    FROM quotekit_original.user_roles o
    WHERE NOT (o.user_id = seeded_admin AND o.role = 'admin')
    ON CONFLICT (user_id, role) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.user_roles', 'public.user_roles', n,
      CASE WHEN EXISTS (SELECT 1 FROM quotekit_original.user_roles WHERE user_id = seeded_admin AND role = 'admin')
           THEN 'not carried: the admin role of carlos@ai.rio.br, the development admin the original seeded with a published password'
      END);
  END IF;

  IF to_regclass('quotekit_original.security_configuration') IS NOT NULL THEN
    -- The settings this application reads (the guide's rate limits and detectors); the
    -- original's other categories configured nothing it has.
    UPDATE public.security_configuration p
    SET config_value = o.config_value, enabled = coalesce(o.enabled, true),
        last_modified_by = o.last_modified_by, last_modified_at = coalesce(o.last_modified_at, now())
    FROM quotekit_original.security_configuration o
    WHERE o.config_category = p.config_category AND o.config_key = p.config_key AND o.config_value IS NOT NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_temp.mapped('public.security_configuration', 'public.security_configuration', n,
      'settings of categories this application does not read stay in the original');
  END IF;

  -- Realtime: the publication follows the products and prices to their new tables.
  IF EXISTS (SELECT 1 FROM pg_publication_tables t JOIN pg_publication p ON p.pubname = t.pubname
             WHERE t.pubname = 'supabase_realtime' AND t.schemaname = 'quotekit_original' AND NOT p.puballtables) THEN
    FOR bad IN SELECT format('%I.%I', schemaname, tablename) FROM pg_publication_tables
               WHERE pubname = 'supabase_realtime' AND schemaname = 'quotekit_original' LOOP
      EXECUTE format('ALTER PUBLICATION supabase_realtime DROP TABLE %s', bad);
    END LOOP;
    ALTER PUBLICATION supabase_realtime ADD TABLE public.stripe_products, public.stripe_prices;
  END IF;
END
$carry_over$;
