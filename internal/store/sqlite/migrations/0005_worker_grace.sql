-- The wait between SIGTERM and SIGKILL a worker gives (0: not said), for
-- the coordinator's timeout backstop.
ALTER TABLE workers ADD COLUMN grace_ns INTEGER NOT NULL DEFAULT 0;
