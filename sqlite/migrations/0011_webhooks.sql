-- Webhooks (issue 15): endpoints an app registers, sent a POST when one of
-- its jobs ends, and each delivery with its outcome. Deliveries are
-- inserted by FinishJob in the transaction that ends the job.
CREATE TABLE webhooks (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,            -- public id, wh_…
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	url        TEXT    NOT NULL,
	events     TEXT    NOT NULL,                   -- comma-separated event names
	secret     TEXT    NOT NULL,                   -- HMAC key of the signatures
	created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks (app_id, seq);

CREATE TABLE webhook_deliveries (
	seq              INTEGER PRIMARY KEY AUTOINCREMENT, -- orders listings
	id               TEXT    NOT NULL UNIQUE,           -- public id, dlv_…
	webhook_seq      INTEGER NOT NULL REFERENCES webhooks (seq) ON DELETE CASCADE,
	job_id           TEXT    NOT NULL,
	event            TEXT    NOT NULL,
	status           TEXT    NOT NULL,                  -- pending, delivered, failed
	attempts         INTEGER NOT NULL DEFAULT 0,
	last_status_code INTEGER,
	last_error       TEXT,
	next_attempt_at  INTEGER,                           -- while pending
	delivered_at     INTEGER,
	created_at       INTEGER NOT NULL,
	lease_owner      TEXT,
	lease_until      INTEGER
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_seq, seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
