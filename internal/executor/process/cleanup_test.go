//go:build linux

package process

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCleanupKillsOnlyItsOwnLeftovers: a process of a workspace of this
// work dir is killed unless its attempt is kept; one of a work dir nested
// inside, or of another attempt's name, is left alone.
func TestCleanupKillsOnlyItsOwnLeftovers(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "other-worker")
	spawnEnv := func(env ...string) *exec.Cmd {
		cmd := exec.Command("sleep", "300")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	// As drover versions before DROVER_WORKSPACE left them: found by HOME.
	spawn := func(home, attempt string) *exec.Cmd {
		return spawnEnv("HOME="+home, "DROVER_ATTEMPT_ID="+attempt)
	}
	// A job that set its own HOME is found by DROVER_WORKSPACE.
	ownHome := spawnEnv("HOME=/root", "DROVER_ATTEMPT_ID=att_home", "DROVER_WORKSPACE="+filepath.Join(root, "att_home-5"))
	orphan := spawn(filepath.Join(root, "att_orphan-123"), "att_orphan")
	kept := spawn(filepath.Join(root, "att_kept-456"), "att_kept")
	theirs := spawn(filepath.Join(nested, "att_theirs-789"), "att_theirs")
	mismatched := spawn(filepath.Join(root, "att_other-1"), "att_mine")

	e := New(nil)
	e.SetWorkDir(root)
	n, err := e.Cleanup(context.Background(), func(id string) bool { return id == "att_kept" })
	if err != nil || n != 2 {
		t.Fatalf("Cleanup killed %d, %v; want 2", n, err)
	}
	for name, c := range map[string]*exec.Cmd{"orphan": orphan, "orphan with its own HOME": ownHome} {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the %s is still running", name)
		}
	}
	for name, c := range map[string]*exec.Cmd{"kept": kept, "nested work dir": theirs, "another attempt's workspace": mismatched} {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("%s process was killed: %v", name, err)
		}
	}
}
