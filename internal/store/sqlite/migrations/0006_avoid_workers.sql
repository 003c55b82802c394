-- Workers where an attempt could not run the job (executor_error), comma
-- separated: the scheduler places its retries elsewhere while it can.
ALTER TABLE jobs ADD COLUMN avoid_workers TEXT NOT NULL DEFAULT '';
