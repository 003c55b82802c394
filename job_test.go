package drover_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover"
)

func TestCommandJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    drover.Command
		wantErr bool
	}{
		{`"echo hi && ls"`, drover.Command{"sh", "-c", "echo hi && ls"}, false},
		{`["echo","hi there"]`, drover.Command{"echo", "hi there"}, false},
		{`["true"]`, drover.Command{"true"}, false},
		{`[]`, drover.Command{}, false},
		{`""`, nil, false}, // empty: Normalize then says "command is empty"
		{`null`, nil, false},
		{`42`, nil, true},
		{`true`, nil, true},
		{`{"argv":["ls"]}`, nil, true},
		{`["ls",1]`, nil, true},
		{`[["ls"]]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c drover.Command
			err := json.Unmarshal([]byte(tt.in), &c)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %q, want an error", tt.in, c)
				}
				if !strings.Contains(err.Error(), "a string or an array of strings") {
					t.Errorf("error %q does not say what a command may be", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("Unmarshal(%s) = %#v, %v; want %#v", tt.in, c, err, tt.want)
			}
			// Called directly, with white space before the value.
			var d drover.Command
			if err := d.UnmarshalJSON([]byte(" \n" + tt.in)); err != nil || !reflect.DeepEqual(d, tt.want) {
				t.Fatalf("UnmarshalJSON(%q) = %#v, %v; want %#v", " \n"+tt.in, d, err, tt.want)
			}
		})
	}

	// In a spec, an empty string command is rejected by Normalize.
	var s drover.JobSpec
	if err := json.Unmarshal([]byte(`{"command":""}`), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Normalize(); drover.ErrorCode(err) != drover.EINVALID {
		t.Errorf("Normalize of an empty command = %v, want EINVALID", err)
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		c    drover.Command
		want string
	}{
		{drover.Command{"sh", "-c", "echo a | wc"}, "echo a | wc"},
		{drover.Command{"echo", "a", "b"}, "echo a b"},
		{drover.Command{"sh", "-c"}, "sh -c"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
	j := drover.Job{Spec: drover.JobSpec{Command: drover.Command{"ls", "-l"}}}
	if got := j.DisplayName(); got != "ls -l" {
		t.Errorf("DisplayName without a name = %q", got)
	}
	j.Spec.Name = "nightly"
	if got := j.DisplayName(); got != "nightly" {
		t.Errorf("DisplayName = %q, want the name", got)
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{`"90s"`, 90 * time.Second, ""},
		{`"1h30m"`, 90 * time.Minute, ""},
		{`"250ms"`, 250 * time.Millisecond, ""},
		{`90`, 90 * time.Second, ""},
		{`1.5`, 1500 * time.Millisecond, ""},
		{`"1.5"`, 1500 * time.Millisecond, ""},
		{`"90"`, 90 * time.Second, ""},
		{`"0"`, 0, ""},
		{`0`, 0, ""},
		{`""`, 0, ""},
		{`null`, 0, ""},
		{`"-1s"`, -time.Second, ""}, // read as given; Normalize rejects it
		{`"bogus"`, 0, `string "bogus" into Go value of type drover.Duration`},
		{`"5 minutes"`, 0, `string "5 minutes"`},
		{`1e300`, 0, `number 1e300 (out of range)`},
		{`"1e300"`, 0, `string "1e300" (out of range)`},
		{`true`, 0, "bool"},
		{`[1]`, 0, "array"},
		// A long value is quoted in part, a long number as read.
		{`"` + strings.Repeat("x", 1<<20) + `"`, 0, `string "xxxx`},
		{`"` + strings.Repeat("9", 1<<20) + `"`, 0, `"… (1048576 bytes) into Go value`},
		{`1` + strings.Repeat("0", 20) + `.` + strings.Repeat("0", 1<<20), 0, `number 1e+20 (out of range)`},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			var d drover.Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%.100s) = %s, %.300v; want an error containing %q", tt.in, d, err, tt.wantErr)
				}
				if len(err.Error()) > 2*drover.MaxQuoted+200 {
					t.Errorf("error is %d bytes: it echoes too much of the value", len(err.Error()))
				}
				return
			}
			if err != nil || d.D() != tt.want {
				t.Fatalf("Unmarshal(%s) = %s, %v; want %s", tt.in, d, err, tt.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, 1500 * time.Millisecond, 90 * time.Second, 25 * time.Hour} {
		b, err := json.Marshal(drover.Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		if want := `"` + d.String() + `"`; string(b) != want {
			t.Errorf("Marshal(%s) = %s, want %s", d, b, want)
		}
		var back drover.Duration
		if err := json.Unmarshal(b, &back); err != nil || back.D() != d {
			t.Errorf("round trip of %s = %s, %v", d, back, err)
		}
	}

	// Inside a spec, with omitempty.
	in := drover.JobSpec{Command: drover.Command{"true"}, Timeout: drover.Duration(90 * time.Second)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"timeout":"1m30s"`) {
		t.Errorf("spec JSON %s lacks the timeout as 1m30s", b)
	}
	var out drover.JobSpec
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Errorf("spec round trip: %+v, %v; want %+v", out, err, in)
	}
}

func TestJobState(t *testing.T) {
	tests := []struct {
		s     drover.JobState
		final bool
		valid bool
	}{
		{drover.JobQueued, false, true},
		{drover.JobAssigned, false, true},
		{drover.JobRunning, false, true},
		{drover.JobCompleted, true, true},
		{drover.JobFailed, true, true},
		{drover.JobCancelled, true, true},
		{"", false, false},
		{"queued", false, false},
		{"DONE", false, false},
	}
	for _, tt := range tests {
		if got := tt.s.Final(); got != tt.final {
			t.Errorf("%q.Final() = %v, want %v", tt.s, got, tt.final)
		}
		if got := tt.s.Valid(); got != tt.valid {
			t.Errorf("%q.Valid() = %v, want %v", tt.s, got, tt.valid)
		}
	}
	if len(drover.JobStates) != 6 {
		t.Errorf("JobStates has %d states, want 6", len(drover.JobStates))
	}
}

func TestReasonKinds(t *testing.T) {
	tests := []struct {
		r          drover.Reason
		fleet, job bool
	}{
		{drover.ReasonNone, false, false},
		{drover.ReasonExitCode, false, true},
		{drover.ReasonTimeout, false, true},
		{drover.ReasonOOMKilled, false, true},
		{drover.ReasonWorkspaceLimit, false, true},
		{drover.ReasonWorkerLost, true, false},
		{drover.ReasonExecutorError, true, false},
		{drover.ReasonNotAcknowledged, true, false},
		{drover.ReasonCancelled, false, false},
		{drover.ReasonUnschedulable, false, false},
		{"EXIT_CODE", false, false},
	}
	for _, tt := range tests {
		if got := tt.r.FleetFailure(); got != tt.fleet {
			t.Errorf("%q.FleetFailure() = %v, want %v", tt.r, got, tt.fleet)
		}
		if got := tt.r.JobFailure(); got != tt.job {
			t.Errorf("%q.JobFailure() = %v, want %v", tt.r, got, tt.job)
		}
	}
}

// An output event carries a chunk's bytes exactly: as text when they are
// valid UTF-8, and also in base64 when they are not.
func TestOutputEventBytes(t *testing.T) {
	for _, in := range []string{"", "hello\n", "é😀\n", "\xc3", "\xa9tail", "\xff\xfe\x00\x01abc\x80\n"} {
		o := drover.NewOutputEvent(drover.Stdout, 1, []byte(in))
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var back drover.OutputEvent
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got, err := back.Bytes()
		if err != nil || string(got) != in {
			t.Errorf("%q: event %s gives %q, %v", in, b, got, err)
		}
		if utf8.ValidString(in) != (o.Base64 == "") || !utf8.ValidString(o.Data) {
			t.Errorf("%q: event %s: base64 only for invalid UTF-8, data always valid", in, b)
		}
	}
}
