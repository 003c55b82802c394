-- Jobs, their attempts, workers and output. Times are INTEGER unix
-- nanoseconds UTC; JSON columns hold the domain types as drover writes them.

CREATE TABLE jobs (
	id                  TEXT PRIMARY KEY,
	spec                TEXT NOT NULL,    -- JSON drover.JobSpec
	-- Copies of spec fields that queries filter or sort on. A spec never
	-- changes after submission, so the copies cannot drift.
	priority            INTEGER NOT NULL,
	cpu                 INTEGER NOT NULL,
	memory_mb           INTEGER NOT NULL,
	timeout_ns          INTEGER NOT NULL,
	state               TEXT NOT NULL,
	exit_code           INTEGER,
	reason              TEXT NOT NULL DEFAULT '',
	message             TEXT NOT NULL DEFAULT '',
	pending_reason      TEXT NOT NULL DEFAULT '',
	job_retries         INTEGER NOT NULL DEFAULT 0,
	fleet_retries       INTEGER NOT NULL DEFAULT 0,
	worker_id           TEXT NOT NULL DEFAULT '',
	output_bytes        INTEGER NOT NULL DEFAULT 0,
	idem_key            TEXT UNIQUE,      -- NULL when the submission gave none
	created_at          INTEGER NOT NULL,
	queued_at           INTEGER,
	assigned_at         INTEGER,
	started_at          INTEGER,
	completed_at        INTEGER,
	cancel_requested_at INTEGER,
	not_before          INTEGER
) STRICT;

-- The scheduler's queue. Partial, so it holds only the jobs waiting, however
-- many finished jobs the table keeps.
CREATE INDEX jobs_queue ON jobs (priority DESC, queued_at, id) WHERE state = 'QUEUED';

-- Listing by state, newest first (listing all states walks the primary key).
CREATE INDEX jobs_state_id ON jobs (state, id);

CREATE TABLE attempts (
	id                TEXT PRIMARY KEY,
	job_id            TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	n                 INTEGER NOT NULL,
	-- No foreign key: a deleted worker's finished attempts keep its id.
	worker_id         TEXT NOT NULL,
	state             TEXT NOT NULL,
	cpu               INTEGER NOT NULL,
	memory_mb         INTEGER NOT NULL,
	exit_code         INTEGER,
	reason            TEXT NOT NULL DEFAULT '',
	message           TEXT NOT NULL DEFAULT '',
	usage             TEXT NOT NULL DEFAULT '{}',   -- JSON drover.Usage
	phases            TEXT NOT NULL DEFAULT '{}',   -- JSON, durations in nanoseconds
	assigned_at       INTEGER NOT NULL,
	delivered_at      INTEGER,
	accepted_at       INTEGER,
	started_at        INTEGER,
	-- Set exactly when the attempt reaches a final state: "finished_at IS
	-- NULL" is what active means in every query and partial index below.
	finished_at       INTEGER,
	stop_requested    INTEGER NOT NULL DEFAULT 0,
	stop_delivered_at INTEGER,
	UNIQUE (job_id, n)
) STRICT;

-- Active attempts are few whatever the history, so these stay small.
CREATE INDEX attempts_active_by_worker ON attempts (worker_id) WHERE finished_at IS NULL;
CREATE INDEX attempts_active_by_state ON attempts (state, assigned_at) WHERE finished_at IS NULL;

CREATE TABLE workers (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL,
	labels            TEXT NOT NULL,   -- JSON object
	executors         TEXT NOT NULL,   -- JSON array
	cpu               INTEGER NOT NULL,
	memory_mb         INTEGER NOT NULL,
	slots             INTEGER NOT NULL,
	usage             TEXT NOT NULL DEFAULT '{}',   -- JSON drover.WorkerUsage
	state             TEXT NOT NULL,
	version           TEXT NOT NULL DEFAULT '',
	registered_at     INTEGER NOT NULL,
	last_heartbeat_at INTEGER NOT NULL,
	secret_hash       BLOB NOT NULL
) STRICT;

CREATE INDEX workers_name ON workers (name, id);

CREATE TABLE output (
	-- AUTOINCREMENT so an id is never reused after old output is deleted:
	-- ids are SSE event ids and followers resume after them.
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	attempt_id TEXT NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
	attempt_n  INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	stream     TEXT NOT NULL,
	data       BLOB NOT NULL,
	at         INTEGER NOT NULL,
	UNIQUE (attempt_id, seq)
) STRICT;

CREATE INDEX output_by_job ON output (job_id, id);
