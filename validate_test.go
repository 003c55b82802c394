package drover_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestNormalize(t *testing.T) {
	tests := []struct {
		name  string
		spec  drover.JobSpec
		field string   // "" when the spec is valid
		msg   []string // substrings of the message: what is wrong and what to change
		check func(t *testing.T, s drover.JobSpec)
	}{
		{name: "defaults", spec: drover.JobSpec{Command: drover.Command{"true"}},
			check: func(t *testing.T, s drover.JobSpec) {
				want := drover.JobSpec{Command: drover.Command{"true"},
					Resources: drover.Resources{CPU: drover.DefaultCPU, MemoryMB: drover.DefaultMemoryMB}}
				if !reflect.DeepEqual(s, want) {
					t.Errorf("got %+v, want %+v", s, want)
				}
				if s.Resources.CPU != 100 || s.Resources.MemoryMB != 128 {
					t.Errorf("defaults are %dm, %d MiB; want 100m, 128 MiB", s.Resources.CPU, s.Resources.MemoryMB)
				}
			}},
		{name: "resources kept", spec: drover.JobSpec{Command: drover.Command{"true"}, Resources: drover.Resources{CPU: 2500, MemoryMB: 4096}},
			check: func(t *testing.T, s drover.JobSpec) {
				if s.Resources != (drover.Resources{CPU: 2500, MemoryMB: 4096}) {
					t.Errorf("resources %+v changed", s.Resources)
				}
			}},
		{name: "a docker job asking for the network needs a worker that gives it",
			spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "busybox", Network: true},
			check: func(t *testing.T, s drover.JobSpec) {
				if s.Constraints[drover.NetworkLabel] != "true" {
					t.Errorf("constraints %v, want %s=true", s.Constraints, drover.NetworkLabel)
				}
			}},
		{name: "a process job has the worker's network: no constraint",
			spec: drover.JobSpec{Command: drover.Command{"true"}, Network: true},
			check: func(t *testing.T, s drover.JobSpec) {
				if len(s.Constraints) != 0 {
					t.Errorf("constraints %v, want none", s.Constraints)
				}
			}},
		{name: "only memory given", spec: drover.JobSpec{Command: drover.Command{"true"}, Resources: drover.Resources{MemoryMB: 64}},
			check: func(t *testing.T, s drover.JobSpec) {
				if s.Resources != (drover.Resources{CPU: 100, MemoryMB: 64}) {
					t.Errorf("resources %+v, want cpu 100, memory 64", s.Resources)
				}
			}},
		{name: "image without executor means docker", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "alpine:3"},
			check: func(t *testing.T, s drover.JobSpec) {
				if s.Executor != drover.ExecutorDocker {
					t.Errorf("executor %q, want docker", s.Executor)
				}
			}},
		{name: "docker with image", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "alpine:3", Executor: "docker"}},
		{name: "process", spec: drover.JobSpec{Command: drover.Command{"true"}, Executor: "process"}},
		{name: "noop", spec: drover.JobSpec{Command: drover.Command{"true"}, Executor: "noop"}},
		{name: "name of 200 characters, 400 bytes", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: strings.Repeat("é", drover.MaxNameLen)}},
		{name: "everything valid", spec: drover.JobSpec{
			Name: strings.Repeat("n", drover.MaxNameLen), Command: drover.Command{"sh", "-c", "exit 0"},
			Executor: "process", Bundle: sha, Env: map[string]string{"_A1": "x", "PATH": ""},
			Timeout: drover.Duration(time.Minute), MaxRetries: drover.MaxRetriesLimit,
			RetryOn:     []drover.Reason{drover.ReasonExitCode, drover.ReasonTimeout, drover.ReasonOOMKilled},
			Constraints: map[string]string{"gpu": "true", "zone": ""}, Priority: -drover.MaxPriority,
		}},
		{name: "priority at the top", spec: drover.JobSpec{Command: drover.Command{"true"}, Priority: drover.MaxPriority}},
		{name: "command at the limit", spec: drover.JobSpec{Command: drover.Command{"a", strings.Repeat("x", drover.MaxCommandBytes-1)}}},
		{name: "an image and no command: the image's own", spec: drover.JobSpec{Image: "debian:bookworm-slim"}},

		{name: "no command", spec: drover.JobSpec{},
			field: "command", msg: []string{"command is empty", `["echo","hi"]`, "only a job with an image"}},
		{name: "empty program", spec: drover.JobSpec{Command: drover.Command{"", "x"}},
			field: "command", msg: []string{"command[0] is empty", "program to run"}},
		{name: "NUL in an argument", spec: drover.JobSpec{Command: drover.Command{"echo", "a\x00b"}},
			field: "command", msg: []string{"NUL"}},
		{name: "command too long", spec: drover.JobSpec{Command: drover.Command{"sh", "-c", strings.Repeat("x", drover.MaxCommandBytes)}},
			field: "command", msg: []string{fmt.Sprint(drover.MaxCommandBytes + 4), fmt.Sprint(drover.MaxCommandBytes), "put long scripts in a bundle"}},
		{name: "name too long", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: strings.Repeat("n", drover.MaxNameLen+1)},
			field: "name", msg: []string{"201 characters", "limit is 200"}},
		{name: "docker memory below the engine's minimum", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "alpine:3", Resources: drover.Resources{MemoryMB: 5}},
			field: "resources.memoryMB", msg: []string{"at least 6 MiB"}},
		{name: "image reference in upper case", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "UPPER/Case:bad tag"},
			field: "image", msg: []string{"not an image reference", "lower case"}},
		{name: "newline in a name", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: "a\nb"},
			field: "name", msg: []string{"U+000A", "control character", "one line"}},
		{name: "escape sequence in a name", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: "red\x1b[31m"},
			field: "name", msg: []string{"U+001B"}},
		{name: "name too long in characters", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: strings.Repeat("é", drover.MaxNameLen+1)},
			field: "name", msg: []string{"201 characters", "limit is 200"}},
		{name: "unknown executor", spec: drover.JobSpec{Command: drover.Command{"true"}, Executor: "podman"},
			field: "executor", msg: []string{`"podman" is unknown`, `"docker"`, `"process"`, "leave it empty"}},
		{name: "docker without image", spec: drover.JobSpec{Command: drover.Command{"true"}, Executor: "docker"},
			field: "image", msg: []string{"needs an image", "set image"}},
		{name: "image with process", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "alpine:3", Executor: "process"},
			field: "image", msg: []string{`"alpine:3"`, `executor is "process"`, "drop the image or use executor docker"}},
		{name: "image with noop", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "alpine:3", Executor: "noop"},
			field: "image", msg: []string{"drop the image"}},
		{name: "bundle not a digest", spec: drover.JobSpec{Command: drover.Command{"true"}, Bundle: "abc"},
			field: "bundle", msg: []string{`"abc"`, "POST /api/v1/bundles"}},
		{name: "bundle in upper case", spec: drover.JobSpec{Command: drover.Command{"true"}, Bundle: strings.ToUpper(sha)},
			field: "bundle", msg: []string{"not a sha256 hex digest"}},
		{name: "env name starts with a digit", spec: drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"1A": "x"}},
			field: "env", msg: []string{`"1A"`, "letters, digits and underscores"}},
		{name: "env name with a dash", spec: drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"A-B": "x"}},
			field: "env", msg: []string{`"A-B"`}},
		{name: "env name empty", spec: drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"": "x"}},
			field: "env", msg: []string{`env name ""`}},
		{name: "timeout below a second", spec: drover.JobSpec{Command: drover.Command{"true"}, Timeout: drover.Duration(time.Millisecond)},
			field: "timeout", msg: []string{"1ms", "the shortest is 1s"}},
		{name: "env name drover sets", spec: drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"DROVER_ATTEMPT_ID": "x"}},
			field: "env", msg: []string{"DROVER_ATTEMPT_ID", "set by drover", "pick another name"}},
		{name: "env value with NUL", spec: drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"A": "x\x00"}},
			field: "env", msg: []string{`env "A" contains a NUL byte`}},
		{name: "env too large", spec: drover.JobSpec{Command: drover.Command{"true"}, Env: map[string]string{"A": strings.Repeat("x", drover.MaxEnvBytes)}},
			field: "env", msg: []string{fmt.Sprint(drover.MaxEnvBytes + 1), "the limit is"}},
		{name: "negative cpu", spec: drover.JobSpec{Command: drover.Command{"true"}, Resources: drover.Resources{CPU: -1}},
			field: "resources.cpu", msg: []string{"resources.cpu is -1", "must be positive", "millicores"}},
		{name: "negative memory", spec: drover.JobSpec{Command: drover.Command{"true"}, Resources: drover.Resources{MemoryMB: -5}},
			field: "resources.memoryMB", msg: []string{"resources.memoryMB is -5", "must be positive", "MiB"}},
		{name: "negative timeout", spec: drover.JobSpec{Command: drover.Command{"true"}, Timeout: drover.Duration(-time.Second)},
			field: "timeout", msg: []string{"timeout is -1s", "0 for none"}},
		{name: "negative maxRetries", spec: drover.JobSpec{Command: drover.Command{"true"}, MaxRetries: -1},
			field: "maxRetries", msg: []string{"maxRetries is -1", "between 0 and 100"}},
		{name: "maxRetries over the limit", spec: drover.JobSpec{Command: drover.Command{"true"}, MaxRetries: drover.MaxRetriesLimit + 1},
			field: "maxRetries", msg: []string{"maxRetries is 101", "between 0 and 100"}},
		{name: "retryOn a fleet failure", spec: drover.JobSpec{Command: drover.Command{"true"}, RetryOn: []drover.Reason{drover.ReasonWorkerLost}},
			field: "retryOn", msg: []string{`"worker_lost" is not a job failure`, `"exit_code"`, `"timeout"`, `"oom_killed"`, `"workspace_limit"`, "fleet failures are always retried"}},
		{name: "retryOn unknown", spec: drover.JobSpec{Command: drover.Command{"true"}, RetryOn: []drover.Reason{drover.ReasonTimeout, "segfault"}},
			field: "retryOn", msg: []string{`"segfault"`}},
		{name: "retryOn cancelled", spec: drover.JobSpec{Command: drover.Command{"true"}, RetryOn: []drover.Reason{drover.ReasonCancelled}},
			field: "retryOn", msg: []string{`"cancelled"`}},
		{name: "constraint without a name", spec: drover.JobSpec{Command: drover.Command{"true"}, Constraints: map[string]string{"": "x"}},
			field: "constraints", msg: []string{"a constraint has an empty name", "key=value"}},
		{name: "ten thousand constraints", spec: drover.JobSpec{Command: drover.Command{"true"}, Constraints: manyLabels(10000)},
			field: "constraints", msg: []string{"10000 constraints; the limit is 64"}},
		{name: "constraints at the limit, and the network's", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "busybox", Network: true, Constraints: manyLabels(drover.MaxLabels)},
			check: func(t *testing.T, s drover.JobSpec) {
				if len(s.Constraints) != drover.MaxLabels+1 {
					t.Errorf("%d constraints, want %d", len(s.Constraints), drover.MaxLabels+1)
				}
			}},
		{name: "constraint key too long", spec: drover.JobSpec{Command: drover.Command{"true"}, Constraints: map[string]string{strings.Repeat("k", 64): "x"}},
			field: "constraints", msg: []string{"constraint key", "64 characters; the limit is 63"}},
		{name: "constraint value too long", spec: drover.JobSpec{Command: drover.Command{"true"}, Constraints: map[string]string{"k": strings.Repeat("v", 256)}},
			field: "constraints", msg: []string{"256 characters; the limit is 255"}},
		{name: "escape in a constraint", spec: drover.JobSpec{Command: drover.Command{"true"}, Constraints: map[string]string{"zone": "eu\x1b[2J"}},
			field: "constraints", msg: []string{"U+001B", "control character"}},
		{name: "bidi override in a name", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: "invoice\u202egpj.exe"},
			field: "name", msg: []string{"U+202E", "bidi control character"}},
		{name: "invalid UTF-8 in a name", spec: drover.JobSpec{Command: drover.Command{"true"}, Name: "a\xffb"},
			field: "name", msg: []string{"not valid UTF-8"}},
		{name: "image: repository in upper case", spec: drover.JobSpec{Image: "MyOrg/tool:1"},
			field: "image", msg: []string{`image "MyOrg/tool:1" is not an image reference`, "lower case", "e.g. debian:bookworm-slim"}},
		{name: "image: bad digest", spec: drover.JobSpec{Image: "busybox@sha256:abc"},
			field: "image", msg: []string{"digest", "64 lower-case hex digits"}},
		{name: "image: bad port", spec: drover.JobSpec{Image: "registry.example.com:99999/x"},
			field: "image", msg: []string{"port", "1 to 65535"}},
		{name: "image by registry, tag and digest", spec: drover.JobSpec{Image: "registry.example.com:5000/team/tool:v1@sha256:" + sha}},
		{name: "image by id", spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "sha256:" + sha}},
		{name: "priority too high", spec: drover.JobSpec{Command: drover.Command{"true"}, Priority: drover.MaxPriority + 1},
			field: "priority", msg: []string{"priority is 1001", "between -1000 and 1000"}},
		{name: "priority too low", spec: drover.JobSpec{Command: drover.Command{"true"}, Priority: -drover.MaxPriority - 1},
			field: "priority", msg: []string{"priority is -1001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			err := s.Normalize()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Normalize: %v", err)
				}
				if tt.check != nil {
					tt.check(t, s)
				}
				again := s
				if err := again.Normalize(); err != nil || !reflect.DeepEqual(again, s) {
					t.Errorf("second Normalize changed the spec or failed (%v): %+v -> %+v", err, s, again)
				}
				return
			}
			var de *drover.Error
			if !errors.As(err, &de) {
				t.Fatalf("Normalize = %v (%T), want a *drover.Error", err, err)
			}
			if de.Code != drover.EINVALID {
				t.Errorf("code %q, want %q", de.Code, drover.EINVALID)
			}
			if de.Field != tt.field {
				t.Errorf("field %q, want %q (message %q)", de.Field, tt.field, de.Message)
			}
			for _, m := range tt.msg {
				if !strings.Contains(de.Message, m) {
					t.Errorf("message %q does not contain %q", de.Message, m)
				}
			}
		})
	}
}

