package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/drover-dev/drover"
)

// zent is one entry of an archive built by a test.
type zent struct {
	name  string
	mode  fs.FileMode // 0 means a 0644 file
	data  []byte
	store bool   // stored rather than deflated
	flags uint16 // extra general purpose flags
	// raw writes data as already compressed with method, declaring
	// declared as the uncompressed size: a header that may lie.
	raw      bool
	method   uint16
	declared uint64
}

func buildZip(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
		if e.store {
			h.Method = zip.Store
		}
		if e.mode == 0 {
			e.mode = 0o644
		}
		h.SetMode(e.mode)
		if e.raw {
			h.Method = e.method
			h.CRC32 = crc32.ChecksumIEEE(e.data)
			h.CompressedSize64 = uint64(len(e.data))
			h.UncompressedSize64 = e.declared
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e.data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// overlapping returns an archive whose second central directory record points
// at the first entry's data, the trick behind non-recursive zip bombs.
func overlapping(t testing.TB) []byte {
	data := bytes.Repeat([]byte("x"), 100)
	b := buildZip(t, zent{name: "a", data: data, store: true}, zent{name: "b", data: data, store: true})
	sig := []byte("PK\x01\x02")
	first := bytes.Index(b, sig)
	second := first + 1 + bytes.Index(b[first+1:], sig)
	copy(b[second+42:second+46], b[first+42:first+46]) // local header offset
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var zeros50MB = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("zeros.bin")
	w.Write(make([]byte, 50<<20))
	zw.Close()
	return buf.Bytes()
})

// manySmallBombs is 30 entries of 1 MiB of zeros: each stays under the
// per-entry grace, the whole does not.
func manySmallBombs(t testing.TB) []byte {
	var ents []zent
	for i := range 30 {
		ents = append(ents, zent{name: "z/" + strings.Repeat("x", i+1), data: make([]byte, 1<<20)})
	}
	return buildZip(t, ents...)
}

type hostileCase struct {
	name string
	zip  func(testing.TB) []byte
	lim  Limits
	code string
	msg  string
	// static cases are refused before anything is written.
	static bool
}

func one(e zent) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return buildZip(t, e) }
}

func entries(ents ...zent) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return buildZip(t, ents...) }
}

