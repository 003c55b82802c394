-- Bundles: uploaded ZIPs, content-addressed by the SHA-256 of their bytes.
-- The bytes live in the store so that they outlive any one coordinator
-- machine and every coordinator sharing the store can serve them.
CREATE TABLE bundles (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    files      INTEGER NOT NULL,
    unpacked   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL
);
