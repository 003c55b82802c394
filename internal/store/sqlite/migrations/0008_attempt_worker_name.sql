-- The name of the worker an attempt ran on, kept with the attempt: a worker
-- that leaves (drained, or DOWN past --down-retention) is deleted, and its
-- id alone tells nobody which machine ran last week's job.
ALTER TABLE attempts ADD COLUMN worker_name TEXT NOT NULL DEFAULT '';
UPDATE attempts SET worker_name = coalesce((SELECT name FROM workers WHERE workers.id = attempts.worker_id), '');

-- And the job's, for the worker of its current or last attempt.
ALTER TABLE jobs ADD COLUMN worker_name TEXT NOT NULL DEFAULT '';
UPDATE jobs SET worker_name = coalesce((SELECT name FROM workers WHERE workers.id = jobs.worker_id), '') WHERE worker_id != '';
