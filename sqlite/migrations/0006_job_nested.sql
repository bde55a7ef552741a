-- What a job does with metadata values that are objects or arrays
-- (bulkid.NestedRule): 'refuse' (the default, as before) or 'flatten', the
-- ?nested= of its bulk request. The worker validates the job's records
-- with it, also after a restart.
ALTER TABLE jobs ADD COLUMN nested_metadata TEXT NOT NULL DEFAULT 'refuse'
	CHECK (nested_metadata IN ('refuse', 'flatten'));
