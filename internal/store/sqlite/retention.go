package sqlite

import (
	"context"
	"time"
)

var qDeleteFinished = writeQuery(`DELETE FROM jobs WHERE id IN (
	SELECT id FROM jobs INDEXED BY jobs_completed
	WHERE completed_at IS NOT NULL AND completed_at < ? AND state IN ('COMPLETED', 'FAILED', 'CANCELLED')
	LIMIT ?)`)

// DeleteFinished implements store.Store; attempts and output go with their
// job (ON DELETE CASCADE).
func (s *Store) DeleteFinished(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qDeleteFinished, unixNano(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