func manyLabels(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

// TestNormalizeQuotesLittle checks that no message echoes more than
// drover.MaxQuoted bytes of a mebibyte value.
func TestNormalizeQuotesLittle(t *testing.T) {
	mib := strings.Repeat("A", 1<<20)
	specs := map[string]drover.JobSpec{
		"name":        {Command: drover.Command{"true"}, Name: mib},
		"executor":    {Command: drover.Command{"true"}, Executor: mib},
		"image":       {Command: drover.Command{"true"}, Image: mib},
		"image path":  {Command: drover.Command{"true"}, Image: "x/" + strings.Repeat("a", 300) + "B"},
		"bundle":      {Command: drover.Command{"true"}, Bundle: mib},
		"env name":    {Command: drover.Command{"true"}, Env: map[string]string{"1" + mib: "x"}},
		"env drover":  {Command: drover.Command{"true"}, Env: map[string]string{"DROVER_" + mib: "x"}},
		"env NUL":     {Command: drover.Command{"true"}, Env: map[string]string{mib: "\x00"}},
		"retryOn":     {Command: drover.Command{"true"}, RetryOn: []drover.Reason{drover.Reason(mib)}},
		"constraint":  {Command: drover.Command{"true"}, Constraints: map[string]string{mib: "x"}},
		"constraint2": {Command: drover.Command{"true"}, Constraints: map[string]string{"\x1b" + mib: "x"}},
		"constraint3": {Command: drover.Command{"true"}, Constraints: map[string]string{"k": mib}},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			err := spec.Normalize()
			if err == nil {
				t.Fatal("Normalize accepted it")
			}
			if n := len(err.Error()); n > 2*drover.MaxQuoted+300 {
				t.Errorf("message is %d bytes: %.300q", n, err.Error())
			}
		})
	}
}

