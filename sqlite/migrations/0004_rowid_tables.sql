-- companies, users, job_input and job_errors become rowid tables, their
-- primary keys unique indexes. A WITHOUT ROWID table keeps each row in its
-- key's B-tree, and SQLite compares a search key with a cell by reading the
-- cell's whole payload when it overflows its page: every lookup near a
-- profile of 1 MiB, a chunk of job input or a large record error read the
-- whole of it, at each step of the search. In a rowid table the search
-- walks an index of small keys and reads the row once. (SQLite's docs
-- advise WITHOUT ROWID only for rows under about a twentieth of a page.)

CREATE TABLE companies_new (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	company_id TEXT    NOT NULL,
	metadata   TEXT    NOT NULL DEFAULT '{}',
	user_count INTEGER NOT NULL DEFAULT 0,
	visible    INTEGER NOT NULL DEFAULT 0,
	dirty      INTEGER NOT NULL DEFAULT 0, -- associations changed since the last refresh
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, company_id)
);
INSERT INTO companies_new (app_id, company_id, metadata, user_count, visible, dirty, created_at, updated_at)
	SELECT app_id, company_id, metadata, user_count, visible, dirty, created_at, updated_at FROM companies;
DROP TABLE companies;
ALTER TABLE companies_new RENAME TO companies;
CREATE INDEX companies_visible ON companies (app_id, visible, company_id);
CREATE INDEX companies_dirty ON companies (app_id) WHERE dirty = 1;

CREATE TABLE users_new (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	user_id    TEXT    NOT NULL,
	company_id TEXT,
	metadata   TEXT    NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id)
);
INSERT INTO users_new (app_id, user_id, company_id, metadata, created_at, updated_at)
	SELECT app_id, user_id, company_id, metadata, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_by_company ON users (app_id, company_id);

CREATE TABLE job_input_new (
	job_seq INTEGER NOT NULL REFERENCES jobs (seq),
	first   INTEGER NOT NULL, -- Seq of the chunk's first record
	count   INTEGER NOT NULL,
	data    BLOB    NOT NULL,
	PRIMARY KEY (job_seq, first)
);
INSERT INTO job_input_new (job_seq, first, count, data)
	SELECT job_seq, first, count, data FROM job_input;
DROP TABLE job_input;
ALTER TABLE job_input_new RENAME TO job_input;

CREATE TABLE job_errors_new (
	job_seq INTEGER NOT NULL REFERENCES jobs (seq),
	n       INTEGER NOT NULL,
	pos     INTEGER NOT NULL,
	rec_id  TEXT    NOT NULL,
	code    TEXT    NOT NULL,
	message TEXT    NOT NULL,
	raw     BLOB    NOT NULL,
	PRIMARY KEY (job_seq, n)
);
INSERT INTO job_errors_new (job_seq, n, pos, rec_id, code, message, raw)
	SELECT job_seq, n, pos, rec_id, code, message, raw FROM job_errors;
DROP TABLE job_errors;
ALTER TABLE job_errors_new RENAME TO job_errors;
