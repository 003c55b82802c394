-- Retention: finished jobs by completion time, for deleting old ones.
CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
