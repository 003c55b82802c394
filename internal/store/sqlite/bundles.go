package sqlite

import (
	"context"

	"github.com/drover-dev/drover"
)

var (
	qInsertBundle = writeQuery(`INSERT INTO bundles (sha256, size, files, unpacked, created_at, data)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`)
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
		created = n == 1
		return err
	})
	return created, err
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
