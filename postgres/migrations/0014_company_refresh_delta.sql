-- Company user counts are kept by difference, no longer recounted
-- (internal/sqlstore/refresh.go): a company_refresh row holds by how much
-- its company's count changes at the job's refresh, which recounting a
-- company of 40,000 users read every one of them to learn (issue 14;
-- without a visibility map, every one of their heap rows). The companies
-- listed before this migration were to be recounted: they are, here,
-- once, so that their counts are exact and nothing is pending.
ALTER TABLE company_refresh ADD COLUMN delta integer NOT NULL DEFAULT 0;
UPDATE companies c SET
	user_count = (SELECT count(*) FROM users u WHERE u.app_id = c.app_id AND u.company_id = c.company_id),
	visible = EXISTS (SELECT 1 FROM users u WHERE u.app_id = c.app_id AND u.company_id = c.company_id)
FROM company_refresh r WHERE c.app_id = r.app_id AND c.company_id = r.company_id;
DELETE FROM company_refresh;
