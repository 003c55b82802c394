package cli

import (
	"slices"
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

// drover jobs refuses what it cannot take, names the flag, and reads the
// states --state lists.
func TestJobsFlagsValidate(t *testing.T) {
	cases := []struct {
		name   string
		jf     jobsFlags
		pos    []string
		states []drover.JobState
		want   string // "" means valid
	}{
		{name: "defaults", jf: jobsFlags{limit: 50}},
		{name: "an argument", jf: jobsFlags{limit: 50}, pos: []string{"RUNNING"}, want: "jobs takes no arguments"},
		{name: "limit 0", jf: jobsFlags{limit: 0}, want: "--limit 0: use a whole number from 1 to 1000"},
		{name: "limit too high", jf: jobsFlags{limit: 1001}, want: "--limit 1001"},
		{name: "limit at most", jf: jobsFlags{limit: 1000}},
		{name: "states in any case", jf: jobsFlags{limit: 50, state: "running, Queued"}, states: []drover.JobState{drover.JobRunning, drover.JobQueued}},
		{name: "a trailing comma", jf: jobsFlags{limit: 50, state: "failed,"}, states: []drover.JobState{drover.JobFailed}},
		{name: "not a state", jf: jobsFlags{limit: 50, state: "running,done"}, want: `"done" is not a state`},
	}
	for _, c := range cases {
		states, err := c.jf.validate(c.pos)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		case c.want == "" && !slices.Equal(states, c.states):
			t.Errorf("%s: states %v, want %v", c.name, states, c.states)
		}
	}
}

// The next page's command keeps the filter and a page size that is not the
// default.
func TestNextJobsCommand(t *testing.T) {
	cases := []struct {
		states []drover.JobState
		limit  int
		want   string
	}{
		{nil, 50, "drover jobs"},
		{nil, 10, "drover jobs --limit 10"},
		{[]drover.JobState{drover.JobRunning}, 50, "drover jobs --state RUNNING"},
		{[]drover.JobState{drover.JobQueued, drover.JobFailed}, 200, "drover jobs --state QUEUED,FAILED --limit 200"},
	}
	for _, c := range cases {
		if got := nextJobsCommand(c.states, c.limit); got != c.want {
			t.Errorf("nextJobsCommand(%v, %d) = %q, want %q", c.states, c.limit, got, c.want)
		}
	}
}

// A long name is cut to the width, dots included; characters count, not
// bytes.
func TestShorten(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{
		{"", 5, ""},
		{"abcde", 5, "abcde"},
		{"abcdef", 5, "ab..."},
		{"ééééééé", 6, "ééé..."},
	}
	for _, c := range cases {
		if got := shorten(c.s, c.n); got != c.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

// A worker that left shows the name the job kept of it.
func TestWorkerName(t *testing.T) {
	names := map[string]string{"wrk_1": "alpha"}
	worker := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	cases := []struct {
		id, nameThen, want string
	}{
		{"wrk_1", "", "alpha"},
		{"wrk_1", "old", "alpha"},
		{"wrk_gone", "beta", "beta"},
		{"wrk_gone", "", "wrk_gone"},
	}
	for _, c := range cases {
		if got := workerName(worker, c.id, c.nameThen); got != c.want {
			t.Errorf("workerName(%q, %q) = %q, want %q", c.id, c.nameThen, got, c.want)
		}
	}
}
