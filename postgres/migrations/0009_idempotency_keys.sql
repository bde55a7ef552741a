-- The Idempotency-Key of each job accepted with one (bulkid.IdempotencyStore),
-- per app, recorded in the transaction that creates the job; the primary
-- key makes concurrent requests with one key, in any process, create one
-- job. Expired keys (older than bulkid.IdempotencyKeyTTL) are deleted in
-- bounded batches as new ones are recorded.
CREATE TABLE idempotency_keys (
	app_id      bigint      NOT NULL REFERENCES apps (id),
	key         text        COLLATE "C" NOT NULL,
	fingerprint bytea       NOT NULL,
	job_id      text        NOT NULL,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
