-- What a job's applied records did (bulkid.RowCounts): completed_rows is
-- their sum. Counted in the transaction that applies each batch.
ALTER TABLE jobs ADD COLUMN created_rows integer NOT NULL DEFAULT 0,
	ADD COLUMN updated_rows integer NOT NULL DEFAULT 0,
	ADD COLUMN unchanged_rows integer NOT NULL DEFAULT 0;
