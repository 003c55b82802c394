//go:build linux

package process

import (
	"bytes"
	"os"
	"strconv"
)

// groupAlive reports whether any process other than a zombie is in process
// group pgid, by reading /proc/<pid>/stat for every process. It reports
// false when /proc cannot be read: the caller then kills the group, which
// is the safe side. Threads other than a process's main thread are not
// looked at, so a process whose main thread exited before the others
// counts as gone.
func groupAlive(pgid int) bool {
	dir, err := os.Open("/proc")
	if err != nil {
		return false
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return false
	}
	want := []byte(strconv.Itoa(pgid))
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone since the listing
		}
		state, pgrp, ok := parseStat(b)
		if ok && state != 'Z' && bytes.Equal(pgrp, want) {
			return true
		}
	}
	return false
}

// parseStat returns the state and the process group fields of a
// /proc/<pid>/stat line: "pid (comm) state ppid pgrp ...". comm may hold
// spaces and parentheses, so fields are counted from its last ')'.
func parseStat(b []byte) (state byte, pgrp []byte, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, nil, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, nil, false
	}
	return f[0][0], f[2], true
}