func hostileCases() []hostileCase {
	hi := []byte("hi\n")
	symlink := fs.ModeSymlink | 0o777
	return []hostileCase{
		{"traversal", one(zent{name: "../../etc/passwd", data: hi}), Limits{}, drover.EINVALID, `entry "../../etc/passwd" escapes the workspace`, true},
		{"traversal after a folder", one(zent{name: "a/../../x", data: hi}), Limits{}, drover.EINVALID, `entry "a/../../x" escapes the workspace`, true},
		{"traversal after dot", one(zent{name: "./../x", data: hi}), Limits{}, drover.EINVALID, `entry "./../x" escapes the workspace`, true},
		{"dot dot alone", one(zent{name: "..", data: hi}), Limits{}, drover.EINVALID, `entry ".." escapes the workspace`, true},
		{"dot dot directory", one(zent{name: "../", mode: fs.ModeDir | 0o755}), Limits{}, drover.EINVALID, `entry "../" escapes the workspace`, true},
		{"absolute", one(zent{name: "/etc/passwd", data: hi}), Limits{}, drover.EINVALID, `entry "/etc/passwd" is an absolute path`, true},
		{"absolute double slash", one(zent{name: "//tmp/x", data: hi}), Limits{}, drover.EINVALID, `entry "//tmp/x" is an absolute path`, true},
		{"drive letter backslash", one(zent{name: `C:\x`, data: hi}), Limits{}, drover.EINVALID, `entry "C:\\x" is a Windows drive path`, true},
		{"drive letter slash", one(zent{name: "c:/x", data: hi}), Limits{}, drover.EINVALID, `entry "c:/x" is a Windows drive path`, true},
		{"backslash traversal", one(zent{name: `..\x`, data: hi}), Limits{}, drover.EINVALID, `entry "..\\x" uses backslashes`, true},
		{"backslash inside", one(zent{name: `a\..\..\x`, data: hi}), Limits{}, drover.EINVALID, `entry "a\\..\\..\\x" uses backslashes`, true},
		{"NUL byte", one(zent{name: "a\x00b", data: hi}), Limits{}, drover.EINVALID, `entry "a\x00b" contains a NUL byte`, true},
		{"empty name", one(zent{name: "", data: hi}), Limits{}, drover.EINVALID, `entry #1 has an empty name`, true},
		{"file named dot", one(zent{name: "a/..", data: hi}), Limits{}, drover.EINVALID, `entry "a/.." names the workspace itself`, true},
		{"long segment", one(zent{name: strings.Repeat("a", 256), data: hi}), Limits{}, drover.EINVALID, "has a path segment longer than 255 bytes", true},
		{"too deep", one(zent{name: strings.Repeat("d/", 65) + "f", data: hi}), Limits{}, drover.EINVALID, "is inside 65 folders; the limit is 64", true},
		{"too deep for a lower limit", one(zent{name: "a/b/c/f", data: hi}), Limits{MaxDepth: 2}, drover.EINVALID, "is inside 3 folders; the limit is 2", true},
		{"long path", one(zent{name: strings.Repeat("abcdefg/", 512) + "x", data: hi}), Limits{}, drover.EINVALID, "is longer than 4095 bytes", true},
		{"symlink out", one(zent{name: "etc", mode: symlink, data: []byte("/etc")}), Limits{}, drover.EINVALID, `entry "etc" is a symbolic link`, true},
		{"symlink up", one(zent{name: "up", mode: symlink, data: []byte("../..")}), Limits{}, drover.EINVALID, `entry "up" is a symbolic link`, true},
		{"symlink in", entries(zent{name: "a.txt", data: hi}, zent{name: "b.txt", mode: symlink, data: []byte("a.txt")}), Limits{}, drover.EINVALID, `entry "b.txt" is a symbolic link`, true},
		{"write through symlink", entries(zent{name: "l", mode: symlink, data: []byte("/tmp")}, zent{name: "l/x", data: hi}), Limits{}, drover.EINVALID, `entry "l" is a symbolic link`, true},
		{"symlink directory entry", one(zent{name: "d/", mode: symlink}), Limits{}, drover.EINVALID, `entry "d/" is a symbolic link`, true},
		{"char device", one(zent{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), Limits{}, drover.EINVALID, `entry "null" is a character device`, true},
		{"block device", one(zent{name: "sda", mode: fs.ModeDevice | 0o660}), Limits{}, drover.EINVALID, `entry "sda" is a block device`, true},
		{"fifo", one(zent{name: "pipe", mode: fs.ModeNamedPipe | 0o644}), Limits{}, drover.EINVALID, `entry "pipe" is a named pipe`, true},
		{"socket", one(zent{name: "sock", mode: fs.ModeSocket | 0o755}), Limits{}, drover.EINVALID, `entry "sock" is a socket`, true},
		{"encrypted", one(zent{name: "secret", data: hi, flags: 0x1}), Limits{}, drover.EINVALID, `entry "secret" is encrypted`, true},
		{"unknown method", one(zent{name: "x.bz2", data: hi, raw: true, method: 12, declared: 3}), Limits{}, drover.EINVALID, `entry "x.bz2" uses compression method 12`, true},
		{"directory with content", one(zent{name: "d", mode: fs.ModeDir | 0o755, data: hi, raw: true, declared: 3}), Limits{}, drover.EINVALID, `entry "d" is a directory but has content`, true},
		{"duplicate", entries(zent{name: "a.txt", data: hi}, zent{name: "a.txt", data: hi}), Limits{}, drover.EINVALID, `entry "a.txt" appears twice`, true},
		{"duplicate once cleaned", entries(zent{name: "a/b", data: hi}, zent{name: "a/./b", data: hi}), Limits{}, drover.EINVALID, `entry "a/./b" is the same path as entry "a/b"`, true},
		{"duplicate directory", entries(zent{name: "d/", mode: fs.ModeDir | 0o755}, zent{name: "d/", mode: fs.ModeDir | 0o755}), Limits{}, drover.EINVALID, `entry "d/" appears twice`, true},
		{"file and directory", entries(zent{name: "a", data: hi}, zent{name: "a/", mode: fs.ModeDir | 0o755}), Limits{}, drover.EINVALID, `entry "a/" is the same path as entry "a"`, true},
		{"inside a file", entries(zent{name: "a", data: hi}, zent{name: "a/b", data: hi}), Limits{}, drover.EINVALID, `entry "a/b" is inside "a", which is a file`, true},
		{"file over a folder", entries(zent{name: "a/b", data: hi}, zent{name: "a", data: hi}), Limits{}, drover.EINVALID, `entry "a" is a file, but other entries are inside it`, true},
		{"too many files", entries(zent{name: "a"}, zent{name: "b"}, zent{name: "c"}, zent{name: "d/", mode: fs.ModeDir | 0o755}), Limits{MaxFiles: 3}, drover.ETOOLARGE, "bundle has more than the limit of 3 entries", true},
		{"too many implied folders", one(zent{name: "a/b/c/f", data: hi}), Limits{MaxFiles: 3}, drover.ETOOLARGE, "counting the folders its paths imply", true},
		{"deep folders from few entries", func(t testing.TB) []byte {
			// 200 entries, each 60 folders deep: 12,000 folders to make.
			var ents []zent
			for i := range 200 {
				ents = append(ents, zent{name: fmt.Sprintf("x%d/", i) + strings.Repeat("d/", 59) + "f"})
			}
			return buildZip(t, ents...)
		}, Limits{}, drover.ETOOLARGE, "more than the limit of 10000 files and folders", true},
		{"over compressed size", one(zent{name: "a", data: randomBytes(500)}), Limits{MaxCompressed: 400}, drover.ETOOLARGE, "; the limit is 400", true},
		{"over unpacked size", entries(zent{name: "a", data: randomBytes(600)}, zent{name: "b", data: randomBytes(600)}), Limits{MaxUnpacked: 1000}, drover.ETOOLARGE, `entry "b" takes the bundle past the limit of 1000 unpacked bytes`, true},
		{"zip bomb", func(testing.TB) []byte { return zeros50MB() }, Limits{}, drover.EINVALID, `entry "zeros.bin" expands more than 100:1`, true},
		{"many small bombs", manySmallBombs, Limits{}, drover.EINVALID, `takes the bundle past 100:1 expansion`, true},
		{"overlapping entries", overlapping, Limits{}, drover.EINVALID, `entry "b" overlaps entry "a"`, true},
		{"header claims less", one(zent{name: "liar", data: randomBytes(1000), raw: true, method: zip.Store, declared: 10}), Limits{}, drover.EINVALID, `entry "liar" is corrupt`, false},
		{"header claims more", one(zent{name: "liar", data: randomBytes(1000), raw: true, method: zip.Store, declared: 5000}), Limits{}, drover.EINVALID, `entry "liar" is corrupt`, false},
		{"header claims huge", one(zent{name: "liar", data: randomBytes(1000), raw: true, method: zip.Store, declared: 1 << 40}), Limits{MaxRatio: 1 << 31}, drover.ETOOLARGE, `entry "liar" takes the bundle past the limit`, true},
		{"bad checksum", func(t testing.TB) []byte {
			b := buildZip(t, zent{name: "f.txt", data: []byte("hello, world"), store: true})
			i := bytes.Index(b, []byte("hello"))
			b[i] = 'j'
			return b
		}, Limits{}, drover.EINVALID, `entry "f.txt" is corrupt: its checksum does not match`, false},
		{"bad deflate data", func(t testing.TB) []byte {
			b := buildZip(t, zent{name: "f.txt", data: bytes.Repeat([]byte("hello, world "), 100)})
			i := bytes.Index(b, []byte("f.txt")) + len("f.txt") // the data follows the name in the local header
			for j := range 8 {
				b[i+j] = 0xff
			}
			return b
		}, Limits{}, drover.EINVALID, `entry "f.txt" is corrupt`, false},
		{"not a zip", func(testing.TB) []byte { return []byte("this is not a zip file at all") }, Limits{}, drover.EINVALID, "bundle is not a valid ZIP archive", true},
		{"truncated", func(t testing.TB) []byte {
			b := buildZip(t, zent{name: "a", data: randomBytes(1000)})
			return b[:len(b)/2]
		}, Limits{}, drover.EINVALID, "bundle is not a valid ZIP archive", true},
	}
}

// workspace returns an empty directory three levels below a fresh temporary
// base, so that an escape of up to three ".." lands where confined can see it.
func workspace(t testing.TB) (base, ws string) {
	base = t.TempDir()
	ws = filepath.Join(base, "1", "2", "ws")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	return base, ws
}

// confined fails the test if anything under base is outside ws, other than
// the folders leading to it, or if ws holds anything but regular files and
// directories.
func confined(t testing.TB, base, ws string) {
	t.Helper()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(ws, p)
		if err != nil {
			return err
		}
		inside := filepath.IsLocal(rel)
		if !inside && !strings.HasPrefix(ws, p) {
			t.Errorf("%s was created outside the workspace", p)
		}
		if inside && !d.IsDir() && !d.Type().IsRegular() {
			t.Errorf("%s has type %v; only files and directories may be extracted", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostileArchives(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.zip(t)
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s accepted the archive", what)
				}
				if got := drover.ErrorCode(err); got != tc.code {
					t.Errorf("%s: code %q, want %q (%v)", what, got, tc.code, err)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: message %q does not contain %q", what, err, tc.msg)
				}
			}
			_, err := Inspect(bytes.NewReader(b), int64(len(b)), tc.lim)
			check("Inspect", err)

			base, ws := workspace(t)
			_, err = Extract(bytes.NewReader(b), int64(len(b)), ws, tc.lim)
			check("Extract", err)
			confined(t, base, ws)
			if tc.static {
				if left, _ := os.ReadDir(ws); len(left) > 0 {
					t.Errorf("refused archive left %d entries in the workspace", len(left))
				}
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		in, clean, problem string
	}{
		{"a.txt", "a.txt", ""},
		{"a/b/c", "a/b/c", ""},
		{"a//b/./c/", "a/b/c", ""},
		{"a/../b", "b", ""},
		{"./", ".", ""},
		{"..a/b..", "..a/b..", ""},
		{"ab:c", "ab:c", ""}, // a colon is an ordinary character on Linux
		{"", "", "has an empty name"},
		{"..", "", "escapes the workspace"},
		{"a/../..", "", "escapes the workspace"},
		{"/a", "", "is an absolute path; use paths relative to the bundle root"},
		{"Z:x", "", "is a Windows drive path; use paths relative to the bundle root"},
		{`a\b`, "", `uses backslashes; ZIP paths use "/"`},
	} {
		clean, problem := checkPath(tc.in)
		if clean != tc.clean || problem != tc.problem {
			t.Errorf("checkPath(%q) = %q, %q; want %q, %q", tc.in, clean, problem, tc.clean, tc.problem)
		}
	}
}

// TestBudget drives the byte counting directly: archive/zip already refuses
// data longer than its header declares, so the checks on real bytes are a
// second line that archives cannot reach on their own.
func TestBudget(t *testing.T) {
	lim := Limits{MaxUnpacked: 10 << 20, MaxRatio: 10}.WithDefaults()
	for _, tc := range []struct {
		name       string
		size       int64 // archive bytes
		compressed int64 // entry bytes
		adds       []int64
		code, msg  string
	}{
		{"within", 1 << 20, 1 << 20, []int64{1 << 20, 1 << 20}, "", ""},
		{"small entries are exempt from the ratio", 1 << 20, 10, []int64{ratioGrace}, "", ""},
		{"entry ratio", 1 << 30, 200 << 10, []int64{1 << 20, 1 << 20, 1}, drover.EINVALID, `entry "e" expands more than 10:1 from its 204800 compressed bytes`},
		{"whole ratio", 200 << 10, 1 << 20, []int64{ratioGrace, ratioGrace, 1}, drover.EINVALID, "past 10:1 expansion of its 204800 bytes"},
		{"unpacked", 1 << 30, 1 << 30, []int64{10 << 20, 1}, drover.ETOOLARGE, "past the limit of 10485760 unpacked bytes"},
		{"no overflow", 1 << 30, math.MaxInt64, []int64{1 << 62}, drover.ETOOLARGE, "unpacked bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudget(lim, tc.size)
			e := &entry{name: "e", compressed: tc.compressed}
			var done int64
			var err error
			for _, n := range tc.adds {
				if err = b.add(e, done, n); err != nil {
					break
				}
				done += n
			}
			if got := drover.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not contain %q", err, tc.msg)
			}
		})
	}
}

