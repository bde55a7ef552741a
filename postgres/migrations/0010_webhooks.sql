-- Webhooks (issue 15): endpoints an app registers, sent a POST when one of
-- its jobs ends, and each delivery with its outcome. Deliveries are
-- inserted by FinishJob in the transaction that ends the job.
CREATE TABLE webhooks (
	seq        bigserial   PRIMARY KEY,
	id         text        NOT NULL UNIQUE,  -- public id, wh_…
	app_id     bigint      NOT NULL REFERENCES apps (id),
	url        text        NOT NULL,
	events     text        NOT NULL,         -- comma-separated event names
	secret     text        NOT NULL,         -- HMAC key of the signatures
	created_at timestamptz NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks (app_id, seq);

CREATE TABLE webhook_deliveries (
	seq              bigserial   PRIMARY KEY, -- orders listings
	id               text        NOT NULL UNIQUE, -- public id, dlv_…
	webhook_seq      bigint      NOT NULL REFERENCES webhooks (seq) ON DELETE CASCADE,
	job_id           text        NOT NULL,
	event            text        NOT NULL,
	status           text        NOT NULL,    -- pending, delivered, failed
	attempts         integer     NOT NULL DEFAULT 0,
	last_status_code integer,
	last_error       text,
	next_attempt_at  timestamptz,             -- while pending
	delivered_at     timestamptz,
	created_at       timestamptz NOT NULL,
	lease_owner      text,
	lease_until      timestamptz
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_seq, seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
