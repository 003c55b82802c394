//go:build unix

package bundle

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestZipSkipsSpecialFiles checks that a pipe, or a link to one, is skipped
// rather than opened, which would block.
func TestZipSkipsSpecialFiles(t *testing.T) {
	folder := t.TempDir()
	writeTree(t, folder, map[string]string{"a": "a", "link-to-pipe": "->pipe"})
	if err := syscall.Mkfifo(filepath.Join(folder, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	files, _, err := Zip(&buf, folder)
	if err != nil {
		t.Fatal(err)
	}
	if got := listZip(t, buf.Bytes()); files != 1 || !slices.Equal(got, []string{"a -rw-r--r--"}) {
		t.Errorf("Zip stored %d files: %q; want only a", files, got)
	}
}

// TestExtractIgnoresUmask checks that the modes a job sees do not depend on
// the umask of the worker. The umask is process-wide, so this test must not
// run in parallel with others.
func TestExtractIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	b := buildZip(t,
		zent{name: "d/x.sh", mode: 0o755, data: []byte("x")},
		zent{name: "d/y", data: []byte("y")},
	)
	ws := t.TempDir()
	if _, err := Extract(bytes.NewReader(b), int64(len(b)), ws, Limits{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{"d": fs.ModeDir | 0o755, "d/x.sh": 0o755, "d/y": 0o644} {
		fi, err := os.Stat(filepath.Join(ws, p))
		if err != nil {
			t.Error(err)
		} else if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
}