func TestShortName(t *testing.T) {
	long := strings.Repeat("a", 199) + "é" + strings.Repeat("b", 100)
	for _, tc := range []struct{ in, want string }{
		{"a/b.txt", "a/b.txt"},
		{strings.Repeat("x", 200), strings.Repeat("x", 200)},
		{strings.Repeat("x", 201), strings.Repeat("x", 200) + "…"},
		{long, strings.Repeat("a", 199) + "…"}, // never cuts a rune in two
	} {
		if got := shortName(tc.in); got != tc.want {
			t.Errorf("shortName(%d bytes) = %q, want %q", len(tc.in), got, tc.want)
		}
	}
}

// TestFraming: at upload (Inspect), bytes before or after the archive are
// refused; an archive that ends in a comment, the empty archive and Info-ZIP's
// one-segment split are not. Extract, a worker's, does not look (it checks
// the hash, and bundles stored before the check must still unpack).
func TestFraming(t *testing.T) {
	a := buildZip(t, zent{name: "a", data: []byte("hi\n")})
	for name, b := range map[string][]byte{
		"before": append([]byte("--boundary\r\nContent-Disposition: form-data; name=\"bundle\"\r\n\r\n"), a...),
		"after":  append(slices.Clip(a), "\r\n--boundary--\r\n"...),
	} {
		_, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{})
		if !drover.IsCode(err, drover.EINVALID) || !strings.Contains(err.Error(), "bytes "+name+" its ZIP archive") {
			t.Errorf("Inspect with bytes %s: %v", name, err)
		}
		_, ws := workspace(t)
		if _, err := Extract(bytes.NewReader(b), int64(len(b)), ws, Limits{}); err != nil {
			t.Errorf("Extract with bytes %s: %v", name, err)
		}
	}
	split := append([]byte("PK\x07\x08"), a...) // what zip -s writes for one segment; its offsets are off by 4, which archive/zip corrects
	if _, err := Inspect(bytes.NewReader(split), int64(len(split)), Limits{}); err != nil {
		t.Errorf("Inspect of a one-segment split archive: %v", err)
	}
}

// TestFramingAccepts archives that end in a comment, and the empty archive:
// only bytes outside the archive are refused.
func TestFramingAccepts(t *testing.T) {
	var withComment bytes.Buffer
	zw := zip.NewWriter(&withComment)
	if w, err := zw.Create("a.txt"); err != nil {
		t.Fatal(err)
	} else if _, err := w.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.SetComment("made by hand"); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var empty bytes.Buffer
	if err := zip.NewWriter(&empty).Close(); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"comment": withComment.Bytes(), "empty": empty.Bytes()} {
		if _, err := Inspect(bytes.NewReader(b), int64(len(b)), Limits{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
