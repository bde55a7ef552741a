-- The companies whose users changed since their counts were taken, kept
-- until the job's refresh recounts them: a small row each, where a flag
-- on the company rewrote the whole company row to mark it, just before
-- the refresh wrote it again (issue 14). companies.dirty is no longer
-- used: SQLite drops a column only by rewriting the table.
CREATE TABLE company_refresh (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	company_id TEXT    NOT NULL,
	PRIMARY KEY (app_id, company_id)
);
INSERT INTO company_refresh (app_id, company_id) SELECT app_id, company_id FROM companies WHERE dirty = 1;
UPDATE companies SET dirty = 0 WHERE dirty = 1;
DROP INDEX companies_dirty;
