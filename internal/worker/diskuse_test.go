//go:build linux

package worker

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// refDiskUse is the plain reference: every entry under dir (dir included)
// by path, each inode once.
func refDiskUse(t *testing.T, dir string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !seen[st.Ino] {
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func writeBytes(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", n)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiskUseCountsAllocatedBlocksOnce(t *testing.T) {
	dir := t.TempDir()
	writeBytes(t, filepath.Join(dir, "a"), 100<<10)
	writeBytes(t, filepath.Join(dir, "sub", "deeper", "b"), 10<<10)
	// A hard link is the same blocks: counted once.
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "sub", "a-again")); err != nil {
		t.Fatal(err)
	}
	// A link is not followed: what it points to is not in the workspace.
	outside := filepath.Join(t.TempDir(), "big")
	writeBytes(t, outside, 1<<20)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	// A sparse file holds what it allocated, not its size.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()

	got, err := diskUse(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := refDiskUse(t, dir); got != want {
		t.Errorf("diskUse = %d, want %d (each inode's blocks once)", got, want)
	}
	if got < 110<<10 || got >= 1<<20 {
		t.Errorf("diskUse = %d: want the files' 110 KiB and their folders, not the link's target nor the sparse size", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "a"), &st); err != nil {
		t.Fatal(err)
	}
	twice, _ := diskUse(filepath.Join(dir, "sub"), 0)
	if twice < st.Blocks*512 {
		t.Errorf("a folder holding a link of a: %d, want a's %d bytes counted there", twice, st.Blocks*512)
	}
}

// Past stopAt the walk stops: its cost is bounded by the limit, not by all
// the files a job made.
func TestDiskUseStopsAtTheLimit(t *testing.T) {
	dir := t.TempDir()
	for i := range 100 {
		writeBytes(t, filepath.Join(dir, strconv.Itoa(i%10), strconv.Itoa(i)), 64<<10)
	}
	all, err := diskUse(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	stopAt := int64(10 * 64 << 10)
	got, err := diskUse(dir, stopAt)
	if err != nil {
		t.Fatal(err)
	}
	if got < stopAt || got >= all {
		t.Errorf("diskUse(stopAt %d) = %d; want at least stopAt and less than the %d of the whole walk", stopAt, got, all)
	}
}

func TestDiskUseRefusesFoldersNestedTooDeep(t *testing.T) {
	dir := t.TempDir()
	deep := dir
	for range maxWalkDepth {
		deep = filepath.Join(deep, "d")
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := diskUse(dir, 0); err != nil {
		t.Fatalf("%d levels: %v, want them measured", maxWalkDepth, err)
	}
	if err := os.Mkdir(filepath.Join(deep, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := diskUse(dir, 0); !errors.Is(err, errTooDeep) {
		t.Errorf("%d levels: err = %v, want errTooDeep", maxWalkDepth+1, err)
	}
}
