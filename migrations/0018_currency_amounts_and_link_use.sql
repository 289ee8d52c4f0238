-- 0018_currency_amounts_and_link_use.sql: three-decimal amounts, the owner's currency on
-- every insert path, and when a share link was last used.
--
--   1. A quote's amounts keep a third decimal: seven currencies (BHD, IQD, JOD, KWD, LYD,
--      OMR, TND) have three minor units, which numeric(12,2) rounded away. numeric(13,3)
--      holds every amount numeric(12,2) did (up to 9999999999.99, the API's limit) and the
--      third decimal; existing values are kept as they are. quote-processor rounds each
--      amount to the quote's currency (shared/src/money.rs), so a USD amount still has two
--      decimals and a JPY amount none.
--   2. A quote inserted without a currency takes its owner's company_settings
--      .preferred_currency (upper case, when it is three letters), else USD. quote-processor
--      names the currency on every insert; other paths did not and got the column default USD
--      whatever the owner's setting: the original app inserting through the Data API, seeds
--      and SQL run by hand. A trigger is the one place every path goes through; the column
--      default is dropped so that "absent" can be told from an explicit 'USD'. It runs as the
--      inserting role, so RLS shows it the owner's settings only when that role may read
--      them anyway. (Adopted databases get theirs from 0016's backfill.)
--   3. quote_share_links.last_used_at: when the link was last opened or acted on while it
--      worked, for the owner's list of the quote's links (GET /{id}/share).

-- ---------------------------------------------------------------------------------------------
-- 1. Amounts with three decimals
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.quotes
  ALTER COLUMN subtotal      TYPE numeric(13,3),
  ALTER COLUMN markup_amount TYPE numeric(13,3),
  ALTER COLUMN tax_amount    TYPE numeric(13,3),
  ALTER COLUMN total         TYPE numeric(13,3);

-- ---------------------------------------------------------------------------------------------
-- 2. The owner's currency by default
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION public.quotes_default_currency() RETURNS trigger
  LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
  IF NEW.currency IS NULL THEN
    SELECT upper(btrim(s.preferred_currency)) INTO NEW.currency
      FROM public.company_settings s WHERE s.id = NEW.user_id;
    IF NEW.currency IS NULL OR NEW.currency !~ '^[A-Z]{3}$' THEN
      NEW.currency := 'USD';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.quotes_default_currency() FROM PUBLIC, anon, authenticated;

ALTER TABLE public.quotes ALTER COLUMN currency DROP DEFAULT;

CREATE TRIGGER quotes_default_currency
  BEFORE INSERT ON public.quotes
  FOR EACH ROW EXECUTE FUNCTION public.quotes_default_currency();
-- It stands in for a column default, so it also fires where ordinary triggers do not
-- (session_replication_role = replica: data loads that skip the quota and the history). Rows
-- that carry their currency, as dumps and replication do, pass through unchanged.
ALTER TABLE public.quotes ENABLE ALWAYS TRIGGER quotes_default_currency;

COMMENT ON COLUMN public.quotes.currency IS
  'ISO 4217 code of the quote''s amounts; when an insert names none, the owner''s company_settings.preferred_currency (else USD).';

-- ---------------------------------------------------------------------------------------------
-- 3. Last use of a share link
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.quote_share_links ADD COLUMN last_used_at timestamptz;

COMMENT ON COLUMN public.quote_share_links.last_used_at IS
  'When the link last served its page or PDF, or took a decision; NULL if never used.';
