package httpapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"

	"github.com/drover-dev/drover"
)

// Job lists. A page of GET /jobs is bounded twice: by its limit in jobs,
// and by MaxListBytes. The page ends after the job that takes it past
// MaxListBytes, and nextCursor goes on from there. A page of large specs
// is then a few MiB rather than limit times a spec.
//
// The jobs are read from the coordinator in batches and encoded to the
// client as they come. The coordinator then holds one batch, not the page.

const (
	defaultListLimit = 100  // jobs per page when ?limit= does not say: the coordinator's
	maxListLimit     = 1000 // the most ?limit= takes: the coordinator's
	firstListBatch   = 32   // jobs read before their size is known
	listBatchBytes   = 1 << 20
)

// streamJobs writes the page of jobs f selects.
func (s *server) streamJobs(rw http.ResponseWriter, r *http.Request, f drover.JobFilter) error {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = defaultListLimit
	case limit > maxListLimit:
		return drover.Errorf(drover.EINVALID, "limit %d is too large: the most is %d; page with the cursor", limit, maxListLimit)
	}
	// The first batch is read before anything is written, so that a bad
	// filter or cursor is answered with its error.
	f.Limit = min(limit, firstListBatch)
	batch, err := s.c.Jobs(r.Context(), f)
	if err != nil {
		return err
	}
	w := s.progressive(rw)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := &countingWriter{w: bufio.NewWriterSize(w, 32<<10)}
	enc := json.NewEncoder(out)
	io.WriteString(out, `{"jobs":[`)
	listed, next := 0, ""
	for {
		for i := range batch.Jobs {
			if listed > 0 {
				io.WriteString(out, ",")
			}
			if err := enc.Encode(&batch.Jobs[i]); err != nil {
				return s.abortList(err)
			}
			listed++
			if listed == limit || out.n >= s.cfg.MaxListBytes {
				// More jobs follow this one if the batch has them or
				// the coordinator said so.
				if i < len(batch.Jobs)-1 || batch.NextCursor != "" {
					next = batch.Jobs[i].ID
				}
				return s.endList(out, next)
			}
		}
		if batch.NextCursor == "" {
			return s.endList(out, "")
		}
		f.Cursor = batch.NextCursor
		f.Limit = nextListBatch(limit-listed, out.n/int64(listed))
		if batch, err = s.c.Jobs(r.Context(), f); err != nil {
			return s.abortList(err)
		}
	}
}

// nextListBatch is how many jobs to read next: about listBatchBytes of
// them at the size seen so far, and no more than the page still takes.
func nextListBatch(left int, perJob int64) int {
	return max(1, min(left, int(listBatchBytes/max(perJob, 1))))
}

// endList closes the page with its cursor.
func (s *server) endList(out *countingWriter, next string) error {
	io.WriteString(out, "]")
	if next != "" {
		b, _ := json.Marshal(next)
		io.WriteString(out, `,"nextCursor":`)
		out.Write(b)
	}
	io.WriteString(out, "}\n")
	if err := out.w.Flush(); err != nil {
		return s.abortList(err)
	}
	return nil
}

// abortList ends a page that failed after its first jobs were sent. Its
// status is out, so the connection is cut rather than the page ended as
// if it were whole.
func (s *server) abortList(err error) error {
	s.log.Warn("job list cut short", "err", err)
	panic(http.ErrAbortHandler)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
