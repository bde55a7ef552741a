-- Companies and users no longer reference apps by a foreign key (issue
-- 14). Its check ran once for every new company and user, a query of
-- apps from a trigger per row, about 4 µs of PostgreSQL's CPU a row: a
-- third of what a new company costs, twice a new user's. Every writer of
-- profiles checks once a transaction instead, as it takes the app's lock
-- (postgres/work.go: lockApp reads the app's row, ApplyBatch the job's,
-- which references the app), and apps are never deleted. Dropped by
-- what they reference, whatever their names.
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT conname, conrelid::regclass AS tbl FROM pg_constraint
		WHERE contype = 'f' AND confrelid = 'apps'::regclass AND conrelid IN ('companies'::regclass, 'users'::regclass)
	LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
	END LOOP;
END
$$;
