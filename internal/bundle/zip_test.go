package bundle

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// writeTree creates files under dir: a path ending in "/" is a directory, a
// value starting with "->" a symbolic link to the rest, and a path ending in
// "*" an executable file.
func writeTree(t testing.TB, dir string, tree map[string]string) {
	t.Helper()
	for p, content := range tree {
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(p, "*") {
			p, mode = strings.TrimSuffix(p, "*"), 0o755
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(p, "/"):
			err = os.MkdirAll(full, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(strings.TrimPrefix(content, "->"), full)
		default:
			err = os.WriteFile(full, []byte(content), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listZip returns "name mode" for each entry of b, in order.
func listZip(t testing.TB, b []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range zr.File {
		out = append(out, f.Name+" "+f.Mode().String())
		if !f.Modified.Equal(zipTime) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, zipTime)
		}
	}
	return out
}

func TestZipRoundTrip(t *testing.T) {
	parent := t.TempDir()
	folder := filepath.Join(parent, "job")
	writeTree(t, parent, map[string]string{
		"outside.txt": "secret outside",
		"job/.droverignore": `# build outputs
*.log
!keep.log
/build/
node_modules/
secret/**
`,
		"job/run.sh*":                     "#!/bin/sh\n",
		"job/README":                      "read me",
		"job/src/main.go":                 "package main",
		"job/src/lib/x.go":                "package lib",
		"job/empty/":                      "",
		"job/logs/a.log":                  "noise",
		"job/keep.log":                    "kept",
		"job/build/out":                   "binary",
		"job/sub/build/kept":              "only /build is anchored",
		"job/node_modules/pkg/index.js":   "x",
		"job/sub/node_modules/pkg/i.js":   "x",
		"job/secret/key":                  "k",
		"job/link-in":                     "->src/main.go",
		"job/link-out":                    "->../outside.txt",
		"job/link-abs":                    "->" + filepath.Join(parent, "outside.txt"),
		"job/link-dir":                    "->src",
		"job/link-dangling":               "->nowhere",
		"job/link-up-and-back":            "->../job/README",
		"job/src/lib/link-sibling":        "->x.go",
		"job/src/lib/link-parent-in-tree": "->../main.go",
	})

	var buf bytes.Buffer
	files, n, err := Zip(&buf, folder)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		".droverignore -rw-r--r--",
		"README -rw-r--r--",
		"empty/ drwxr-xr-x",
		"keep.log -rw-r--r--",
		"link-in -rw-r--r--",
		"logs/ drwxr-xr-x",
		"run.sh -rwxr-xr-x",
		"secret/ drwxr-xr-x",
		"src/ drwxr-xr-x",
		"src/lib/ drwxr-xr-x",
		"src/lib/link-parent-in-tree -rw-r--r--",
		"src/lib/link-sibling -rw-r--r--",
		"src/lib/x.go -rw-r--r--",
		"src/main.go -rw-r--r--",
		"sub/ drwxr-xr-x",
		"sub/build/ drwxr-xr-x",
		"sub/build/kept -rw-r--r--",
	}
	if got := listZip(t, buf.Bytes()); !slices.Equal(got, want) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantBytes := int64(len("# build outputs\n*.log\n!keep.log\n/build/\nnode_modules/\nsecret/**\n") + len("read me") +
		len("kept") + len("package main") + len("#!/bin/sh\n") + len("package main") + len("package lib") +
		len("package lib") + len("package main") + len("only /build is anchored"))
	if files != 10 || n != wantBytes {
		t.Errorf("Zip = %d files, %d bytes; want 10, %d", files, n, wantBytes)
	}

	b := buf.Bytes()
	info, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Files != files || info.Unpacked != n {
		t.Errorf("Inspect = %+v, want %d files, %d bytes", info, files, n)
	}
	base, ws := workspace(t)
	if _, err := Extract(bytes.NewReader(b), int64(len(b)), ws, Limits{}); err != nil {
		t.Fatal(err)
	}
	confined(t, base, ws)
	for p, content := range map[string]string{
		"link-in":                     "package main",
		"src/lib/link-parent-in-tree": "package main",
		"sub/build/kept":              "only /build is anchored",
		"run.sh":                      "#!/bin/sh\n",
	} {
		if got, err := os.ReadFile(filepath.Join(ws, p)); err != nil || string(got) != content {
			t.Errorf("%s = %q, %v; want %q", p, got, err, content)
		}
	}
	if fi, err := os.Stat(filepath.Join(ws, "run.sh")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("run.sh lost its execute bits: %v %v", fi.Mode(), err)
	}
}

func TestZipDeterministic(t *testing.T) {
	folder := t.TempDir()
	writeTree(t, folder, map[string]string{"b/c": "c", "a": "a", "x*": "x", "d/": ""})
	zipIt := func() []byte {
		var buf bytes.Buffer
		if _, _, err := Zip(&buf, folder); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := zipIt()
	later := time.Now().Add(-48 * time.Hour)
	filepath.WalkDir(folder, func(p string, _ fs.DirEntry, _ error) error { return os.Chtimes(p, later, later) })
	if second := zipIt(); !bytes.Equal(first, second) {
		t.Error("zipping the same folder twice gave different bytes")
	}
	os.WriteFile(filepath.Join(folder, "a"), []byte("changed"), 0o644)
	if third := zipIt(); bytes.Equal(first, third) {
		t.Error("changed content gave the same bytes")
	}
}

func TestZipErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree map[string]string
		code string
		msg  string
	}{
		{"backslash in a name", map[string]string{`a\b`: "x"}, drover.EINVALID, `file "a\\b" uses backslashes`},
		{"backslash in an ignored name", map[string]string{`a\b`: "x", ".droverignore": "a*"}, "", ""},
		{"drive-like name", map[string]string{`c:x`: "x"}, drover.EINVALID, `file "c:x" is a Windows drive path`},
		{"bad ignore pattern", map[string]string{".droverignore": "[", "a": ""}, drover.EINVALID, ".droverignore line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			folder := t.TempDir()
			writeTree(t, folder, tc.tree)
			_, _, err := Zip(new(bytes.Buffer), folder)
			if got := drover.ErrorCode(err); got != tc.code {
				t.Fatalf("Zip = %v, want code %q", err, tc.code)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not contain %q", err, tc.msg)
			}
		})
	}
	if _, _, err := Zip(new(bytes.Buffer), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Zip of a missing folder succeeded")
	}
}
