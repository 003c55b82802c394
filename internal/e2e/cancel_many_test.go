package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// TestCancelMoreThanABatch: drover cancel takes more ids than one request
// may carry (drover.MaxCancel) and sends them in batches; every job is
// cancelled and reported.
func TestCancelMoreThanABatch(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{}) // no worker: the jobs wait in the queue
	ctx := ctxT(t, 2*time.Minute)
	ids := make([]string, drover.MaxCancel+2)
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 8 {
				j, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}}, "")
				if err != nil {
					errs <- err
					return
				}
				ids[i] = j.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	out, errOut, code := cl.cli(ctx, append([]string{"cancel"}, ids...)...)
	if code != 0 {
		t.Fatalf("cancel of %d jobs: exit %d, stderr %q", len(ids), code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(ids) {
		t.Fatalf("cancel of %d jobs printed %d lines", len(ids), len(lines))
	}
	for i, id := range ids {
		if want := id + " CANCELLED"; lines[i] != want {
			t.Fatalf("line %d: %q, want %q", i+1, lines[i], want)
		}
	}
	page, err := cl.c.Jobs(ctx, drover.JobFilter{States: []drover.JobState{drover.JobQueued}})
	if err != nil || len(page.Jobs) != 0 {
		t.Fatalf("jobs still queued: %v (%v)", len(page.Jobs), err)
	}
	for _, id := range []string{ids[0], ids[drover.MaxCancel-1], ids[drover.MaxCancel], ids[len(ids)-1]} {
		if j, err := cl.c.Job(ctx, id); err != nil || j.State != drover.JobCancelled {
			t.Fatalf("job %s: %+v, %v; want CANCELLED", id, j, err)
		}
	}
}
