package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/drover-dev/drover"
)

// outputPage is how many chunks a reader takes from the store at a time.
const outputPage = 512

// output serves GET /jobs/{id}/output. It answers the text so far. With
// ?follow=1 or Accept: text/event-stream it answers a live stream instead
// (see follow).
func (s *server) output(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	stream := drover.Stream(q.Get("stream"))
	if stream != "" && stream != drover.Stdout && stream != drover.Stderr {
		return drover.Errorf(drover.EINVALID, "stream %s: use stdout or stderr, or leave it out for both", drover.Quote(string(stream)))
	}
	follow := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if v := q.Get("follow"); v != "" {
		f, err := strconv.ParseBool(v)
		if err != nil {
			return drover.Errorf(drover.EINVALID, "follow %s: use 1 (or true) to follow, 0 (or false) or nothing for the output so far", drover.Quote(v))
		}
		follow = follow || f
	}
	if _, err := s.c.Job(r.Context(), id); err != nil {
		return err
	}
	if follow {
		return s.follow(s.progressive(w), r, id, stream)
	}
	w = s.progressive(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var (
		after int64
		gaps  gapWatch
	)
	for {
		// Both streams are read, so that the seqs show a gap (see gapWatch).
		chunks, err := s.c.Output(r.Context(), id, after, "", outputPage)
		if err != nil {
			return err
		}
		for i := range chunks {
			ch := &chunks[i]
			after = ch.ID
			if gaps.next(ch) && stream != drover.Stdout {
				if _, err := w.Write([]byte(dropNotice)); err != nil { // it is stderr's
					return nil
				}
			}
			if stream != "" && ch.Stream != stream {
				continue
			}
			if _, err := w.Write(ch.Data); err != nil {
				return nil
			}
		}
		if len(chunks) < outputPage {
			return nil
		}
	}
}

// dropNotice tells a reader where chunks it had not read yet were deleted.
// That happens when the job passes the output cap while the reader is past
// the marker. The reader has read the marker already, so the notice says
// what the marker would.
const dropNotice = "\n[drover: output dropped here while it was being read: the job passed the coordinator's output cap, which keeps its first and last parts]\n"

// gapWatch finds where chunks are missing, for a reader going through a
// job's chunks in order. Each attempt's chunks have consecutive seqs. The
// only gap a reader should meet is the one after the marker, which says
// what was dropped.
type gapWatch struct {
	attempt       int
	seq           int64
	lastWasMarker bool
	// lastGone is set when the chunk read before, on an earlier
	// connection, was dropped since.
	lastGone bool
}

// next takes the next chunk read. It reports whether chunks are missing
// before it.
func (g *gapWatch) next(c *drover.StoredChunk) bool {
	gap := g.lastGone || c.AttemptN == g.attempt && g.seq > 0 && c.Seq > g.seq+1 && !g.lastWasMarker
	g.attempt, g.seq, g.lastWasMarker, g.lastGone = c.AttemptN, c.Seq, c.Marker, false
	return gap
}
