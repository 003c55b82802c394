package sqlite

import (
	"fmt"
	"strconv"
)

var (
	// Counts an append both in everything produced (output_bytes) and in
	// what is stored (output_stored), in one statement.
	qAddOutputStored = writeQuery(`UPDATE jobs SET output_bytes = output_bytes + ?1, output_stored = output_stored + ?1
		WHERE id = ?2 RETURNING output_stored, output_dropped, output_marker`)
	qChunkSizesAsc  = writeQuery(`SELECT id, length(data) FROM output WHERE job_id = ? AND id > ? ORDER BY id`)
	qChunkSizesDesc = writeQuery(`SELECT id, length(data) FROM output WHERE job_id = ? ORDER BY id DESC`)
	qDropChunks     = writeQuery(`DELETE FROM output WHERE job_id = ? AND id > ? AND id < ? RETURNING length(data)`)
	qSetMarker      = writeQuery(`UPDATE output SET stream = 'stderr', data = ? WHERE id = ?`)
	qSetOutputCap   = writeQuery(`UPDATE jobs SET output_stored = ?, output_dropped = ?, output_marker = ? WHERE id = ?`)
	qChunkLen       = writeQuery(`SELECT length(data) FROM output WHERE id = ?`)
)

// capOutput counts added bytes of a job's output, produced and stored, and
// keeps its stored output within the cap, in the write
// transaction of an append: once the stored bytes pass the cap by a
// quarter (so trimming runs once per cap/4 of new output, not per chunk),
// the middle is deleted so that about cap/2 of head and cap/2 of tail stay,
// and the first chunk past the head becomes a marker saying how much was
// dropped. Chunks are whole: the head and tail are cut at chunk edges.
func (s *Store) capOutput(x *session, jobID string, added int64) error {
	_, err := s.trimOutput(x, jobID, added, s.outputCap/4)
	return err
}

// endOutput trims a job's stored output to the cap when an attempt ends,
// without the slack capOutput allows while output still comes: what is
// kept of a finished attempt is at most the cap (and a marker). It
// returns the bytes of the job's output dropped so far.
func (s *Store) endOutput(x *session, jobID string) (dropped int64, err error) {
	return s.trimOutput(x, jobID, 0, 0)
}

// trimOutput adds added to the job's counts and, past the cap by more
// than slack, drops the middle of the stored output. It returns the bytes
// of the job's output dropped so far.
func (s *Store) trimOutput(x *session, jobID string, added, slack int64) (int64, error) {
	var (
		stored, dropped int64
		marker          *int64
	)
	if err := x.queryRow(qAddOutputStored, added, jobID).Scan(&stored, &dropped, &marker); err != nil {
		return 0, err
	}
	if stored <= s.outputCap+slack {
		return dropped, nil
	}
	before := dropped
	half := s.outputCap / 2
	if marker == nil {
		// The head ends at the first chunk that crosses half the cap.
		var sum int64
		rows, err := x.query(qChunkSizesAsc, jobID, 0)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return 0, err
			}
			if sum += n; sum > half {
				marker = &id
				dropped += n
				stored -= n
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if marker == nil {
			return dropped, nil
		}
	}
	// The tail starts where the newest chunks add up to half the cap.
	// The newest chunk is always kept, even alone larger than the tail.
	tailStart := int64(-1)
	var sum int64
	rows, err := x.query(qChunkSizesDesc, jobID)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return 0, err
		}
		if id <= *marker || tailStart >= 0 && sum+n > half {
			break
		}
		sum += n
		tailStart = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if tailStart < 0 {
		return before, nil // nothing after the marker yet: nothing dropped
	}
	del, err := x.query(qDropChunks, jobID, *marker, tailStart)
	if err != nil {
		return 0, err
	}
	for del.Next() {
		var n int64
		if err := del.Scan(&n); err != nil {
			del.Close()
			return 0, err
		}
		dropped += n
		stored -= n
	}
	del.Close()
	if err := del.Err(); err != nil {
		return 0, err
	}
	var old int64
	if err := x.queryRow(qChunkLen, *marker).Scan(&old); err != nil {
		return 0, err
	}
	msg := fmt.Sprintf("\n[drover: %d bytes of output dropped here; a job keeps about its first and last %s]\n", dropped, sizeText(half))
	if _, err := x.exec(qSetMarker, []byte(msg), *marker); err != nil {
		return 0, err
	}
	stored += int64(len(msg)) - old
	_, err = x.exec(qSetOutputCap, stored, dropped, *marker, jobID)
	return dropped, err
}

// sizeText renders a byte count for the marker: "8 MiB", "512 KiB".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', -1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
