package sqlite

import (
	"database/sql"
	"fmt"
	"strconv"
)

var (
	// Counts an append in one statement. output_bytes counts everything
	// produced, and output_stored what is stored.
	qAddOutputStored = writeQuery(`UPDATE jobs SET output_bytes = output_bytes + ?1, output_stored = output_stored + ?1
		WHERE id = ?2 RETURNING output_stored, output_dropped, output_marker`)
	qChunkSizesAsc  = writeQuery(`SELECT id, length(data) FROM output WHERE job_id = ? AND id > ? ORDER BY id`)
	qChunkSizesDesc = writeQuery(`SELECT id, length(data) FROM output WHERE job_id = ? ORDER BY id DESC`)
	qDropChunks     = writeQuery(`DELETE FROM output WHERE job_id = ? AND id > ? AND id < ? RETURNING length(data)`)
	qSetMarker      = writeQuery(`UPDATE output SET stream = 'stderr', data = ? WHERE id = ?`)
	qSetOutputCap   = writeQuery(`UPDATE jobs SET output_stored = ?, output_dropped = ?, output_marker = ? WHERE id = ?`)
	qChunkLen       = writeQuery(`SELECT length(data) FROM output WHERE id = ?`)
)

// capOutput counts added bytes of a job's output and keeps its stored
// output within the cap. It runs in the write transaction of an append.
//
// Trimming waits until the stored bytes pass the cap by a quarter, so it
// runs once per cap/4 of new output rather than once per chunk. It then
// deletes the middle, so that about cap/2 of head and cap/2 of tail stay.
// The first chunk past the head becomes a marker saying how much was
// dropped. Chunks are kept or dropped whole, so the head and tail end at
// chunk edges.
func (s *Store) capOutput(x *session, jobID string, added int64) error {
	_, err := s.trimOutput(x, jobID, added, s.outputCap/4)
	return err
}

// endOutput trims a job's stored output to the cap when an attempt ends.
// It allows none of the slack capOutput allows while output still comes,
// so a finished attempt keeps at most the cap and a marker. It returns the
// bytes of the job's output dropped so far.
func (s *Store) endOutput(x *session, jobID string) (dropped int64, err error) {
	return s.trimOutput(x, jobID, 0, 0)
}

// trimOutput adds added to the job's counts. Past the cap by more than
// slack, it drops the middle of the stored output. It returns the bytes of
// the job's output dropped so far.
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
		id, n, found, err := headEnd(x, jobID, half)
		if err != nil {
			return 0, err
		}
		if !found {
			return dropped, nil // the head does not reach half the cap yet
		}
		// The marker's own bytes count as dropped. Its text replaces them
		// below.
		marker, dropped, stored = &id, dropped+n, stored-n
	}
	tail, found, err := tailStart(x, jobID, *marker, half)
	if err != nil {
		return 0, err
	}
	if !found {
		return before, nil // nothing after the marker yet: nothing dropped
	}
	n, err := dropChunks(x, jobID, *marker, tail)
	if err != nil {
		return 0, err
	}
	dropped, stored = dropped+n, stored-n
	grown, err := writeMarker(x, *marker, markerText(dropped, half))
	if err != nil {
		return 0, err
	}
	stored += grown
	_, err = x.exec(qSetOutputCap, stored, dropped, *marker, jobID)
	return dropped, err
}

// headEnd finds the chunk that ends the head: the first that takes the
// job's output past half bytes. It becomes the marker. It returns the
// chunk's id and size. found is false when the output is not that long.
func headEnd(x *session, jobID string, half int64) (id, n int64, found bool, err error) {
	rows, err := x.query(qChunkSizesAsc, jobID, 0)
	if err != nil {
		return 0, 0, false, err
	}
	var sum int64
	err = eachChunkSize(rows, func(cid, cn int64) bool {
		if sum += cn; sum > half {
			id, n, found = cid, cn, true
		}
		return !found
	})
	if err != nil {
		return 0, 0, false, err
	}
	return id, n, found, nil
}

// tailStart finds the first chunk of the tail: where the newest chunks
// after the marker add up to half bytes. The newest chunk is always kept,
// even alone larger than the tail. found is false when no chunk follows
// the marker.
func tailStart(x *session, jobID string, marker, half int64) (start int64, found bool, err error) {
	rows, err := x.query(qChunkSizesDesc, jobID)
	if err != nil {
		return 0, false, err
	}
	var sum int64
	err = eachChunkSize(rows, func(id, n int64) bool {
		if id <= marker || found && sum+n > half {
			return false
		}
		sum, start, found = sum+n, id, true
		return true
	})
	return start, found, err
}

// eachChunkSize calls f with the id and size of each chunk rows holds,
// until f returns false. It closes rows.
func eachChunkSize(rows *sql.Rows, f func(id, n int64) bool) error {
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		if !f(id, n) {
			break
		}
	}
	return rows.Err()
}

// dropChunks deletes the chunks between the marker and the tail. It
// returns how many bytes they held.
func dropChunks(x *session, jobID string, marker, tail int64) (int64, error) {
	rows, err := x.query(qDropChunks, jobID, marker, tail)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var bytes int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
		bytes += n
	}
	return bytes, rows.Err()
}

// writeMarker replaces the marker chunk's data with msg, on stderr. It
// returns how many bytes the chunk grew by, which is negative when it
// shrank.
func writeMarker(x *session, marker int64, msg string) (int64, error) {
	var old int64
	if err := x.queryRow(qChunkLen, marker).Scan(&old); err != nil {
		return 0, err
	}
	if _, err := x.exec(qSetMarker, []byte(msg), marker); err != nil {
		return 0, err
	}
	return int64(len(msg)) - old, nil
}

// markerText is the marker's line, saying how many bytes were dropped and
// about how much is kept at each end.
func markerText(dropped, half int64) string {
	return fmt.Sprintf("\n[drover: %d bytes of output dropped here; a job keeps about its first and last %s]\n", dropped, sizeText(half))
}

// sizeText renders a byte count for the marker, such as "8 MiB" or
// "512 KiB".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', -1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
