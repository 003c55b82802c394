package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

// goodArchive holds what real tools write: nested paths, explicit and
// implied directories, a root entry, executables, odd modes, stored and
// deflated entries, an empty file and a file compressible well past 100:1
// but small enough to be exempt.
func goodArchive(t testing.TB) []byte {
	return buildZip(t,
		zent{name: "./", mode: fs.ModeDir | 0o755},
		zent{name: "run.sh", mode: 0o755, data: []byte("#!/bin/sh\necho hi\n")},
		zent{name: "lib/", mode: fs.ModeDir | 0o700},
		zent{name: "lib/util.py", mode: 0o600, data: []byte("print('x')\n"), store: true},
		zent{name: "bin/tool", mode: fs.ModeSetuid | fs.ModeSetgid | 0o4755, data: []byte("\x7fELF")},
		zent{name: "bin/owner-only", mode: 0o700, data: []byte("x")},
		zent{name: "data/deep/er/blank.csv", data: make([]byte, 512<<10)},
		zent{name: "data/empty", data: nil},
		zent{name: "empty-dir/", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		zent{name: "odd/./name//x", data: []byte("y")},
	)
}

func TestExtractGoodArchive(t *testing.T) {
	b := goodArchive(t)
	base, ws := workspace(t)
	info, err := Extract(bytes.NewReader(b), int64(len(b)), ws, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	confined(t, base, ws)
	sum := sha256.Sum256(b)
	want := Info{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), Files: 7, Unpacked: 18 + 11 + 4 + 1 + 512<<10 + 1}
	if info != want {
		t.Errorf("Extract info = %+v, want %+v", info, want)
	}
	inspected, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{})
	if err != nil || inspected != want {
		t.Errorf("Inspect = %+v, %v; want %+v", inspected, err, want)
	}

	for _, tc := range []struct {
		path string
		mode fs.FileMode
		data string // checked when not empty
	}{
		{"run.sh", 0o755, "#!/bin/sh\necho hi\n"},
		{"lib", fs.ModeDir | 0o755, ""},
		{"lib/util.py", 0o644, "print('x')\n"},
		{"bin", fs.ModeDir | 0o755, ""},
		{"bin/tool", 0o755, "\x7fELF"},
		{"bin/owner-only", 0o755, "x"},
		{"data/deep/er", fs.ModeDir | 0o755, ""},
		{"data/deep/er/blank.csv", 0o644, ""},
		{"data/empty", 0o644, ""},
		{"empty-dir", fs.ModeDir | 0o755, ""},
		{"odd/name/x", 0o644, "y"},
	} {
		fi, err := os.Lstat(filepath.Join(ws, tc.path))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
		if tc.data != "" {
			got, _ := os.ReadFile(filepath.Join(ws, tc.path))
			if string(got) != tc.data {
				t.Errorf("%s: content %q, want %q", tc.path, got, tc.data)
			}
		}
	}
	if fi, _ := os.Stat(filepath.Join(ws, "data/deep/er/blank.csv")); fi == nil || fi.Size() != 512<<10 {
		t.Errorf("blank.csv was not extracted whole: %v", fi)
	}
}

func TestExtractWorkspace(t *testing.T) {
	b := goodArchive(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string
		msg   string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "open workspace"},
		{"not empty", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "run.sh"), []byte("old"), 0o644)
			return dir
		}, "is not empty"},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}, "open workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			_, err := Extract(bytes.NewReader(b), int64(len(b)), dir, Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Extract into %s = %v, want an error containing %q", tc.name, err, tc.msg)
			}
			if drover.ErrorCode(err) != drover.EINTERNAL {
				t.Errorf("code %q: a bad workspace is the caller's fault, not the archive's", drover.ErrorCode(err))
			}
		})
	}
}

func TestLimits(t *testing.T) {
	got := Limits{MaxFiles: 5}.WithDefaults()
	want := Limits{MaxCompressed: 100 << 20, MaxUnpacked: 1 << 30, MaxFiles: 5, MaxDepth: 64, MaxRatio: 100}
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
	b := goodArchive(t)
	for _, lim := range []Limits{{MaxCompressed: -1}, {MaxUnpacked: -1}, {MaxFiles: -1}, {MaxDepth: -1}, {MaxRatio: -1}} {
		if _, err := Inspect(bytes.NewReader(b), int64(len(b)), lim); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("Inspect with %+v = %v, want an error naming the negative field", lim, err)
		}
	}
}

// TestInspectShortReader checks that a size larger than the data is noticed
// rather than trusted.
func TestInspectShortReader(t *testing.T) {
	b := goodArchive(t)
	_, err := Inspect(bytes.NewReader(b), int64(len(b))+10, Limits{})
	if !drover.IsCode(err, drover.EINVALID) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Inspect = %v, want a truncated bundle", err)
	}
}

// TestInspectZip64 reads an archive with more entries than a plain ZIP can
// count, which archive/zip writes with ZIP64 records.
func TestInspectZip64(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 65,537-entry archive")
	}
	const n = 1<<16 + 1
	ents := make([]zent, n)
	for i := range ents {
		ents[i] = zent{name: fmt.Sprintf("d%d/f%d", i%100, i), store: true}
	}
	b := buildZip(t, ents...)
	if !bytes.Contains(b, []byte("PK\x06\x06")) {
		t.Fatal("test archive has no ZIP64 end of central directory")
	}
	info, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{MaxFiles: n + 100}) // and the 100 folders they imply
	if err != nil {
		t.Fatal(err)
	}
	if info.Files != n {
		t.Errorf("Files = %d, want %d", info.Files, n)
	}
	if _, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{MaxFiles: n - 1}); !drover.IsCode(err, drover.ETOOLARGE) {
		t.Errorf("Inspect over MaxFiles = %v, want %s", err, drover.ETOOLARGE)
	}
}
