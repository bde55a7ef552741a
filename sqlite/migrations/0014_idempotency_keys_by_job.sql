-- Pruning keeps a finished job while a live Idempotency-Key names it
-- (sqlite/retention.go): the keys of a job, found by this index.
CREATE INDEX idempotency_keys_by_job ON idempotency_keys (app_id, job_id);
