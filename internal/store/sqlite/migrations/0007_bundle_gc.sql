-- Each job's bundle (a copy of spec.bundle, '' for none), so that the
-- bundles no job uses any more can be found and removed.
ALTER TABLE jobs ADD COLUMN bundle TEXT NOT NULL DEFAULT '';
UPDATE jobs SET bundle = json_extract(spec, '$.bundle') WHERE json_extract(spec, '$.bundle') IS NOT NULL;
CREATE INDEX jobs_bundle ON jobs (bundle) WHERE bundle != '';

-- When a bundle was last uploaded: one that no job uses is kept for a while
-- after it, for the submission that follows its upload.
ALTER TABLE bundles ADD COLUMN uploaded_at INTEGER NOT NULL DEFAULT 0;
UPDATE bundles SET uploaded_at = created_at;
