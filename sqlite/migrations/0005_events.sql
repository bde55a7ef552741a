-- Events of the track endpoint (POST /v1/track), kept per app.
-- seq orders an app's events (newest first is seq descending) and is the
-- listing cursor. user_id is NULL for an event sent without a user_id.
-- Times are Unix milliseconds, as elsewhere; sent_at is the client's
-- timestamp when it sent one.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY,
	app_id      INTEGER NOT NULL REFERENCES apps (id),
	user_id     TEXT,
	name        TEXT    NOT NULL,
	metadata    TEXT    NOT NULL DEFAULT '{}',
	received_at INTEGER NOT NULL,
	sent_at     INTEGER
);
CREATE INDEX events_by_user ON events (app_id, user_id, seq);
CREATE INDEX events_by_user_name ON events (app_id, user_id, name, seq);

-- Each app's event count by name, kept with every insert and delete, so
-- that totals cost one row a name, not a scan of every event.
CREATE TABLE event_totals (
	app_id  INTEGER NOT NULL REFERENCES apps (id),
	name    TEXT    NOT NULL,
	count   INTEGER NOT NULL,
	last_at INTEGER NOT NULL, -- received_at of the newest event of the name
	PRIMARY KEY (app_id, name)
);
