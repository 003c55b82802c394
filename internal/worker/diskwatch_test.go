//go:build linux

package worker

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeTimer stands in for time.After: each wait is sent on asked, and
// ends when the test sends on fire.
type fakeTimer struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{asked: make(chan time.Duration), fire: make(chan time.Time)}
}

func (f *fakeTimer) after(d time.Duration) <-chan time.Time {
	f.asked <- d
	return f.fire
}

// tick ends the pending wait and waits until the watch is waiting again
// (it measured and found the job within its limit) or has stopped.
func (f *fakeTimer) tick(t *testing.T, stopped <-chan error) (time.Duration, error) {
	t.Helper()
	select {
	case f.fire <- time.Now():
	case <-time.After(waitFor):
		t.Fatal("the watch is not waiting")
	}
	select {
	case d := <-f.asked:
		return d, nil
	case err := <-stopped:
		return 0, err
	case <-time.After(waitFor):
		t.Fatal("the watch neither waits again nor stops")
	}
	return 0, nil
}

func newTestWatch(t *testing.T, dir string, limit int64) (*diskWatch, *fakeTimer, chan error) {
	t.Helper()
	stopped := make(chan error, 2)
	d, err := newDiskWatch(dir, limit, 10*time.Millisecond, func(err error) { stopped <- err }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ft := newFakeTimer()
	d.after = ft.after
	go d.run()
	<-ft.asked
	return d, ft, stopped
}

// The job may add limit bytes to what the workspace held when it started
// (its bundle's files); past that the watch stops it, once, naming the
// limit and the flag.
func TestDiskWatchStopsAJobPastItsLimit(t *testing.T) {
	dir := t.TempDir()
	writeBytes(t, filepath.Join(dir, "bundle-file"), 3<<20)
	d, ft, stopped := newTestWatch(t, dir, 1<<20)

	writeBytes(t, filepath.Join(dir, "out", "a"), 512<<10)
	if _, err := ft.tick(t, stopped); err != nil {
		t.Fatalf("stopped at 512 KiB of a 1 MiB limit (the bundle's 3 MiB not counted): %v", err)
	}
	writeBytes(t, filepath.Join(dir, "out", "b"), 600<<10)
	_, err := ft.tick(t, stopped)
	if err == nil {
		t.Fatal("not stopped past its limit")
	}
	if want := "wrote more than 1 MiB to its workspace (the worker's --workspace-limit)"; err.Error() != want {
		t.Errorf("cause %q, want %q", err, want)
	}
	d.close()
	if len(stopped) != 0 {
		t.Errorf("stopped again after it was stopped: %v", <-stopped)
	}
}

// A job that passes its limit and ends before the next measure is caught
// when the watch closes.
func TestDiskWatchMeasuresOnceMoreAtTheEnd(t *testing.T) {
	dir := t.TempDir()
	d, _, stopped := newTestWatch(t, dir, 1<<20)
	writeBytes(t, filepath.Join(dir, "big"), 2<<20)
	d.close()
	select {
	case err := <-stopped:
		if !strings.Contains(err.Error(), "wrote more than 1 MiB") {
			t.Errorf("cause %q", err)
		}
	default:
		t.Fatal("a job past its limit when it ended was not stopped")
	}

	d, _, stopped = newTestWatch(t, t.TempDir(), 1<<20)
	d.close()
	if len(stopped) != 0 {
		t.Errorf("a job within its limit was stopped: %v", <-stopped)
	}
}

// The next measure waits at least four times what the last one took, so
// a workspace of many files does not keep a core busy.
func TestDiskWatchWaitsLongerAfterASlowMeasure(t *testing.T) {
	dir := t.TempDir()
	d, ft, stopped := newTestWatch(t, dir, 1<<20)
	var clock time.Time
	d.now = func() time.Time { clock = clock.Add(time.Second); return clock } // each measure takes 1s
	wait, err := ft.tick(t, stopped)
	if err != nil {
		t.Fatal(err)
	}
	if wait < 4*time.Second*4/5 {
		t.Errorf("waits %s after a measure of 1s, want about 4s (±20%%)", wait)
	}
	d.close()
}

// Folders nested deeper than the watch measures stop the job: files in
// them would not be counted.
func TestDiskWatchStopsAJobNestingTooDeep(t *testing.T) {
	dir := t.TempDir()
	d, _, stopped := newTestWatch(t, dir, 1<<30)
	deep := dir
	for range maxWalkDepth + 1 {
		deep = filepath.Join(deep, "d")
	}
	writeBytes(t, filepath.Join(deep, "hidden"), 1)
	d.close()
	select {
	case err := <-stopped:
		if !strings.Contains(err.Error(), "nested folders") || !strings.Contains(err.Error(), "--workspace-limit") {
			t.Errorf("cause %q", err)
		}
	default:
		t.Fatal("a job nesting folders too deep to measure was not stopped")
	}
}

func TestSizeText(t *testing.T) {
	for n, want := range map[int64]string{10 << 30: "10 GiB", 512 << 20: "512 MiB", 1536 << 20: "1.5 GiB", 1000 << 20: "1000 MiB", 100: "100 bytes"} {
		if got := sizeText(n); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", n, got, want)
		}
	}
}

// BenchmarkDiskWatchShortJob measures what the watch adds to an attempt
// whose command ends at once in an empty workspace: the first measure,
// the goroutine, the last measure.
func BenchmarkDiskWatchShortJob(b *testing.B) {
	dir := b.TempDir()
	log := slog.New(slog.DiscardHandler)
	for b.Loop() {
		d, err := watchDisk(dir, 10<<30, time.Second, func(error) {}, log)
		if err != nil {
			b.Fatal(err)
		}
		d.close()
	}
}
