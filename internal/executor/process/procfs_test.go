//go:build linux

package process

import (
	"syscall"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		line  string
		state byte
		pgrp  string
		ok    bool
	}{
		{"42 (sleep) S 1 42 42 0 -1", 'S', "42", true},
		{"7 (a) b (c) Z 1 99 7 0", 'Z', "99", true},
		{"8 (with space) R 2 3", 'R', "3", true},
		{"9 (short) S 1", 0, "", false},
		{"garbage", 0, "", false},
	}
	for _, tt := range tests {
		state, pgrp, ok := parseStat([]byte(tt.line))
		if state != tt.state || string(pgrp) != tt.pgrp || ok != tt.ok {
			t.Errorf("parseStat(%q) = %q, %q, %v; want %q, %q, %v", tt.line, state, pgrp, ok, tt.state, tt.pgrp, tt.ok)
		}
	}
}

func TestGroupAlive(t *testing.T) {
	// This test process is alive, in its process group.
	if !groupAlive(syscall.Getpgrp()) {
		t.Error("the test's own process group is not seen alive")
	}
}
