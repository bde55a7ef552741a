-- The companies whose users changed since their counts were taken, kept
-- until the job's refresh recounts them: a small row each, where a flag
-- on the company wrote a new version of the company row and of its index
-- entries (dirty is in companies_dirty's predicate, so the update is never
-- HOT), just before the refresh wrote another (issue 14).
CREATE TABLE company_refresh (
	app_id     bigint             NOT NULL REFERENCES apps (id),
	company_id text COLLATE "C"   NOT NULL,
	PRIMARY KEY (app_id, company_id)
);
INSERT INTO company_refresh (app_id, company_id) SELECT app_id, company_id FROM companies WHERE dirty;
DROP INDEX companies_dirty;
ALTER TABLE companies DROP COLUMN dirty;
