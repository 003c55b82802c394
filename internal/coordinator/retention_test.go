package coordinator

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// A worker DOWN for longer than DownRetention is forgotten; one down for
// less is still listed.
func TestDownWorkerForgotten(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg := registerOne(t, c)
	clock.Add(11 * time.Second)
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	listed := func() bool {
		t.Helper()
		if err := c.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := c.Worker(ctx, reg.Worker.ID)
		return err == nil
	}
	if w, _ := c.Worker(ctx, reg.Worker.ID); w == nil || w.State != drover.WorkerDown || !listed() {
		t.Fatalf("worker %+v: want DOWN and listed", w)
	}
	clock.Add(DefaultDownRetention - time.Minute)
	if !listed() {
		t.Fatal("worker forgotten before DownRetention")
	}
	clock.Add(2 * time.Minute)
	if listed() {
		t.Fatal("worker still listed after DownRetention")
	}
}

// CollectGarbage removes a bundle no job names once BundleGrace has
// passed since its last upload, and keeps one a job names.
func TestCollectGarbageRemovesUnusedBundles(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	put := func(sha string) {
		t.Helper()
		if _, err := st.PutBundle(ctx, &drover.Bundle{SHA256: sha, Size: 4, Files: 1, CreatedAt: clock.Now()}, strings.NewReader("PK\x03\x04")); err != nil {
			t.Fatal(err)
		}
	}
	unused, used := strings.Repeat("0a", 32), strings.Repeat("0b", 32)
	put(unused)
	put(used)
	registerOne(t, c)
	if _, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}, Bundle: used}, ""); err != nil {
		t.Fatal(err)
	}
	clock.Add(DefaultBundleGrace - time.Second)
	if err := c.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetBundle(ctx, unused); err != nil {
		t.Fatalf("a bundle within its grace was removed: %v", err)
	}
	clock.Add(2 * time.Second)
	if err := c.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetBundle(ctx, unused); !drover.IsCode(err, drover.ENOTFOUND) {
		t.Errorf("unused bundle after its grace: %v, want it removed", err)
	}
	if _, err := st.GetBundle(ctx, used); err != nil {
		t.Errorf("a bundle a job names was removed: %v", err)
	}
}

// A started coordinator runs retention on its own: a job finished longer
// than Retention ago goes without anyone calling CollectGarbage.
func TestStartedCoordinatorRemovesOldJobs(t *testing.T) {
	ctx := t.Context()
	st, clock := reapStore(t)
	removed := make(chan struct{}, 1)
	log := slog.New(messageHandler{want: "removed old jobs", seen: removed})
	c, err := New(Config{Store: st, Clock: clock, Logger: log, SweepInterval: 10 * time.Millisecond, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	reg := registerOne(t, c)
	j, att := runningOn(t, c, reg, drover.JobSpec{Command: drover.Command{"true"}})
	if _, err := c.Finish(ctx, reg.Worker.ID, att, drover.FinishRequest{ExitCode: new(int), Started: true}); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	select {
	case <-removed:
	case <-time.After(time.Minute):
		t.Fatal("no retention round removed the old job")
	}
	if _, err := c.Job(ctx, j.ID); !drover.IsCode(err, drover.ENOTFOUND) {
		t.Errorf("job finished two hours before a one-hour retention: %v, want it removed", err)
	}
}

// messageHandler signals on seen when a record with the message want is
// logged.
type messageHandler struct {
	want string
	seen chan<- struct{}
}

func (h messageHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h messageHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h messageHandler) WithGroup(string) slog.Handler            { return h }
func (h messageHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.want {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return nil
}
