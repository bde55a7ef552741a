-- Times are Unix milliseconds (UTC). Booleans are 0/1.
CREATE TABLE apps (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	key_hash   BLOB    NOT NULL UNIQUE, -- SHA-256 of the API key; the key is never stored
	created_at INTEGER NOT NULL
);

CREATE TABLE jobs (
	seq            INTEGER PRIMARY KEY AUTOINCREMENT, -- orders listings and keys child rows
	id             TEXT    NOT NULL UNIQUE,           -- public job_id (UUID)
	app_id         INTEGER NOT NULL REFERENCES apps (id),
	type           TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	active         INTEGER NOT NULL DEFAULT 1,        -- 1 until the status is final
	source         TEXT    NOT NULL,
	filename       TEXT    NOT NULL DEFAULT '',
	file_size      INTEGER NOT NULL DEFAULT 0,
	submitted_at   INTEGER NOT NULL,
	start_time     INTEGER,
	end_time       INTEGER,
	total_rows     INTEGER NOT NULL,
	completed_rows INTEGER NOT NULL DEFAULT 0,
	failed_rows    INTEGER NOT NULL DEFAULT 0,
	cursor         INTEGER NOT NULL DEFAULT 0,
	error          TEXT    NOT NULL DEFAULT '',
	lease_owner    TEXT,
	lease_until    INTEGER
);
-- One unfinished job per app, users and companies together.
CREATE UNIQUE INDEX jobs_one_active_per_app ON jobs (app_id) WHERE active = 1;
CREATE INDEX jobs_by_app ON jobs (app_id, seq);
CREATE INDEX jobs_claimable ON jobs (seq) WHERE active = 1;

-- A job's input as sent, until the job is final, in chunks of consecutive
-- records (internal/recordpack): a few rows a job instead of one a record.
CREATE TABLE job_input (
	job_seq INTEGER NOT NULL REFERENCES jobs (seq),
	first   INTEGER NOT NULL, -- Seq of the chunk's first record
	count   INTEGER NOT NULL,
	data    BLOB    NOT NULL,
	PRIMARY KEY (job_seq, first)
) WITHOUT ROWID;

CREATE TABLE job_errors (
	job_seq INTEGER NOT NULL REFERENCES jobs (seq),
	n       INTEGER NOT NULL,
	pos     INTEGER NOT NULL,
	rec_id  TEXT    NOT NULL,
	code    TEXT    NOT NULL,
	message TEXT    NOT NULL,
	raw     BLOB    NOT NULL,
	PRIMARY KEY (job_seq, n)
) WITHOUT ROWID;

CREATE TABLE companies (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	company_id TEXT    NOT NULL,
	metadata   TEXT    NOT NULL DEFAULT '{}',
	user_count INTEGER NOT NULL DEFAULT 0,
	visible    INTEGER NOT NULL DEFAULT 0,
	dirty      INTEGER NOT NULL DEFAULT 0, -- associations changed since the last refresh
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, company_id)
) WITHOUT ROWID;
CREATE INDEX companies_visible ON companies (app_id, visible, company_id);
CREATE INDEX companies_dirty ON companies (app_id) WHERE dirty = 1;

CREATE TABLE users (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	user_id    TEXT    NOT NULL,
	company_id TEXT,
	metadata   TEXT    NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id)
) WITHOUT ROWID;
CREATE INDEX users_by_company ON users (app_id, company_id);
