-- Events of the track endpoint (POST /v1/track), kept per app; the same
-- model as the SQLite store. seq orders an app's events (newest first is
-- seq descending) and is the listing cursor. user_id is NULL for an event
-- sent without a user_id; sent_at is the client's timestamp when it sent one.
CREATE TABLE events (
	seq         bigserial        PRIMARY KEY,
	app_id      bigint           NOT NULL REFERENCES apps (id),
	user_id     text COLLATE "C",
	name        text COLLATE "C" NOT NULL,
	metadata    jsonb            NOT NULL DEFAULT '{}',
	received_at timestamptz      NOT NULL,
	sent_at     timestamptz
);
CREATE INDEX events_by_user ON events (app_id, user_id, seq);
CREATE INDEX events_by_user_name ON events (app_id, user_id, name, seq);

-- Each app's event count by name, kept with every insert and delete, so
-- that totals cost one row a name, not a scan of every event.
CREATE TABLE event_totals (
	app_id  bigint           NOT NULL REFERENCES apps (id),
	name    text COLLATE "C" NOT NULL,
	count   bigint           NOT NULL,
	last_at timestamptz      NOT NULL, -- received_at of the newest event of the name
	PRIMARY KEY (app_id, name)
);
