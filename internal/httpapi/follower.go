package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/drover-dev/drover"
)

// follow serves output's stream. It sends the job's output as it is
// stored, the job's state when it changes, and an "end" event once the job
// is final. It then returns, so a follower never hangs after the job ends.
func (s *server) follow(w flushWriter, r *http.Request, id string, stream drover.Stream) error {
	after, _, err := lastEventID(r)
	if err != nil {
		return err
	}
	watch := s.c.Watch(id)
	defer watch.Stop()
	f := &follower{s: s, ctx: r.Context(), sse: startSSE(w), jobID: id, stream: stream, after: after}
	f.sse.flush()
	f.resume()

	keep := time.NewTicker(s.cfg.KeepAlive)
	defer keep.Stop()
	for {
		if watch.StateChanged() || f.job == nil {
			if !f.readJob() {
				return nil
			}
		}
		final := f.job.State.Final()
		if !f.sendOutput(final) {
			return nil
		}
		if final {
			f.sendState()
			f.sendEnd()
			f.sse.flush()
			return nil
		}
		f.sse.flush()
		select {
		case <-f.ctx.Done():
			return nil
		case <-watch.C:
		case <-keep.C:
			f.sse.keepAlive()
		}
	}
}

// follower is one client following a job's output.
type follower struct {
	s      *server
	ctx    context.Context // the request's
	sse    *sseWriter
	jobID  string
	stream drover.Stream // "" for both
	// after is the id of the last chunk read. A reconnecting client's
	// Last-Event-ID is its first value.
	after     int64
	gaps      gapWatch
	job       *drover.Job // as last read
	lastState string      // stateLine of the last state sent
}

// resume starts f.gaps for a client that resumes after the chunk f.after.
// It starts from that chunk when it is still stored. When the cap dropped
// it since it was read, with what followed it, the next chunk shows a gap.
func (f *follower) resume() {
	if f.after <= 0 {
		return
	}
	cs, err := f.s.c.Output(f.ctx, f.jobID, f.after-1, "", 1)
	switch {
	case err != nil || len(cs) == 0:
		// Nothing at or past it: no chunk of this job to compare with.
	case cs[0].ID == f.after:
		f.gaps.next(&cs[0])
	default:
		f.gaps.lastGone = true
	}
}

// readJob reads the job again. It reports false when the job cannot be
// read, which ends the stream.
func (f *follower) readJob() bool {
	j, err := f.s.c.Job(f.ctx, f.jobID)
	if err != nil {
		return false
	}
	f.job = j
	return true
}

// sendOutput sends every chunk stored after f.after, a page at a time. It
// reports false when the output cannot be read, which ends the stream.
//
// A running job's state goes before the output it produced. A final job's
// output goes before its state and end. The job is final only once its
// attempt's output is all stored, so that read is complete.
func (f *follower) sendOutput(final bool) bool {
	for first := true; ; first = false {
		// Both streams are read, so that the seqs show a gap (see
		// gapWatch). sendChunk skips the other stream's chunks.
		chunks, err := f.s.c.Output(f.ctx, f.jobID, f.after, "", outputPage)
		if err != nil {
			return false
		}
		if first && !final {
			if len(chunks) > 0 && f.job.State == drover.JobAssigned {
				f.catchUpStart()
			}
			f.sendState()
		}
		for i := range chunks {
			f.sendChunk(&chunks[i])
		}
		if len(chunks) < outputPage {
			return true
		}
		f.sse.flush()
	}
}

// catchUpStart reads again a job seen ASSIGNED that has output. Output
// means the command started. A worker reports the start before any output,
// so the start landed after the job was read. A job read final here is
// left for the next round, which sends its output first.
func (f *follower) catchUpStart() {
	if j, err := f.s.c.Job(f.ctx, f.jobID); err == nil && !j.State.Final() {
		f.job = j
	}
}

// sendChunk sends one chunk of the followed stream. A gap before it gets
// the drop notice first, on stderr.
func (f *follower) sendChunk(ch *drover.StoredChunk) {
	if f.gaps.next(ch) && f.stream != drover.Stdout {
		// No id: a follower that resumes goes on after the chunk before,
		// which the notice belongs to.
		ev := drover.NewOutputEvent(drover.Stderr, ch.AttemptN, []byte(dropNotice))
		ev.Marker = true
		f.sse.event("output", ev)
	}
	if f.stream == "" || ch.Stream == f.stream {
		ev := drover.NewOutputEvent(ch.Stream, ch.AttemptN, ch.Data)
		ev.Marker = ch.Marker
		f.sse.eventID(ch.ID, "output", ev)
	}
	f.after = ch.ID
}

// sendState sends the job's state when it differs from the last sent.
func (f *follower) sendState() {
	if st := stateLine(f.job); st != f.lastState {
		f.lastState = st
		f.sse.event("state", stateEvent(f.job))
	}
}

// sendEnd sends the final job's end event.
func (f *follower) sendEnd() {
	j := f.job
	f.sse.event("end", drover.EndEvent{State: j.State, ExitCode: j.ExitCode, Reason: j.Reason, Message: j.Message})
}

func stateEvent(j *drover.Job) drover.StateEvent {
	return drover.StateEvent{State: j.State, PendingReason: j.PendingReason, WorkerID: j.WorkerID, Attempt: len(j.Attempts),
		Message: j.Message, Cancelling: j.CancelRequestedAt != nil}
}

// stateLine is what sendState compares: the fields of a state event.
func stateLine(j *drover.Job) string {
	return fmt.Sprintf("%s|%s|%s|%d|%v", j.State, j.PendingReason, j.WorkerID, len(j.Attempts), j.CancelRequestedAt != nil)
}
