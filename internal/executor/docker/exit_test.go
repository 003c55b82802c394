package docker

import (
	"testing"

	"github.com/drover-dev/drover"
)

func TestExitResult(t *testing.T) {
	const (
		tiniMissing = "[FATAL tini (7)] exec nosuchcmd failed: No such file or directory\n"
		tiniNoSh    = "[FATAL tini (7)] exec sh failed: No such file or directory\n"
		oomMsg      = "killed for exceeding its memory limit of 64 MiB"
	)
	list := drover.JobSpec{Command: drover.Command{"nosuchcmd"}, Resources: drover.Resources{MemoryMB: 64}}
	shell := drover.JobSpec{Command: drover.Command{"sh", "-c", "echo hi"}, Resources: drover.Resources{MemoryMB: 64}}
	for _, tc := range []struct {
		name         string
		spec         drover.JobSpec
		code         int
		stopped, oom bool
		stderr       string
		reason       drover.Reason
		msg          string
	}{
		{name: "success", spec: list, code: 0},
		{name: "success after a child's OOM kill", spec: list, code: 0, oom: true},
		{name: "a plain failure", spec: list, code: 3, stderr: tiniMissing},
		{name: "a plain kill", spec: list, code: 137},
		{name: "killed for memory", spec: list, code: 137, oom: true, reason: drover.ReasonOOMKilled, msg: oomMsg},
		{name: "failed after a child's OOM kill", spec: list, code: 1, oom: true,
			msg: "exited with code 1 after a process of it was killed for exceeding the memory limit of 64 MiB"},
		{name: "stopped by drover", spec: list, code: 137, stopped: true, oom: true, stderr: tiniMissing},
		{name: "missing command", spec: list, code: 127, stderr: tiniMissing,
			msg: "cannot run the command: exec nosuchcmd failed: No such file or directory"},
		{name: "the command's own 127", spec: list, code: 127, stderr: "sh: nosuchcmd: not found\n"},
		{name: "a string command without sh", spec: shell, code: 127, stderr: tiniNoSh,
			msg: "cannot run the command: exec sh failed: No such file or directory (the image has no sh to run a command given as one string: give it as a list of arguments, or use an image with a shell)"},
		{name: "a list naming a missing sh", spec: drover.JobSpec{Command: drover.Command{"sh", "x"}}, code: 127, stderr: tiniNoSh,
			msg: "cannot run the command: exec sh failed: No such file or directory"},
		{name: "an OOM kill says more than docker-init", spec: list, code: 127, oom: true, stderr: tiniMissing,
			msg: "exited with code 127 after a process of it was killed for exceeding the memory limit of 64 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := exitResult(&tc.spec, tc.code, tc.stopped, tc.oom, tc.stderr)
			if res.ExitCode == nil || *res.ExitCode != tc.code || res.Reason != tc.reason || res.Message != tc.msg {
				t.Errorf("got code %s, reason %q, message %q; want %d, %q, %q", exitCode(res), res.Reason, res.Message, tc.code, tc.reason, tc.msg)
			}
		})
	}
}
