package sqlite

import (
	"context"
	"time"

	"github.com/drover-dev/drover"
)

var (
	qInsertBundle = writeQuery(`INSERT INTO bundles (sha256, size, files, unpacked, created_at, uploaded_at, data)
		VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT (sha256) DO NOTHING`)
	qBundleUploaded = writeQuery(`UPDATE bundles SET uploaded_at = max(uploaded_at, ?) WHERE sha256 = ?`)
	// A batch of the bundles no job names, last uploaded before ?1.
	qDeleteUnusedBundles = writeQuery(`DELETE FROM bundles WHERE sha256 IN (
		SELECT sha256 FROM bundles b WHERE uploaded_at < ?1
		AND NOT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_bundle WHERE bundle = b.sha256 AND bundle != '')
		LIMIT ?2)`)
	qGetBundle  = readQuery(`SELECT size, files, unpacked, created_at FROM bundles WHERE sha256 = ?`)
	qBundleData = readQuery(`SELECT data FROM bundles WHERE sha256 = ?`)
)

// PutBundle implements store.Store.
func (s *Store) PutBundle(ctx context.Context, b *drover.Bundle, data []byte) (bool, error) {
	var created bool
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qInsertBundle, b.SHA256, b.Size, b.Files, b.Unpacked, unixNano(b.CreatedAt), data)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if created = n == 1; !created {
			_, err = x.exec(qBundleUploaded, unixNano(b.CreatedAt), b.SHA256)
		}
		return err
	})
	return created, err
}

// DeleteUnusedBundles implements store.Store.
func (s *Store) DeleteUnusedBundles(ctx context.Context, uploadedBefore time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qDeleteUnusedBundles, unixNano(uploadedBefore), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// GetBundle implements store.Store.
func (s *Store) GetBundle(ctx context.Context, sha string) (*drover.Bundle, error) {
	b := &drover.Bundle{SHA256: sha}
	err := s.read(ctx, func(x *session) error {
		var created int64
		err := x.queryRow(qGetBundle, sha).Scan(&b.Size, &b.Files, &b.Unpacked, &created)
		b.CreatedAt = fromUnixNano(created)
		return notFoundIfNoRows(err, "bundle", sha)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// BundleData implements store.Store.
func (s *Store) BundleData(ctx context.Context, sha string) ([]byte, error) {
	var data []byte
	err := s.read(ctx, func(x *session) error {
		return notFoundIfNoRows(x.queryRow(qBundleData, sha).Scan(&data), "bundle", sha)
	})
	return data, err
}
