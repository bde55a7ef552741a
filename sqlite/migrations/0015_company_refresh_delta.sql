-- Company user counts are kept by difference, no longer recounted
-- (internal/sqlstore/refresh.go): a company_refresh row holds by how much
-- its company's count changes at the job's refresh, which recounting a
-- company of 40,000 users read every one of them to learn (issue 14). The
-- companies listed before this migration were to be recounted: they are,
-- here, once, so that their counts are exact and nothing is pending.
ALTER TABLE company_refresh ADD COLUMN delta INTEGER NOT NULL DEFAULT 0;
UPDATE companies SET
	user_count = (SELECT count(*) FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
	visible = EXISTS (SELECT 1 FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id)
WHERE (app_id, company_id) IN (SELECT app_id, company_id FROM company_refresh);
DELETE FROM company_refresh;
