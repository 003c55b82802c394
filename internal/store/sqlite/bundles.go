package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/drover-dev/drover"
)

// chunkSize is how many bytes of a bundle one row of bundle_chunks holds.
// Storing a bundle holds one chunk in memory at a time, and so does reading
// one. Migration 0010 split the bundles stored before it at the same size,
// but nothing depends on it: a reader takes the chunks in order.
const chunkSize = 256 << 10

var (
	qInsertBundle = writeQuery(`INSERT INTO bundles (sha256, size, files, unpacked, created_at, uploaded_at, blob)
		VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT (sha256) DO NOTHING`)
	qBundleUploaded = writeQuery(`UPDATE bundles SET uploaded_at = max(uploaded_at, ?) WHERE sha256 = ?`)
	qNewBlob        = writeQuery(`INSERT INTO bundle_blobs (created_at) VALUES (?) RETURNING id`)
	qPutChunk       = writeQuery(`INSERT INTO bundle_chunks (blob, n, data) VALUES (?, ?, ?)`)
	qDeleteBlob     = writeQuery(`DELETE FROM bundle_blobs WHERE id = ?`)
	// A batch of the bundles no job names, last uploaded before ?1. The
	// trigger bundles_delete_blob removes their blobs with them.
	qDeleteUnusedBundles = writeQuery(`DELETE FROM bundles WHERE sha256 IN (
		SELECT sha256 FROM bundles b WHERE uploaded_at < ?1
		AND NOT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_bundle WHERE bundle = b.sha256 AND bundle != '')
		LIMIT ?2)`)
	// A batch of the blobs of uploads cut short: begun before ?1 and named
	// by no bundle.
	qDeleteOrphanBlobs = writeQuery(`DELETE FROM bundle_blobs WHERE id IN (
		SELECT id FROM bundle_blobs o WHERE created_at < ?1
		AND NOT EXISTS (SELECT 1 FROM bundles INDEXED BY bundles_blob WHERE blob = o.id)
		LIMIT ?2)`)
	qGetBundle   = readQuery(`SELECT size, files, unpacked, created_at FROM bundles WHERE sha256 = ?`)
	qBundleBlob  = readQuery(`SELECT blob, (SELECT count(*) FROM bundle_chunks c WHERE c.blob = b.blob) FROM bundles b WHERE sha256 = ?`)
	qBundleChunk = readQuery(`SELECT data FROM bundle_chunks WHERE blob = ? AND n = ?`)
)

// PutBundle implements store.Store. The chunks are written in transactions
// of their own, so a large bundle does not keep other writes waiting for
// the whole of it; the bundle's row comes last.
func (s *Store) PutBundle(ctx context.Context, b *drover.Bundle, data io.Reader) (bool, error) {
	if known, err := s.touchBundle(ctx, b); err != nil || known {
		return false, err
	}
	var blob int64
	if err := s.write(ctx, func(x *session) error {
		return x.queryRow(qNewBlob, unixNano(b.CreatedAt)).Scan(&blob)
	}); err != nil {
		return false, err
	}
	created, err := s.fillBlob(ctx, b, blob, data)
	if err != nil || !created {
		// A failed upload leaves nothing; the losing one of two concurrent
		// uploads of the same bundle leaves the winner's.
		if derr := s.write(context.WithoutCancel(ctx), func(x *session) error {
			_, err := x.exec(qDeleteBlob, blob)
			return err
		}); derr != nil && err == nil {
			err = derr
		}
	}
	return created, err
}

// touchBundle moves the upload time of a bundle the store already holds,
// and says whether it does.
func (s *Store) touchBundle(ctx context.Context, b *drover.Bundle) (bool, error) {
	var known bool
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qBundleUploaded, unixNano(b.CreatedAt), b.SHA256)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		known = n == 1
		return err
	})
	return known, err
}

// fillBlob writes data into blob a chunk at a time, then the bundle's row
// naming it. It returns false when another upload of the bundle finished
// first.
func (s *Store) fillBlob(ctx context.Context, b *drover.Bundle, blob int64, data io.Reader) (bool, error) {
	buf := make([]byte, chunkSize)
	for n := 0; ; n++ {
		k, err := io.ReadFull(data, buf)
		if errors.Is(err, io.EOF) && n > 0 {
			break
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("read bundle: %w", err)
		}
		if err := s.write(ctx, func(x *session) error {
			_, err := x.exec(qPutChunk, blob, n, buf[:k])
			return err
		}); err != nil {
			return false, err
		}
		if k < chunkSize {
			break
		}
	}
	var created bool
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qInsertBundle, b.SHA256, b.Size, b.Files, b.Unpacked, unixNano(b.CreatedAt), blob)
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

// DeleteUnusedBundles implements store.Store. The blobs of uploads cut
// short (the process stopped while it wrote one) go by the same rule, by
// when they began.
func (s *Store) DeleteUnusedBundles(ctx context.Context, uploadedBefore time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qDeleteUnusedBundles, unixNano(uploadedBefore), limit)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = x.exec(qDeleteOrphanBlobs, unixNano(uploadedBefore), limit)
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

// OpenBundle implements store.Store.
func (s *Store) OpenBundle(ctx context.Context, sha string) (io.ReadCloser, error) {
	r := &bundleReader{s: s, ctx: ctx, sha: sha}
	err := s.read(ctx, func(x *session) error {
		return notFoundIfNoRows(x.queryRow(qBundleBlob, sha).Scan(&r.blob, &r.chunks), "bundle", sha)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// bundleReader reads a bundle's chunks in order, one query per chunk.
type bundleReader struct {
	s      *Store
	ctx    context.Context // the caller's, for its reads
	sha    string
	blob   int64
	chunks int    // how many the bundle has
	n      int    // the next chunk to read
	chunk  []byte // the chunk read last
	buf    []byte // what is left of it to read
}

func (r *bundleReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.n == r.chunks {
			return 0, io.EOF
		}
		err := r.s.read(r.ctx, func(x *session) error {
			rows, err := x.query(qBundleChunk, r.blob, r.n)
			if err != nil {
				return err
			}
			defer rows.Close()
			if !rows.Next() {
				return cmp.Or(rows.Err(), sql.ErrNoRows)
			}
			// RawBytes is the driver's copy, which this one reuses a buffer
			// for rather than allocating a second.
			var raw sql.RawBytes
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			r.chunk = append(r.chunk[:0], raw...)
			r.buf = r.chunk
			return rows.Close()
		})
		if err != nil {
			if drover.IsCode(err, drover.ENOTFOUND) {
				return 0, fmt.Errorf("read bundle %s: it was removed while it was read", r.sha)
			}
			return 0, fmt.Errorf("read bundle %s: %w", r.sha, err)
		}
		r.n++
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	return k, nil
}

// Close implements io.Closer; a bundleReader holds nothing between reads.
func (r *bundleReader) Close() error { return nil }
