package sqlite_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
	"github.com/drover-dev/drover/internal/store/sqlite"
	"github.com/drover-dev/drover/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "drover.db"))
	})
}

var base = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.UTC)

func newJob(i int) *drover.Job {
	return &drover.Job{
		ID:        drover.NewID("job"),
		Spec:      drover.JobSpec{Command: drover.Command{"echo", fmt.Sprint(i)}, Resources: drover.Resources{CPU: 100, MemoryMB: 64}},
		CreatedAt: base.Add(time.Duration(i)),
	}
}

// crashEnv names the database a re-run of this test binary writes to
// before killing itself.
const crashEnv = "DROVER_SQLITE_CRASH_DB"

// TestCrashRecovery runs a child process (this test binary again) that
// submits jobs and writes output, then dies by SIGKILL without closing the
// store, so nothing is checkpointed. Reopening must replay the WAL: every
// call that returned before the kill is there.
func TestCrashRecovery(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "drover.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Success() {
		t.Fatalf("child: %v, want killed\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var jobIDs []string
	attemptID := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "job "); ok {
			jobIDs = append(jobIDs, id)
		}
		if id, ok := strings.CutPrefix(sc.Text(), "attempt "); ok {
			attemptID = id
		}
	}
	if len(jobIDs) != 20 || attemptID == "" {
		t.Fatalf("child reported %d jobs and attempt %q, want 20 and one\nstdout: %s\nstderr: %s", len(jobIDs), attemptID, out, stderr.String())
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL left by the killed child (%v): the test would not exercise recovery", err)
	}

	s := open(t, path)
	defer s.Close()
	for _, id := range jobIDs {
		if _, err := s.GetJob(t.Context(), id); err != nil {
			t.Errorf("job %s submitted before the crash: %v", id, err)
		}
	}
	j, err := s.GetJob(t.Context(), jobIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if j.State != drover.JobRunning || len(j.Attempts) != 1 || j.Attempts[0].ID != attemptID {
		t.Errorf("running job after recovery = %s with %v", j.State, j.Attempts)
	}
	cs, err := s.ReadOutput(t.Context(), j.ID, 0, "", 0)
	if err != nil || len(cs) != 1 || string(cs[0].Data) != "before the crash\n" {
		t.Errorf("output after recovery = %v, %v", cs, err)
	}
	// And the store carries on.
	if _, _, err := s.CreateJob(t.Context(), newJob(99), ""); err != nil {
		t.Errorf("CreateJob after recovery: %v", err)
	}
}

func crashChild(t *testing.T, path string) {
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 20 {
		j, _, err := s.CreateJob(ctx, newJob(i), "")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("job %s\n", j.ID)
		if i == 0 {
			w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, RegisteredAt: base}
			if err := s.CreateWorker(ctx, w, []byte("h")); err != nil {
				t.Fatal(err)
			}
			as, err := s.Assign(ctx, base, []store.Placement{{JobID: j.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
			if err != nil || len(as) != 1 {
				t.Fatal(as, err)
			}
			if _, err := s.StartAttempt(ctx, as[0].ID, base, 0, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AppendOutput(ctx, as[0].ID, []drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("before the crash\n")}}, base); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("attempt %s\n", as[0].ID)
		}
	}
	os.Stdout.Sync()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	p.Kill() // SIGKILL: no deferred function, no Close, no checkpoint
	select {}
}

func BenchmarkCreateJob(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	i := 0
	for b.Loop() {
		if _, _, err := s.CreateJob(b.Context(), newJob(i), ""); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAssign100 measures one Assign of 100 placements: one scheduling
// pass's worth of work in one transaction.
func BenchmarkAssign100(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	ctx := b.Context()
	w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Capacity: drover.Capacity{CPU: 1 << 40, MemoryMB: 1 << 40, Slots: 1 << 30}, RegisteredAt: base}
	if err := s.CreateWorker(ctx, w, []byte("h")); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ps := make([]store.Placement, 100)
		for k := range ps {
			j, _, err := s.CreateJob(ctx, newJob(k), "")
			if err != nil {
				b.Fatal(err)
			}
			ps[k] = store.Placement{JobID: j.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}
		}
		b.StartTimer()
		as, err := s.Assign(ctx, base.Add(time.Second), ps)
		if err != nil || len(as) != 100 {
			b.Fatalf("Assign: %d attempts, %v", len(as), err)
		}
	}
}

// BenchmarkAppendOutput measures one post of one 100-byte line, the common
// case of a worker streaming a job's output as it comes.
func BenchmarkAppendOutput(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	ctx := b.Context()
	w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, RegisteredAt: base}
	if err := s.CreateWorker(ctx, w, []byte("h")); err != nil {
		b.Fatal(err)
	}
	j, _, err := s.CreateJob(ctx, newJob(0), "")
	if err != nil {
		b.Fatal(err)
	}
	as, err := s.Assign(ctx, base, []store.Placement{{JobID: j.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
	if err != nil || len(as) != 1 {
		b.Fatal(as, err)
	}
	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n')
	b.SetBytes(int64(len(line)))
	seq := int64(0)
	for b.Loop() {
		seq++
		if _, err := s.AppendOutput(ctx, as[0].ID, []drover.OutputChunk{{Seq: seq, Stream: drover.Stdout, Data: line}}, base); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetJob measures the read path (a job and its attempts) from
// parallel readers.
func BenchmarkGetJob(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	j, _, err := s.CreateJob(b.Context(), newJob(0), "")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetJob(b.Context(), j.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
