-- A job's place in the queue, apart from queued_at (which dates its current
-- wait): its submission, kept when the fleet requeues it (its worker was
-- lost, an assignment went unacknowledged or was handed back), moved to the
-- requeue only when the job failed on its own and is retried. Queued jobs
-- are taken by (priority desc, queue_rank, id).
ALTER TABLE jobs ADD COLUMN queue_rank INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET queue_rank = coalesce(queued_at, created_at);
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (priority DESC, queue_rank, id) WHERE state = 'QUEUED';
