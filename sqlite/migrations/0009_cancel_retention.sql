-- Cancel (POST /v1/background_jobs/{job_id}/cancel): set when a client asks
-- to cancel an unfinished job; its worker stops it at the next batch
-- boundary and finishes it canceled.
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- Retention: the pruner finds finished jobs by end time, and events by the
-- time they were received, oldest first, without a scan.
CREATE INDEX jobs_finished ON jobs (end_time) WHERE active = 0;
CREATE INDEX events_received ON events (received_at);
