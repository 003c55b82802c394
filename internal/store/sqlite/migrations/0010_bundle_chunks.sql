-- A bundle's bytes are kept in chunks (bundle_chunks), so that neither
-- storing a bundle nor serving it holds it whole in memory. The chunks of
-- one upload share a blob (bundle_blobs). They are written in several
-- transactions before the bundle's row, which names its blob once every
-- chunk is in: a reader never sees part of a bundle. A blob that no bundle
-- names is an upload cut short; it is removed once old (created_at).
CREATE TABLE bundle_blobs (
    id         INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE bundle_chunks (
    blob INTEGER NOT NULL REFERENCES bundle_blobs (id) ON DELETE CASCADE,
    n    INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (blob, n)
);
ALTER TABLE bundles ADD COLUMN blob INTEGER REFERENCES bundle_blobs (id);

-- Each stored bundle becomes a blob of 256 KiB chunks (the size the store
-- writes; a reader does not depend on it).
INSERT INTO bundle_blobs (id, created_at) SELECT rowid, created_at FROM bundles;
UPDATE bundles SET blob = rowid;
WITH RECURSIVE chunk (blob, n) AS (
    SELECT rowid, 0 FROM bundles
    UNION ALL
    SELECT chunk.blob, chunk.n + 1 FROM chunk JOIN bundles ON bundles.rowid = chunk.blob
    WHERE (chunk.n + 1) * 262144 < length(bundles.data)
)
INSERT INTO bundle_chunks (blob, n, data)
SELECT chunk.blob, chunk.n, coalesce(substr(bundles.data, chunk.n * 262144 + 1, 262144), x'')
FROM chunk JOIN bundles ON bundles.rowid = chunk.blob;
ALTER TABLE bundles DROP COLUMN data;

CREATE INDEX bundles_blob ON bundles (blob);

-- A bundle removed takes its blob, and so its chunks, with it.
CREATE TRIGGER bundles_delete_blob AFTER DELETE ON bundles BEGIN
    DELETE FROM bundle_blobs WHERE id = OLD.blob;
END;
