package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/drover-dev/drover/internal/retry"
)

// maxWalkDepth bounds how deep diskUse goes. Each level holds a descriptor
// while the levels below it are walked.
const maxWalkDepth = 256

// errTooDeep says that folders nest deeper than maxWalkDepth.
var errTooDeep = errors.New("folders nested too deep to measure")

// limitError is the cause of an attempt stopped for writing past the
// worker's --workspace-limit. Its text is the job's message.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// diskWatch bounds what a job writes to its workspace.
// It measures the workspace with diskUse every interval while the command
// runs. It measures once more when the command has ended, since a job can
// pass the limit between two measures and end before the next. A job that
// adds limit bytes or more to its workspace gets stop called with a
// *limitError, once. The bundle's files do not count.
//
// A measure's cost grows with the files in the workspace. The next
// measure therefore waits at least four times as long as the last took.
// The watch then uses a fifth of a core at most, however many files a job
// makes. It counts only up to the limit.
type diskWatch struct {
	dir   string
	limit int64 // bytes the job may add
	base  int64 // the workspace's use before the command started
	every time.Duration
	after func(time.Duration) <-chan time.Time
	now   func() time.Time
	stop  func(cause error)
	log   *slog.Logger

	quit   chan struct{}
	done   chan struct{}
	fired  bool // set by run before done is closed
	warned bool
}

// watchDisk measures dir as the command is about to start and watches it
// from then on. Close ends the watch.
func watchDisk(dir string, limit int64, every time.Duration, stop func(error), log *slog.Logger) (*diskWatch, error) {
	d, err := newDiskWatch(dir, limit, every, stop, log)
	if err != nil {
		return nil, err
	}
	go d.run()
	return d, nil
}

// newDiskWatch is watchDisk without starting the watch (go d.run).
func newDiskWatch(dir string, limit int64, every time.Duration, stop func(error), log *slog.Logger) (*diskWatch, error) {
	base, err := diskUse(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("measure the workspace: %w", err)
	}
	return &diskWatch{dir: dir, limit: limit, base: base, every: every, after: time.After, now: time.Now, stop: stop, log: log,
		quit: make(chan struct{}), done: make(chan struct{})}, nil
}

func (d *diskWatch) run() {
	defer close(d.done)
	wait := d.every
	for {
		select {
		case <-d.quit:
			return
		case <-d.after(retry.Jitter(wait)):
		}
		t0 := d.now()
		if d.check() {
			d.fired = true
			return
		}
		wait = max(d.every, 4*d.now().Sub(t0))
	}
}

// close ends the watch, waits for it, and measures the workspace a last
// time unless the job was stopped already.
func (d *diskWatch) close() {
	close(d.quit)
	<-d.done
	if !d.fired {
		d.check()
	}
}

// check measures the workspace, calls stop if the job is past its limit,
// and says whether it was.
func (d *diskWatch) check() bool {
	used, err := diskUse(d.dir, d.base+d.limit)
	switch {
	case errors.Is(err, errTooDeep):
		d.stop(&limitError{fmt.Sprintf("nested folders more than %d deep in its workspace, deeper than the worker measures (the worker's --workspace-limit)", maxWalkDepth)})
		return true
	case err != nil:
		if !d.warned {
			d.warned = true
			d.log.Warn("cannot measure the workspace; its limit is not enforced until it can be", "dir", d.dir, "err", err)
		}
		return false
	case used-d.base >= d.limit:
		// A file stopped by its size limit holds exactly the limit: the
		// job tried to write more.
		d.stop(&limitError{fmt.Sprintf("wrote more than %s to its workspace (the worker's --workspace-limit)", sizeText(d.limit))})
		return true
	}
	return false
}

// sizeText renders bytes for people in binary units, such as "10 GiB" or
// "1.5 MiB".
func sizeText(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + " " + units[i]
}
