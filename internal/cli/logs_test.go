package cli

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

// drover logs refuses what it cannot take and names the flag.
func TestLogsFlagsValidate(t *testing.T) {
	cases := []struct {
		name string
		lf   logsFlags
		pos  []string
		want string // "" means valid
	}{
		{name: "one job", pos: []string{"job_1"}},
		{name: "no job", want: "logs takes one job id"},
		{name: "two jobs", pos: []string{"job_1", "job_2"}, want: "logs takes one job id"},
		{name: "stdout", lf: logsFlags{stream: "stdout"}, pos: []string{"job_1"}},
		{name: "stderr", lf: logsFlags{stream: "stderr"}, pos: []string{"job_1"}},
		{name: "another stream", lf: logsFlags{stream: "both"}, pos: []string{"job_1"}, want: `--stream "both"`},
		{name: "first attempt", lf: logsFlags{attempt: 1, attemptSet: true}, pos: []string{"job_1"}},
		{name: "attempt 0 given", lf: logsFlags{attemptSet: true}, pos: []string{"job_1"}, want: "--attempt 0: attempts are numbered from 1"},
		{name: "negative attempt", lf: logsFlags{attempt: -1, attemptSet: true}, pos: []string{"job_1"}, want: "--attempt -1"},
	}
	for _, c := range cases {
		err := c.lf.validate(c.pos)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// An attempt a job does not have is refused once it can no longer come.
func TestMissingAttempt(t *testing.T) {
	running := &drover.Job{ID: "job_1", State: drover.JobRunning, Attempts: make([]drover.Attempt, 2)}
	failed := &drover.Job{ID: "job_1", State: drover.JobFailed, Attempts: make([]drover.Attempt, 2)}
	cases := []struct {
		name          string
		j             *drover.Job
		n             int
		follow, ended bool
		want          string
	}{
		{name: "an attempt it has", j: running, n: 2},
		{name: "a later one, not followed", j: running, n: 3, want: "job job_1 has 2 attempt(s)"},
		{name: "a later one, followed", j: running, n: 3, follow: true},
		{name: "a later one of a final job", j: failed, n: 3, follow: true, want: "job job_1 has 2 attempt(s)"},
		{name: "never came by the end", j: failed, n: 3, follow: true, ended: true, want: "job job_1 ended FAILED after 2 attempt(s)"},
		{name: "came by the end", j: failed, n: 2, follow: true, ended: true},
	}
	for _, c := range cases {
		if got := missingAttempt(c.j, c.n, c.follow, c.ended); got != c.want {
			t.Errorf("%s: missingAttempt = %q, want %q", c.name, got, c.want)
		}
	}
}
