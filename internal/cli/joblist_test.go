package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

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
