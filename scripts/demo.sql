-- The local demo data of scripts/dev: the demo user (demo@quotekit.local) on a paid plan with
-- every feature, company settings, three clients and three quotes, so every curl in the README
-- works as printed (PDFs and batch jobs need a paid plan). Idempotent: run it any number of
-- times; what exists is kept (edits made while trying the API too), what is missing comes
-- back, and the subscription's period is moved forward so the plan keeps entitling.
-- A development convenience only: production data comes from Stripe's webhooks.
-- (tests/suite/dev_seed.rs runs it twice and checks the plan and the quotes through the API.)

DO $seed$
DECLARE
  v_user uuid;
  v_year int := extract(year FROM now() AT TIME ZONE 'UTC')::int;
  v_seq int;
  q record;
BEGIN
  SELECT id INTO v_user FROM auth.users WHERE email = 'demo@quotekit.local' ORDER BY created_at LIMIT 1;
  IF v_user IS NULL THEN
    INSERT INTO auth.users (id, email) VALUES ('de300000-0000-4000-8000-000000000001', 'demo@quotekit.local')
    RETURNING id INTO v_user;
  END IF;
  UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE id = v_user;

  -- The plan: a Stripe product, its monthly price, its limits (unlimited, every feature).
  INSERT INTO public.stripe_products (id, name, description)
    VALUES ('prod_demo_pro', 'Pro (demo)', 'Local demo plan of scripts/dev')
    ON CONFLICT (id) DO NOTHING;
  INSERT INTO public.stripe_prices (id, stripe_product_id, currency, unit_amount, type, "interval")
    VALUES ('price_demo_pro_monthly', 'prod_demo_pro', 'usd', 2900, 'recurring', 'month')
    ON CONFLICT (id) DO NOTHING;
  INSERT INTO public.plan_limits (plan_key, name, max_quotes, max_clients, pdf_export, email_quotes,
                                  custom_branding, analytics, api_access, bulk_operations)
    VALUES ('prod_demo_pro', 'Pro (demo)', -1, -1, true, true, true, true, true, true)
    ON CONFLICT (plan_key) DO NOTHING;
  INSERT INTO public.stripe_customers (user_id, stripe_customer_id, email)
    VALUES (v_user, 'cus_demo_local', 'demo@quotekit.local')
    ON CONFLICT (user_id) DO NOTHING;
  INSERT INTO public.subscriptions (stripe_subscription_id, user_id, stripe_customer_id, stripe_price_id, status,
                                    current_period_start, current_period_end)
    VALUES ('sub_demo_local', v_user, 'cus_demo_local', 'price_demo_pro_monthly', 'active', now(), now() + interval '30 days')
    ON CONFLICT (stripe_subscription_id) DO UPDATE
      SET status = 'active', current_period_start = now(), current_period_end = now() + interval '30 days',
          cancel_at_period_end = false, ended_at = NULL, canceled_at = NULL, cancel_at = NULL;

  INSERT INTO public.company_settings (id, company_name, company_address, company_email, company_phone,
                                       default_tax_rate, quote_terms)
    VALUES (v_user, 'Greenleaf Landscaping', E'12 Orchard Lane\nSpringfield, OR 97477', 'office@greenleaf.example',
            '+1 541 555 0142', 8.25, 'Payment due within 30 days of acceptance.')
    ON CONFLICT (id) DO NOTHING;

  INSERT INTO public.clients (id, user_id, name, email, phone, address) VALUES
    ('de300000-0000-4000-8000-0000000c0001', v_user, 'Alder Street Apartments', 'manager@alder.example', '+1 541 555 0101', '400 Alder St, Eugene, OR'),
    ('de300000-0000-4000-8000-0000000c0002', v_user, 'Maple Dental', 'frontdesk@mapledental.example', '+1 541 555 0102', '18 Maple Ave, Eugene, OR'),
    ('de300000-0000-4000-8000-0000000c0003', v_user, 'Riverside School', 'facilities@riverside.example', NULL, '1 School Rd, Springfield, OR')
    ON CONFLICT (id) DO NOTHING;

  -- Quotes in the stored shape quote-processor writes (line totals and totals exact, the
  -- number from the owner's counter, as next_quote_number() gives it).
  FOR q IN
    SELECT * FROM (VALUES
      ('de300000-0000-4000-8000-00000000a001'::uuid, 'de300000-0000-4000-8000-0000000c0001'::uuid, 'Alder Street Apartments', 'manager@alder.example', 'draft'::public.quote_status,
       '[{"name":"Mowing","unit":"visit","quantity":"4","unit_price":"45.00","cost":"45.00","total":"180.00"},
         {"name":"Hedge trimming","description":"Front and side hedges","unit":"hour","quantity":"2.5","unit_price":"38.00","cost":"38.00","total":"95.00"}]'::jsonb,
       275.00, 0.00, 0.00, 8.25, 22.69, 297.69),
      ('de300000-0000-4000-8000-00000000a002'::uuid, 'de300000-0000-4000-8000-0000000c0002'::uuid, 'Maple Dental', 'frontdesk@mapledental.example', 'sent'::public.quote_status,
       '[{"name":"Spring clean-up","unit":"job","quantity":"1","unit_price":"350.00","cost":"350.00","total":"350.00"},
         {"name":"Mulch","unit":"cu yd","quantity":"3","unit_price":"42.50","cost":"42.50","total":"127.50"}]'::jsonb,
       477.50, 10.00, 47.75, 8.25, 43.33, 568.58),
      ('de300000-0000-4000-8000-00000000a003'::uuid, 'de300000-0000-4000-8000-0000000c0003'::uuid, 'Riverside School', 'facilities@riverside.example', 'accepted'::public.quote_status,
       '[{"name":"Irrigation repair","unit":"hour","quantity":"6","unit_price":"55.00","cost":"55.00","total":"330.00"}]'::jsonb,
       330.00, 0.00, 0.00, 0.00, 0.00, 330.00)
    ) AS t(id, client_id, client_name, client_email, status, items, subtotal, markup_rate, markup_amount, tax_rate, tax_amount, total)
  LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM public.quotes WHERE id = q.id);
    INSERT INTO public.quote_counters AS c (user_id, year, last_seq) VALUES (v_user, v_year, 1)
      ON CONFLICT (user_id, year) DO UPDATE SET last_seq = c.last_seq + 1
      RETURNING last_seq INTO v_seq;
    INSERT INTO public.quotes (id, user_id, client_id, client_name, client_email, quote_number, quote_year, quote_seq,
                               line_items, subtotal, markup_rate, markup_amount, tax_rate, tax_amount, total, status,
                               sent_at, accepted_at, valid_until, notes)
      VALUES (q.id, v_user, q.client_id, q.client_name, q.client_email,
              'Q-' || v_year || '-' || lpad(v_seq::text, greatest(4, length(v_seq::text)), '0'), v_year, v_seq,
              q.items, q.subtotal, q.markup_rate, q.markup_amount, q.tax_rate, q.tax_amount, q.total, q.status,
              CASE WHEN q.status IN ('sent', 'accepted') THEN now() END,
              CASE WHEN q.status = 'accepted' THEN now() END,
              (now() AT TIME ZONE 'UTC')::date + 30, 'Demo quote made by scripts/dev.');
  END LOOP;
END
$seed$;
