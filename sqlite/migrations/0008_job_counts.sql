-- What a job's applied records did (bulkid.RowCounts): completed_rows is
-- their sum. Counted in the transaction that applies each batch.
ALTER TABLE jobs ADD COLUMN created_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN updated_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN unchanged_rows INTEGER NOT NULL DEFAULT 0;