func TestRetriesOn(t *testing.T) {
	all := []drover.Reason{drover.ReasonNone, drover.ReasonExitCode, drover.ReasonTimeout, drover.ReasonOOMKilled, drover.ReasonWorkspaceLimit,
		drover.ReasonWorkerLost, drover.ReasonExecutorError, drover.ReasonNotAcknowledged, drover.ReasonCancelled, drover.ReasonUnschedulable}
	tests := []struct {
		name    string
		retryOn []drover.Reason
		want    []drover.Reason // the reasons that count; every other one does not
	}{
		{"default is every job failure", nil, []drover.Reason{drover.ReasonExitCode, drover.ReasonTimeout, drover.ReasonOOMKilled, drover.ReasonWorkspaceLimit}},
		{"empty list is the default", []drover.Reason{}, []drover.Reason{drover.ReasonExitCode, drover.ReasonTimeout, drover.ReasonOOMKilled, drover.ReasonWorkspaceLimit}},
		{"narrowed to workspace_limit", []drover.Reason{drover.ReasonWorkspaceLimit}, []drover.Reason{drover.ReasonWorkspaceLimit}},
		{"narrowed to timeout", []drover.Reason{drover.ReasonTimeout}, []drover.Reason{drover.ReasonTimeout}},
		{"narrowed to two", []drover.Reason{drover.ReasonOOMKilled, drover.ReasonExitCode}, []drover.Reason{drover.ReasonExitCode, drover.ReasonOOMKilled}},
		// Fleet failures never count against maxRetries, even when listed.
		{"fleet reason listed", []drover.Reason{drover.ReasonWorkerLost}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := drover.JobSpec{RetryOn: tt.retryOn}
			for _, r := range all {
				want := false
				for _, w := range tt.want {
					want = want || w == r
				}
				if got := s.RetriesOn(r); got != want {
					t.Errorf("RetriesOn(%q) = %v, want %v", r, got, want)
				}
			}
		})
	}
}

