-- 0016_quote_currency.sql: each quote has its own ISO 4217 currency.
--
-- quotes.currency is three upper-case letters. quote-processor writes it on every insert
-- (the request's `currency`, else the owner's company_settings.preferred_currency, else
-- USD) and checks it against its ISO 4217 table; the column default (USD) only serves rows
-- written by other paths. Existing quotes take their owner's preferred currency, the one
-- their documents were printed with until now. RLS is unchanged: the column belongs to
-- the row.

ALTER TABLE public.quotes
  ADD COLUMN currency text NOT NULL DEFAULT 'USD'
  CONSTRAINT quotes_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$');

UPDATE public.quotes q
   SET currency = upper(s.preferred_currency)
  FROM public.company_settings s
 WHERE s.id = q.user_id
   AND upper(s.preferred_currency) ~ '^[A-Z]{3}$'
   AND q.currency IS DISTINCT FROM upper(s.preferred_currency);

COMMENT ON COLUMN public.quotes.currency IS
  'ISO 4217 code of the quote''s amounts; defaults to the owner''s company_settings.preferred_currency.';
