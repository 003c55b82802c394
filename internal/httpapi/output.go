package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

const outputPage = 512 // chunks read from the store at a time

// output serves GET /jobs/{id}/output: the text so far, or with ?follow=1
// or Accept: text/event-stream, a live SSE stream that replays from
// Last-Event-ID and ends with an "end" event carrying the final state.
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
		return s.follow(w, r, id, stream)
	}
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

// dropNotice is what a reader is told where chunks it had not read yet
// were deleted: the job passed the output cap, and the middle of its
// output went while the reader was past the marker that says so.
const dropNotice = "\n[drover: output dropped here while it was being read: the job passed the coordinator's output cap, which keeps its first and last parts]\n"

// gapWatch finds, for a reader going through a job's chunks in order, where
// chunks are missing: each attempt's chunks have consecutive seqs, and the
// only gap a reader should meet is the one after the marker, which says
// what was dropped.
type gapWatch struct {
	attempt       int
	seq           int64
	lastWasMarker bool
	lastGone      bool // the chunk read before (on an earlier connection) was dropped since
}

// next takes the next chunk read and says whether chunks are missing
// before it.
func (g *gapWatch) next(c *drover.StoredChunk) bool {
	gap := g.lastGone || c.AttemptN == g.attempt && g.seq > 0 && c.Seq > g.seq+1 && !g.lastWasMarker
	g.attempt, g.seq, g.lastWasMarker, g.lastGone = c.AttemptN, c.Seq, c.Marker, false
	return gap
}

// resume starts g for a follower that resumes after the chunk with id
// after (Last-Event-ID): from that chunk, or, when it is gone (the cap
// dropped it, with what followed it, since it was read), with a gap.
func (s *server) resume(ctx context.Context, g *gapWatch, jobID string, after int64) {
	if after <= 0 {
		return
	}
	cs, err := s.c.Output(ctx, jobID, after-1, "", 1)
	switch {
	case err != nil || len(cs) == 0:
		// Nothing at or past it: no chunk of this job to compare with.
	case cs[0].ID == after:
		g.next(&cs[0])
	default:
		g.lastGone = true
	}
}

func (s *server) follow(w http.ResponseWriter, r *http.Request, id string, stream drover.Stream) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return drover.Errorf(drover.EINTERNAL, "streaming unsupported")
	}
	var after int64
	if v := cmpOr(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("lastEventId")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return drover.Errorf(drover.EINVALID, "Last-Event-ID %s is not an event id from this stream", drover.Quote(v))
		}
		after = n
	}
	watch := s.c.Watch(id)
	defer watch.Stop()

	startSSE(w)
	fl.Flush()

	keep := time.NewTicker(s.cfg.KeepAlive)
	defer keep.Stop()
	var (
		job  *drover.Job
		gaps gapWatch
	)
	s.resume(r.Context(), &gaps, id, after)
	lastState := ""
	for {
		if watch.StateChanged() || job == nil {
			j, err := s.c.Job(r.Context(), id)
			if err != nil {
				return nil
			}
			job = j
		}
		sendState := func() {
			if st := stateLine(job); st != lastState {
				lastState = st
				b, _ := json.Marshal(stateEvent(job))
				fmt.Fprintf(w, "event: state\ndata: %s\n\n", b)
			}
		}
		// A running job's state comes before the output it produced; a
		// final job's output comes before its end (it is final only after
		// its attempt's output was all stored, so this read is complete).
		final := job.State.Final()
		for first := true; ; first = false {
			// Both streams are read, so that the seqs show a gap (see
			// gapWatch); the other stream's chunks are skipped below.
			chunks, err := s.c.Output(r.Context(), id, after, "", outputPage)
			if err != nil {
				return nil
			}
			if first && !final {
				if len(chunks) > 0 && job.State == drover.JobAssigned {
					// Output means the command started: the start,
					// which a worker reports before any output, landed
					// after the read above.
					if j, err := s.c.Job(r.Context(), id); err == nil && !j.State.Final() {
						job = j
					}
				}
				sendState()
			}
			for i := range chunks {
				ch := &chunks[i]
				if gaps.next(ch) && stream != drover.Stdout {
					// No id: a follower that resumes goes on after the
					// chunk before, which the notice belongs to.
					ev := drover.NewOutputEvent(drover.Stderr, ch.AttemptN, []byte(dropNotice))
					ev.Marker = true
					b, _ := json.Marshal(ev)
					fmt.Fprintf(w, "event: output\ndata: %s\n\n", b)
				}
				if stream == "" || ch.Stream == stream {
					ev := drover.NewOutputEvent(ch.Stream, ch.AttemptN, ch.Data)
					ev.Marker = ch.Marker
					b, _ := json.Marshal(ev)
					fmt.Fprintf(w, "id: %d\nevent: output\ndata: %s\n\n", ch.ID, b)
				}
				after = ch.ID
			}
			if len(chunks) < outputPage {
				break
			}
			fl.Flush()
		}
		if final {
			sendState()
		}
		if job.State.Final() {
			b, _ := json.Marshal(drover.EndEvent{State: job.State, ExitCode: job.ExitCode, Reason: job.Reason, Message: job.Message})
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			fl.Flush()
			return nil
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-watch.C:
		case <-keep.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
		}
	}
}

func stateEvent(j *drover.Job) drover.StateEvent {
	return drover.StateEvent{State: j.State, PendingReason: j.PendingReason, WorkerID: j.WorkerID, Attempt: len(j.Attempts),
		Message: j.Message, Cancelling: j.CancelRequestedAt != nil}
}

func stateLine(j *drover.Job) string {
	return fmt.Sprintf("%s|%s|%s|%d|%v", j.State, j.PendingReason, j.WorkerID, len(j.Attempts), j.CancelRequestedAt != nil)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// startSSE writes the headers of an event stream and the client's retry
// delay.
func startSSE(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\n")
}
