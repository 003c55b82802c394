package drover

import (
	"errors"
	"strings"
	"testing"
)

// TestNormalizeChecks runs each of Normalize's checks alone: on a spec it
// refuses, and on the same spec with that one field made right.
func TestNormalizeChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(*JobSpec) error
		bad   JobSpec
		good  JobSpec
		field string
		msg   string // a part of the message
	}{
		{"command", (*JobSpec).checkCommand,
			JobSpec{Command: Command{"", "x"}}, JobSpec{Command: Command{"true", "x"}}, "command", "command[0] is empty"},
		{"name", (*JobSpec).checkName,
			JobSpec{Name: "a\nb"}, JobSpec{Name: "a b"}, "name", "U+000A"},
		{"executor", (*JobSpec).checkExecutor,
			JobSpec{Executor: "podman"}, JobSpec{Executor: ExecutorProcess}, "executor", `"podman" is unknown`},
		{"image", (*JobSpec).checkExecutor,
			JobSpec{Executor: ExecutorDocker}, JobSpec{Executor: ExecutorDocker, Image: "busybox"}, "image", "needs an image"},
		{"bundle", (*JobSpec).checkBundle,
			JobSpec{Bundle: "abc"}, JobSpec{Bundle: strings.Repeat("a", 64)}, "bundle", "not a sha256 hex digest"},
		{"env", (*JobSpec).checkEnv,
			JobSpec{Env: map[string]string{"DROVER_X": ""}}, JobSpec{Env: map[string]string{"X": ""}}, "env", "set by drover"},
		{"resources", (*JobSpec).checkResources,
			JobSpec{Executor: ExecutorDocker, Resources: Resources{MemoryMB: 5}},
			JobSpec{Executor: ExecutorDocker, Resources: Resources{MemoryMB: 6}}, "resources.memoryMB", "at least 6 MiB"},
		{"timeout", (*JobSpec).checkTimeout,
			JobSpec{Timeout: -1}, JobSpec{Timeout: 0}, "timeout", "0 for none"},
		{"retries", (*JobSpec).checkRetries,
			JobSpec{RetryOn: []Reason{ReasonWorkerLost}}, JobSpec{RetryOn: []Reason{ReasonExitCode}}, "retryOn", "not a job failure"},
		{"constraints", (*JobSpec).checkConstraints,
			JobSpec{Constraints: map[string]string{"": "x"}}, JobSpec{Constraints: map[string]string{"k": "x"}}, "constraints", "empty name"},
		{"priority", (*JobSpec).checkPriority,
			JobSpec{Priority: MaxPriority + 1}, JobSpec{Priority: MaxPriority}, "priority", "between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *Error
			if err := tt.check(&tt.bad); !errors.As(err, &e) || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("bad spec: %v, want field %s and %q", err, tt.field, tt.msg)
			}
			if err := tt.check(&tt.good); err != nil {
				t.Errorf("good spec: %v", err)
			}
		})
	}
}
