-- The Idempotency-Key of each job accepted with one (bulkid.IdempotencyStore),
-- per app, recorded in the transaction that creates the job. Expired keys
-- (older than bulkid.IdempotencyKeyTTL) are deleted in bounded batches as
-- new ones are recorded; created_at is Unix milliseconds.
CREATE TABLE idempotency_keys (
	app_id      INTEGER NOT NULL REFERENCES apps (id),
	key         TEXT    NOT NULL,
	fingerprint BLOB    NOT NULL,
	job_id      TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
