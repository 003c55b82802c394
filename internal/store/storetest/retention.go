package storetest

import (
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// testDeleteFinished checks that only final jobs completed before the cut
// go, with their attempts and output. At most limit go at a time.
func testDeleteFinished(f *fixture) {
	w := f.createWorker("w")
	var old []string
	for i := 0; i < 3; i++ {
		j, a := f.running(w.ID)
		if _, err := f.s.AppendOutput(f.ctx, a.ID, []drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("x")}}, at(3*time.Second)); err != nil {
			f.t.Fatal(err)
		}
		zero := 0
		f.end(a.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: &zero},
			store.JobOutcome{State: drover.JobCompleted, ExitCode: &zero})
		old = append(old, j.ID)
	}
	recent, ra := f.running(w.ID)
	zero := 0
	f.end(ra.ID, store.AttemptEnd{At: at(time.Hour), State: drover.AttemptCompleted, ExitCode: &zero},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: &zero})
	queued := f.createJob(base)
	running, _ := f.running(w.ID)

	n, err := f.s.DeleteFinished(f.ctx, at(30*time.Minute), 2)
	if err != nil || n != 2 {
		f.t.Fatalf("DeleteFinished limit 2: %d, %v", n, err)
	}
	n, err = f.s.DeleteFinished(f.ctx, at(30*time.Minute), 100)
	if err != nil || n != 1 {
		f.t.Fatalf("DeleteFinished rest: %d, %v", n, err)
	}
	for _, id := range old {
		if _, err := f.s.GetJob(f.ctx, id); drover.ErrorCode(err) != drover.ENOTFOUND {
			f.t.Errorf("old job %s: %v, want ENOTFOUND", id, err)
		}
		if out, err := f.s.ReadOutput(f.ctx, id, 0, "", 0); err != nil || len(out) != 0 {
			f.t.Errorf("old job %s output: %d chunks, %v", id, len(out), err)
		}
	}
	for _, id := range []string{recent.ID, queued.ID, running.ID} {
		f.job(id)
	}
	if wk := f.worker(w.ID); wk.Allocated.Slots != 1 {
		f.t.Errorf("allocation after deletes: %+v", wk.Allocated)
	}
}
