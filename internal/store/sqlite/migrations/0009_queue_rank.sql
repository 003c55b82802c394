-- A job's place in the queue, apart from queued_at (which dates its current
-- wait): its submission, kept when the fleet requeues it (its worker was
-- lost, an assignment went unacknowledged or was handed back), moved to the
-- requeue only when the job failed on its own and is retried. Queued jobs
-- are taken by (priority desc, queue_rank, id).
-- Existing jobs that never had a job retry take their submission (a fleet
-- requeue before the upgrade moved queued_at); the others their queued_at.
-- Finished jobs are never queued again and keep 0.
ALTER TABLE jobs ADD COLUMN queue_rank INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET queue_rank = CASE WHEN job_retries = 0 THEN created_at ELSE coalesce(queued_at, created_at) END
	WHERE state IN ('QUEUED', 'ASSIGNED', 'RUNNING');
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (priority DESC, queue_rank, id) WHERE state = 'QUEUED';
