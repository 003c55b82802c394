package sqlite

import (
	"context"
	"time"

	"github.com/drover-dev/drover"
)

var (
	qAttemptForOutput = readQuery(`SELECT job_id, n, state FROM attempts WHERE id = ?`)
	// A chunk sent again hits the unique key on attempt_id and seq, and
	// changes nothing. A worker retrying a post thus cannot double its
	// output.
	qInsertChunk = writeQuery(`INSERT INTO output (job_id, attempt_id, attempt_n, seq, stream, data, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (attempt_id, seq) DO NOTHING`)
	qReadOutput = readQuery(`SELECT id, attempt_id, attempt_n, seq, stream, data, at,
		id IS (SELECT output_marker FROM jobs WHERE jobs.id = ?1) FROM output
		WHERE job_id = ?1 AND id > ?2 AND (?3 = '' OR stream = ?3) ORDER BY id LIMIT ?4`)
)

// AppendOutput implements store.Store. Chunks are stored in the order
// given, so their ids follow it. A chunk whose seq is already stored is
// skipped even if its data differs: the first copy wins. Past
// Options.OutputCap the middle of the job's output is dropped (see
// capOutput); jobs.outputBytes keeps counting everything produced.
func (s *Store) AppendOutput(ctx context.Context, attemptID string, chunks []drover.OutputChunk, now time.Time) (string, error) {
	for _, c := range chunks {
		if c.Stream != drover.Stdout && c.Stream != drover.Stderr {
			return "", drover.Errorf(drover.EINVALID, "output chunk %d: stream %q must be %s or %s", c.Seq, c.Stream, drover.Stdout, drover.Stderr)
		}
		if c.Seq < 1 {
			return "", drover.Errorf(drover.EINVALID, "output chunk seq %d: seqs start at 1", c.Seq)
		}
	}
	var jobID string
	err := s.write(ctx, func(x *session) error {
		var (
			n  int
			st drover.AttemptState
		)
		if err := x.queryRow(qAttemptForOutput, attemptID).Scan(&jobID, &n, &st); err != nil {
			return notFoundIfNoRows(err, "attempt", attemptID)
		}
		if st.Final() {
			return drover.Errorf(drover.ECONFLICT, "attempt %s is no longer current: it ended %s", attemptID, st)
		}
		t := unixNano(now)
		var added int64
		for _, c := range chunks {
			data := c.Data
			if data == nil {
				data = []byte{} // the column is NOT NULL; nil would bind as NULL
			}
			res, err := x.exec(qInsertChunk, jobID, attemptID, n, c.Seq, string(c.Stream), data, t)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				added += int64(len(data))
			}
		}
		if added > 0 {
			return s.capOutput(x, jobID, added)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return jobID, nil
}

// ReadOutput implements store.Store. An unknown job has no output.
func (s *Store) ReadOutput(ctx context.Context, jobID string, afterID int64, stream drover.Stream, limit int) ([]drover.StoredChunk, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var out []drover.StoredChunk
	err := s.read(ctx, func(x *session) error {
		rows, err := x.query(qReadOutput, jobID, afterID, string(stream), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c  drover.StoredChunk
				at int64
			)
			if err := rows.Scan(&c.ID, &c.AttemptID, &c.AttemptN, &c.Seq, &c.Stream, &c.Data, &at, &c.Marker); err != nil {
				return err
			}
			c.Time = fromUnixNano(at)
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}