func TestParseCPU(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // substring of the error; "" for success
	}{
		{"1.5", 1500, ""},
		{"500m", 500, ""},
		{"2", 2000, ""},
		{" 2 ", 2000, ""},
		{"0.25", 250, ""},
		{"1m", 1, ""},
		{"0.001", 1, ""},
		{"0.0005", 1, ""}, // rounds half away from zero
		{"1e3", 1000000, ""},
		{"0", 0, "use cores like 1.5 or millicores like 500m"},
		{"-1", 0, "use cores"},
		{"abc", 0, "use cores"},
		{"", 0, "use cores"},
		{"0m", 0, "use cores"},
		{"-500m", 0, "use cores"},
		{"1.5m", 0, "use cores"},
		{"500M", 0, "use cores"},
		{"0.0001", 0, "below one millicore"},
		{"1e9", 0, "use cores"},
		{"inf", 0, "use cores"},
		{"NaN", 0, "use cores"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := drover.ParseCPU(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseCPU(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"512M", 512, ""},
		{"512m", 512, ""},
		{"2G", 2048, ""},
		{"1.5Gi", 1536, ""},
		{"1.5GiB", 1536, ""},
		{"256MB", 256, ""},
		{"256Mi", 256, ""},
		{"1048576K", 1024, ""},
		{"1K", 1, ""}, // rounded up to whole MiB
		{"1T", 1 << 20, ""},
		{"512", 512, ""},
		{"0.5", 1, ""},
		{" 64M ", 64, ""},
		{"0", 0, "use a size like 512M or 2G"},
		{"-5", 0, "use a size like"},
		{"x", 0, "use a size like"},
		{"", 0, "use a size like"},
		{"G", 0, "use a size like"},
		{"inf", 0, "use a size like"},
		{"2000000T", 0, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := drover.ParseMemory(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseMemory(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
		})
	}
}

func TestFormatCPU(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{1500, "1.5"},
		{500, "500m"},
		{2000, "2"},
		{1, "1m"},
		{1250, "1.25"},
		{1001, "1.001"},
		{0, "0"},
	}
	for _, tt := range tests {
		if got := drover.FormatCPU(tt.in); got != tt.want {
			t.Errorf("FormatCPU(%d) = %q, want %q", tt.in, got, tt.want)
		}
		// What FormatCPU prints, ParseCPU reads back.
		if tt.in > 0 {
			if back, err := drover.ParseCPU(drover.FormatCPU(tt.in)); err != nil || back != tt.in {
				t.Errorf("ParseCPU(FormatCPU(%d)) = %d, %v", tt.in, back, err)
			}
		}
	}
}

func TestFormatMemory(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{1536, "1.5G"},
		{2048, "2G"},
		{512, "512M"},
		{22057, "21.5G"},
		{1023, "1023M"},
		{1024, "1G"},
		{1 << 20, "1024G"},
		{0, "0M"},
	}
	for _, tt := range tests {
		if got := drover.FormatMemory(tt.in); got != tt.want {
			t.Errorf("FormatMemory(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-3, time.Second},
		{0, time.Second},
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute},
		{8, time.Minute},
		{64, time.Minute},
		{1 << 30, time.Minute},
	}
	for _, tt := range tests {
		if got := drover.RetryBackoff(tt.n); got != tt.want {
			t.Errorf("RetryBackoff(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	field := drover.FieldErrorf("timeout", "timeout is %s", "-1s")
	notFound := drover.Errorf(drover.ENOTFOUND, "job %s not found", "job_1")
	tests := []struct {
		name     string
		err      error
		code     string
		message  string
		isCode   string // a code IsCode must accept ("" for none)
		notCodes []string
	}{
		{"nil", nil, "", "", "", []string{"", drover.EINTERNAL}},
		{"domain error", notFound, drover.ENOTFOUND, "job job_1 not found", drover.ENOTFOUND, []string{drover.EINVALID}},
		{"field error", field, drover.EINVALID, "timeout is -1s", drover.EINVALID, []string{drover.EMALFORMED}},
		{"wrapped once", fmt.Errorf("get job: %w", notFound), drover.ENOTFOUND, "job job_1 not found", drover.ENOTFOUND, nil},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", field)), drover.EINVALID, "timeout is -1s", drover.EINVALID, nil},
		{"joined", errors.Join(errors.New("x"), notFound), drover.ENOTFOUND, "job job_1 not found", drover.ENOTFOUND, nil},
		{"first in the chain wins", fmt.Errorf("%w: %w", drover.Errorf(drover.ECONFLICT, "stale"), notFound), drover.ECONFLICT, "stale", drover.ECONFLICT, nil},
		{"plain error is internal", errors.New("disk on fire"), drover.EINTERNAL, "internal error", drover.EINTERNAL, []string{drover.ENOTFOUND}},
		{"wrapped plain error", fmt.Errorf("store: %w", errors.New("locked")), drover.EINTERNAL, "internal error", drover.EINTERNAL, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drover.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := drover.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
			if tt.isCode != "" && !drover.IsCode(tt.err, tt.isCode) {
				t.Errorf("IsCode(%q) = false", tt.isCode)
			}
			for _, c := range tt.notCodes {
				if drover.IsCode(tt.err, c) {
					t.Errorf("IsCode(%q) = true", c)
				}
			}
		})
	}
	if field.Field != "timeout" || field.Error() != "timeout is -1s" {
		t.Errorf("FieldErrorf = %+v", field)
	}
}

func TestIsSHA256(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{sha, true},
		{strings.Repeat("0", 64), true},
		{strings.ToUpper(sha), false},
		{sha[:63], false},
		{sha + "0", false},
		{sha[:63] + "g", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := drover.IsSHA256(tt.in); got != tt.want {
			t.Errorf("IsSHA256(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
