-- The schema of the PostgreSQL store; the same model as the SQLite store.
-- Ids are COLLATE "C" so that listings and cursors order by bytes, as in SQLite.
CREATE TABLE apps (
	id           bigserial   PRIMARY KEY,
	name         text        NOT NULL,
	key_hash     bytea       NOT NULL UNIQUE, -- SHA-256 of the API key; the key is never stored
	created_at   timestamptz NOT NULL
);

CREATE TABLE jobs (
	seq            bigserial   PRIMARY KEY, -- orders listings and keys child rows
	id             text        NOT NULL UNIQUE,
	app_id         bigint      NOT NULL REFERENCES apps (id),
	type           text        NOT NULL,
	status         text        NOT NULL,
	active         boolean     NOT NULL DEFAULT true, -- true until the status is final
	source         text        NOT NULL,
	filename       text        NOT NULL DEFAULT '',
	file_size      bigint      NOT NULL DEFAULT 0,
	submitted_at   timestamptz NOT NULL,
	start_time     timestamptz,
	end_time       timestamptz,
	total_rows     integer     NOT NULL,
	completed_rows integer     NOT NULL DEFAULT 0,
	failed_rows    integer     NOT NULL DEFAULT 0,
	cursor         integer     NOT NULL DEFAULT 0,
	error          text        NOT NULL DEFAULT '',
	lease_owner    text,
	lease_until    timestamptz
);
-- One unfinished job per app, users and companies together, across every process.
CREATE UNIQUE INDEX jobs_one_active_per_app ON jobs (app_id) WHERE active;
CREATE INDEX jobs_by_app ON jobs (app_id, seq);
CREATE INDEX jobs_claimable ON jobs (seq) WHERE active;

-- A job's input as sent, until the job is final, in chunks of consecutive
-- records (internal/recordpack): a few rows a job instead of one a record.
CREATE TABLE job_input (
	job_seq bigint  NOT NULL REFERENCES jobs (seq),
	first   integer NOT NULL, -- Seq of the chunk's first record
	count   integer NOT NULL,
	data    bytea   NOT NULL, -- records as sent, which need not be valid UTF-8
	PRIMARY KEY (job_seq, first)
);
-- Kept out of line but not compressed: the input lives for one job, and
-- compressing a megabyte chunk costs more than writing it.
ALTER TABLE job_input ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE job_errors (
	job_seq bigint  NOT NULL REFERENCES jobs (seq),
	n       integer NOT NULL,
	pos     integer NOT NULL,
	rec_id  text    NOT NULL,
	code    text    NOT NULL,
	message text    NOT NULL,
	raw     bytea   NOT NULL,
	PRIMARY KEY (job_seq, n)
);

CREATE TABLE companies (
	app_id     bigint             NOT NULL REFERENCES apps (id),
	company_id text COLLATE "C"   NOT NULL,
	metadata   jsonb              NOT NULL DEFAULT '{}',
	user_count integer            NOT NULL DEFAULT 0,
	visible    boolean            NOT NULL DEFAULT false,
	dirty      boolean            NOT NULL DEFAULT false, -- associations changed since the last refresh
	created_at timestamptz        NOT NULL,
	updated_at timestamptz        NOT NULL,
	PRIMARY KEY (app_id, company_id)
);
CREATE INDEX companies_visible ON companies (app_id, visible, company_id);
CREATE INDEX companies_dirty ON companies (app_id) WHERE dirty;

CREATE TABLE users (
	app_id     bigint           NOT NULL REFERENCES apps (id),
	user_id    text COLLATE "C" NOT NULL,
	company_id text COLLATE "C",
	metadata   jsonb            NOT NULL DEFAULT '{}',
	created_at timestamptz      NOT NULL,
	updated_at timestamptz      NOT NULL,
	PRIMARY KEY (app_id, user_id)
);
CREATE INDEX users_by_company ON users (app_id, company_id);
