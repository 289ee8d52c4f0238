-- 0008_abuse_limits.sql: closing ways to get more than was paid for or to use the platform
-- against others.
--
--   1. The quote quota counts every row that becomes a quote, on INSERT and on UPDATE (a
--      template turned into a quote counted nothing before).
--
-- 0001-0007 are applied on existing deployments and are never edited: what changes here is
-- replaced here (CREATE OR REPLACE, or DROP and CREATE where a signature changes).

-- ---------------------------------------------------------------------------------------------
-- 1. The quote quota on every row that becomes a quote
-- ---------------------------------------------------------------------------------------------
-- A row becomes a quote when a non-template is inserted, or when a template is updated to
-- is_template = false (PATCH {"is_template": false}). Both count in this month's usage under
-- the usage row's lock and fail with QK402 (402 quota_exceeded) over the plan's max_quotes;
-- the refused statement rolls back its count and leaves the row as it was.

CREATE OR REPLACE FUNCTION public.enforce_quote_quota()
RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  v_limit integer;
  v_month text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM');
  v_count integer;
BEGIN
  IF NEW.is_template THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND NOT OLD.is_template THEN
    RETURN NEW;  -- it was a quote already, and was counted when it became one
  END IF;
  SELECT e.max_quotes INTO v_limit FROM public.entitlements_of(NEW.user_id) e;
  INSERT INTO public.user_usage AS u (user_id, month_year, quotes_count)
  VALUES (NEW.user_id, v_month, 1)
  ON CONFLICT (user_id, month_year) DO UPDATE SET quotes_count = u.quotes_count + 1, updated_at = now()
  RETURNING u.quotes_count INTO v_count;
  IF v_limit IS NOT NULL AND v_limit <> -1 AND v_count > v_limit THEN
    RAISE EXCEPTION 'quote limit reached: % of % this month', v_count - 1, v_limit
      USING ERRCODE = 'QK402', DETAIL = format('limit=%s used=%s', v_limit, v_count - 1);
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.enforce_quote_quota() FROM PUBLIC, anon, authenticated;

DROP TRIGGER quotes_enforce_quota ON public.quotes;
CREATE TRIGGER quotes_enforce_quota
  BEFORE INSERT OR UPDATE OF is_template ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.enforce_quote_quota();
