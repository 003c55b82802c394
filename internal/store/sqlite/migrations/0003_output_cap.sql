-- Output cap: a job's output past the cap keeps its head and its tail; the
-- chunk output_marker (the first past the head) is rewritten to say how
-- many bytes were dropped after it. output_stored is what the table holds.
ALTER TABLE jobs ADD COLUMN output_stored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN output_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN output_marker INTEGER;
UPDATE jobs SET output_stored = output_bytes;
