-- 0017_company_logo.sql: the company logo, stored in the database.
--
-- quote-processor's `PUT /company/logo` checks the image (shared/src/image.rs: PNG or JPEG,
-- at most 512 KiB, each side 16 to 4096 px, only what the PDF writer embeds as it is) and
-- writes these four columns together; `DELETE /company/logo` clears them together. The
-- quote PDF and the share page draw the logo. The columns belong to the owner's row, so
-- company_settings' RLS (own row only, service role all) covers them unchanged. The older
-- `logo_url` column stays as it was (never fetched by the functions).

ALTER TABLE public.company_settings
  ADD COLUMN logo        bytea,
  ADD COLUMN logo_type   text,
  ADD COLUMN logo_width  int,
  ADD COLUMN logo_height int,
  ADD CONSTRAINT company_settings_logo_complete CHECK (
    (logo IS NULL AND logo_type IS NULL AND logo_width IS NULL AND logo_height IS NULL)
    OR (logo IS NOT NULL AND logo_type IN ('image/png', 'image/jpeg')
        AND octet_length(logo) <= 524288
        AND logo_width BETWEEN 16 AND 4096 AND logo_height BETWEEN 16 AND 4096));

COMMENT ON COLUMN public.company_settings.logo IS
  'The company logo (PNG or JPEG, at most 512 KiB), checked by quote-processor before it is written.';
COMMENT ON COLUMN public.company_settings.logo_type IS 'image/png or image/jpeg; NULL without a logo.';
