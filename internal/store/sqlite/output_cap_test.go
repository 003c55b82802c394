package sqlite_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

// cappedAttempt opens a store with a 1 MiB output cap and returns it with
// a job and its attempt, running on a worker.
func cappedAttempt(t *testing.T) (*sqlite.Store, *drover.Job, []drover.Attempt) {
	t.Helper()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "drover.db"), sqlite.Options{OutputCap: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	j := newJob(0)
	if _, _, err := s.CreateJob(ctx, j, ""); err != nil {
		t.Fatal(err)
	}
	w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Executors: []string{"process"}, State: drover.WorkerReady,
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, RegisteredAt: base, LastHeartbeatAt: base}
	if err := s.CreateWorker(ctx, w, []byte("h")); err != nil {
		t.Fatal(err)
	}
	as, err := s.Assign(ctx, base, []store.Placement{{JobID: j.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
	if err != nil || len(as) != 1 {
		t.Fatalf("assign: %v %v", as, err)
	}
	return s, j, as
}

// TestOutputCapKeepsHeadAndTail floods one job with 8 MiB of output under a
// 1 MiB cap: the first and last half MiB stay, in order, with one marker in
// between saying how much was dropped, and outputBytes counts everything.
func TestOutputCapKeepsHeadAndTail(t *testing.T) {
	ctx := t.Context()
	s, j, as := cappedAttempt(t)
	const chunk = 64 << 10
	var all bytes.Buffer
	for i := 0; i < 128; i++ {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, chunk)
		all.Write(data)
		if _, err := s.AppendOutput(ctx, as[0].ID, []drover.OutputChunk{{Seq: int64(i + 1), Stream: drover.Stdout, Data: data}}, base); err != nil {
			t.Fatal(err)
		}
	}
	chunks, err := s.ReadOutput(ctx, j.ID, 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	markers := 0
	for i, c := range chunks {
		if i > 0 && c.ID <= chunks[i-1].ID {
			t.Fatalf("chunk ids out of order at %d", i)
		}
		if c.Stream == drover.Stderr {
			markers++
			if !strings.Contains(string(c.Data), "bytes of output dropped here") {
				t.Fatalf("marker %q", c.Data)
			}
			continue
		}
		got.Write(c.Data)
	}
	if markers != 1 {
		t.Fatalf("%d markers, want 1", markers)
	}
	if got.Len() > 1<<20+1<<20/4 || got.Len() < 1<<20-2*chunk {
		t.Fatalf("kept %d bytes under a 1 MiB cap", got.Len())
	}
	head := all.Bytes()[:512<<10]
	tail := all.Bytes()[all.Len()-(512<<10-chunk):]
	if !bytes.HasPrefix(got.Bytes(), head) || !bytes.HasSuffix(got.Bytes(), tail) {
		t.Fatalf("head or tail not kept")
	}
	jj, err := s.GetJob(ctx, j.ID)
	if err != nil || jj.OutputBytes != int64(all.Len()) {
		t.Fatalf("outputBytes %d, want %d (%v)", jj.OutputBytes, all.Len(), err)
	}
	// outputDropped is what went: what was written less what is kept (the
	// marker aside).
	if want := int64(all.Len() - got.Len()); jj.OutputDropped != want {
		t.Errorf("outputDropped %d, want %d", jj.OutputDropped, want)
	}
}

// TestOutputCapAppliedWhenTheAttemptEnds: appends pass the cap by up to a
// quarter before trimming (once per cap/4 of output, not per chunk); when
// the attempt ends, what is kept is brought down to the cap.
func TestOutputCapAppliedWhenTheAttemptEnds(t *testing.T) {
	ctx := t.Context()
	s, j, as := cappedAttempt(t)
	const chunk = 64 << 10
	for i := range 18 { // 1.125 MiB: past the cap, not past it by a quarter
		data := bytes.Repeat([]byte{byte('a' + i)}, chunk)
		if _, err := s.AppendOutput(ctx, as[0].ID, []drover.OutputChunk{{Seq: int64(i + 1), Stream: drover.Stdout, Data: data}}, base); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() (n, markers int) {
		chunks, err := s.ReadOutput(ctx, j.ID, 0, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			if c.Stream == drover.Stderr {
				markers++
				continue
			}
			n += len(c.Data)
		}
		return n, markers
	}
	if n, m := kept(); n != 18*chunk || m != 0 {
		t.Fatalf("before the end: %d bytes and %d markers kept, want all %d and none", n, m, 18*chunk)
	}
	if jj, err := s.GetJob(ctx, j.ID); err != nil || jj.OutputDropped != 0 {
		t.Fatalf("before the end: outputDropped %d, %v; want 0", jj.OutputDropped, err)
	}
	code := 0
	ended, err := s.EndAttempt(ctx, as[0].ID, store.AttemptEnd{At: base, State: drover.AttemptCompleted, ExitCode: &code},
		func(*drover.Job, *drover.Attempt) store.JobOutcome {
			return store.JobOutcome{State: drover.JobCompleted, ExitCode: &code}
		})
	if err != nil {
		t.Fatal(err)
	}
	n, m := kept()
	if n > 1<<20 || m != 1 {
		t.Fatalf("after the end: %d bytes and %d markers kept, want at most %d and one marker", n, m, 1<<20)
	}
	// The job EndAttempt returns says what the trim dropped, as a read does.
	jj, err := s.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(18*chunk - n); jj.OutputDropped != want || ended.OutputDropped != want {
		t.Errorf("outputDropped %d read, %d returned by EndAttempt; want %d", jj.OutputDropped, ended.OutputDropped, want)
	}
}
