package bundle

import (
	"archive/zip"
	"cmp"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/drover-dev/drover"
)

// Linux limits on a path and on one of its segments, checked up front so that
// an archive Inspect accepts does not fail half-way through Extract.
const (
	maxPathLen    = 4095
	maxSegmentLen = 255
)

// entry is one ZIP entry that passed the checks on its header.
type entry struct {
	f          *zip.File
	name       string      // as stored in the archive, shortened for messages
	path       string      // cleaned, slash-separated, local to the workspace
	dir        bool        // a directory; otherwise a regular file
	perm       fs.FileMode // 0o755 or 0o644 for files
	compressed int64       // compressed bytes, trusted once no entries overlap
}

// archive is a ZIP whose central directory passed every check that needs no
// decompression. These check sizes, names, types, duplicates and overlaps.
// Inspect and Extract both start here, so they refuse the same archives
// with the same messages.
type archive struct {
	size    int64
	sha256  string
	entries []*entry // regular files, in archive order
	dirs    []string // every directory to create, explicit or implied, parents first
}

// open reads and checks the ZIP at r. It hashes the whole archive, so a
// reader that is shorter than size is noticed here.
func open(r io.ReaderAt, size int64, lim Limits) (*archive, error) {
	if size < 0 {
		return nil, fmt.Errorf("bundle size is negative (%d)", size)
	}
	if size > lim.MaxCompressed {
		return nil, drover.Errorf(drover.ETOOLARGE, "bundle is %d bytes; the limit is %d", size, lim.MaxCompressed)
	}
	sum, records, err := hash(r, size)
	if err != nil {
		return nil, err
	}
	if records > lim.MaxFiles {
		return nil, drover.Errorf(drover.ETOOLARGE, "bundle has more than the limit of %d entries (files and folders): bundle fewer (a .droverignore leaves some out), or raise the coordinator's --bundle-max-files", lim.MaxFiles)
	}
	zr, err := zip.NewReader(offsetGuard{r}, size)
	// ErrInsecurePath (GODEBUG zipinsecurepath=0) comes with a usable reader;
	// the checks below refuse the same names with better messages.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, drover.Errorf(drover.EINVALID, "bundle is not a valid ZIP archive (%v): upload a .zip file", err)
	}
	if len(zr.File) > lim.MaxFiles { // a safety net: dirBound makes this unreachable
		return nil, drover.Errorf(drover.ETOOLARGE, "bundle has %d entries (files and folders); the limit is %d (the coordinator's --bundle-max-files)", len(zr.File), lim.MaxFiles)
	}
	a := &archive{size: size, sha256: sum}
	all := make([]*entry, 0, len(zr.File))
	for i, f := range zr.File {
		e, err := checkEntry(i, f, lim.MaxDepth)
		if err != nil {
			return nil, err
		}
		if e != nil {
			all = append(all, e)
		}
	}
	if a.dirs, err = checkTree(all, lim.MaxFiles); err != nil {
		return nil, err
	}
	for _, e := range all {
		if !e.dir {
			a.entries = append(a.entries, e)
		}
	}
	if err := checkOverlaps(a.entries, size); err != nil {
		return nil, err
	}
	// Refuse on declared sizes before decompressing anything; the copies
	// count real bytes again, since headers can lie.
	b := newBudget(lim, size)
	for _, e := range a.entries {
		if err := b.add(e, 0, int64(min(e.f.UncompressedSize64, math.MaxInt64))); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// hash reads the whole archive once, for its SHA-256 and for a bound on the
// number of central directory records in it.
func hash(r io.ReaderAt, size int64) (sum string, records int, err error) {
	h := sha256.New()
	var d dirBound
	n, err := io.Copy(io.MultiWriter(h, &d), io.NewSectionReader(r, 0, size))
	if err != nil {
		return "", 0, fmt.Errorf("read bundle: %w", err)
	}
	if n != size {
		return "", 0, drover.Errorf(drover.EINVALID, "bundle is truncated: got %d of %d bytes", n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), d.longest, nil
}

// offsetGuard refuses a read at a negative offset with zip.ErrFormat.
// A hostile central directory can point an entry's header there, and the
// archive is then at fault. A bytes.Reader or an os.File would give an
// error of its own, taken for a failure of the reader.
type offsetGuard struct{ r io.ReaderAt }

func (g offsetGuard) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, zip.ErrFormat
	}
	return g.r.ReadAt(p, off)
}

// checkEntry checks what the header of the i-th entry says on its own. It
// returns nil for an entry naming the workspace root itself ("./"), which
// some tools write and which needs nothing done.
func checkEntry(i int, f *zip.File, maxDepth int) (*entry, error) {
	if f.Name == "" {
		return nil, drover.Errorf(drover.EINVALID, "entry #%d has an empty name", i+1)
	}
	name := shortName(f.Name)
	clean, problem := checkPath(f.Name)
	if problem == "" {
		problem = depthProblem(clean, maxDepth)
	}
	if problem != "" {
		return nil, drover.Errorf(drover.EINVALID, "entry %q %s", name, problem)
	}
	mode := f.Mode()
	e := &entry{f: f, name: name, path: clean, perm: filePerm(mode), compressed: int64(min(f.CompressedSize64, math.MaxInt64))}
	switch {
	case mode&fs.ModeSymlink != 0:
		// Links are refused outright rather than checked. A check of each
		// target on its own is unsound once links chain. With a/b -> "..",
		// the link c -> "a/b/.." looks local but climbs out. Zip stores the
		// content of links instead, so bundles made by drover carry none.
		return nil, drover.Errorf(drover.EINVALID,
			"entry %q is a symbolic link; bundles hold regular files and directories only: zip the file it points to instead", name)
	case mode.IsDir():
		e.dir = true
	case mode.Type() != 0:
		return nil, drover.Errorf(drover.EINVALID,
			"entry %q is %s; bundles hold regular files and directories only", name, describeType(mode))
	}
	switch {
	case e.dir && clean == ".":
		return nil, nil
	case clean == ".":
		return nil, drover.Errorf(drover.EINVALID, "entry %q names the workspace itself, not a file in it", name)
	case f.Flags&0x1 != 0:
		return nil, drover.Errorf(drover.EINVALID, "entry %q is encrypted; bundles cannot be", name)
	case e.dir && f.UncompressedSize64 != 0:
		return nil, drover.Errorf(drover.EINVALID, "entry %q is a directory but has content", name)
	case !e.dir && f.Method != zip.Store && f.Method != zip.Deflate:
		return nil, drover.Errorf(drover.EINVALID,
			"entry %q uses compression method %d; bundles use deflate or store", name, f.Method)
	}
	return e, nil
}

// checkPath cleans a slash-separated path from a ZIP entry or a folder
// being zipped. problem says what is wrong with the path, if anything. It
// is a phrase that follows the path in a message. A clean result of "." is
// the root itself.
func checkPath(name string) (clean, problem string) {
	switch {
	case name == "":
		return "", "has an empty name"
	case strings.IndexByte(name, 0) >= 0:
		return "", "contains a NUL byte"
	case len(name) >= 2 && name[1] == ':' && ('a' <= name[0]|0x20 && name[0]|0x20 <= 'z'):
		return "", "is a Windows drive path; use paths relative to the bundle root"
	case strings.Contains(name, `\`):
		return "", `uses backslashes; ZIP paths use "/"`
	case strings.HasPrefix(name, "/"):
		return "", "is an absolute path; use paths relative to the bundle root"
	}
	clean = path.Clean(name)
	if !filepath.IsLocal(clean) {
		return "", "escapes the workspace"
	}
	if len(clean) > maxPathLen {
		return "", fmt.Sprintf("is longer than %d bytes", maxPathLen)
	}
	for seg := range strings.SplitSeq(clean, "/") {
		if len(seg) > maxSegmentLen {
			return "", fmt.Sprintf("has a path segment longer than %d bytes", maxSegmentLen)
		}
	}
	return clean, ""
}

// folders returns how many folders a clean path sits in.
func folders(clean string) int { return strings.Count(clean, "/") }

// depthProblem says why a path inside more than maxDepth folders is refused.
func depthProblem(clean string, maxDepth int) string {
	if n := folders(clean); n > maxDepth {
		return fmt.Sprintf("is inside %d folders; the limit is %d: bundle a shallower tree", n, maxDepth)
	}
	return ""
}

// shortName cuts an entry name to a length fit for a message.
// ZIP names run to 64 KiB.
func shortName(name string) string {
	const maxLen = 200
	if len(name) <= maxLen {
		return name
	}
	i := maxLen
	for i > 0 && !utf8.RuneStart(name[i]) {
		i--
	}
	return name[:i] + "…"
}

// filePerm maps a ZIP mode to the only two file modes a workspace holds:
// executable by all or by none. Setuid, setgid and sticky bits are
// dropped. So is whatever restriction or laxity the archive's creator had.
// The job then sees the same files whatever user or umask unpacked them.
func filePerm(mode fs.FileMode) fs.FileMode {
	if mode&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

func describeType(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "a special file"
	}
}

// checkFraming refuses bytes before or after the ZIP archive.
//
// A bundle is named by the SHA-256 of what was uploaded. An archive
// wrapped in something else would be stored under a name that is not the
// archive's, once per wrapping. A form upload's envelope is such a
// wrapping. archive/zip reads past both ends. A self-extracting archive
// has its program before, and padding may come after.
//
// Only Inspect runs it, as the check at upload. A worker verifies a
// bundle by its hash. Bundles stored without this check must still
// unpack.
func checkFraming(r io.ReaderAt, size int64) error {
	var head [8]byte
	n, err := r.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return drover.Errorf(drover.EINVALID, "bundle is not a valid ZIP archive (%v): upload a .zip file", err)
	}
	h := string(head[:n])
	// An archive opens with a file's header, or is empty; Info-ZIP marks
	// an archive it wrote as a split of one segment with 4 bytes first.
	if !strings.HasPrefix(h, "PK\x03\x04") && !strings.HasPrefix(h, "PK\x05\x06") &&
		h != "PK\x07\x08PK\x03\x04" && h != "PK00PK\x03\x04" {
		return drover.Errorf(drover.EINVALID, "bundle has bytes before its ZIP archive begins (a form's envelope, say): send the ZIP file itself")
	}
	// The end of central directory record must end the file. It is 22
	// bytes and a comment of up to 64 KiB.
	const eocdLen = 22
	m := min(size, eocdLen+0xffff)
	tail := make([]byte, m)
	if _, err := r.ReadAt(tail, size-m); err != nil && !errors.Is(err, io.EOF) {
		return drover.Errorf(drover.EINVALID, "bundle is not a valid ZIP archive (%v): upload a .zip file", err)
	}
	for i := len(tail) - eocdLen; i >= 0; i-- {
		if string(tail[i:i+4]) == "PK\x05\x06" && i+eocdLen+int(binary.LittleEndian.Uint16(tail[i+20:])) == len(tail) {
			return nil
		}
	}
	return drover.Errorf(drover.EINVALID, "bundle has bytes after its ZIP archive ends (a form's envelope, say): send the ZIP file itself")
}

// checkTree refuses entries that collide once cleaned. That is the same
// path twice, or a file that other entries sit inside. It returns every
// directory the files need, explicit or implied. They are sorted so that
// parents come first.
func checkTree(all []*entry, maxFiles int) ([]string, error) {
	seen := make(map[string]*entry, len(all))
	dirs := make(map[string]bool)
	paths := 0 // distinct: the entries and the folders their names imply
	tooMany := func() error {
		return drover.Errorf(drover.ETOOLARGE, "bundle has more than the limit of %d files and folders, counting the folders its paths imply (a/b/c makes a and a/b): bundle fewer (a .droverignore leaves some out), or raise the coordinator's --bundle-max-files", maxFiles)
	}
	for _, e := range all {
		for p := path.Dir(e.path); p != "." && !dirs[p]; p = path.Dir(p) {
			if other := seen[p]; other != nil {
				return nil, drover.Errorf(drover.EINVALID, "entry %q is inside %q, which is a file", e.name, other.name)
			}
			dirs[p] = true
			if paths++; paths > maxFiles {
				return nil, tooMany()
			}
		}
		if other := seen[e.path]; other != nil {
			if other.name == e.name {
				return nil, drover.Errorf(drover.EINVALID, "entry %q appears twice", e.name)
			}
			return nil, drover.Errorf(drover.EINVALID, "entry %q is the same path as entry %q", e.name, other.name)
		}
		if !e.dir && dirs[e.path] {
			return nil, drover.Errorf(drover.EINVALID, "entry %q is a file, but other entries are inside it", e.name)
		}
		if !dirs[e.path] {
			if paths++; paths > maxFiles {
				return nil, tooMany()
			}
		}
		seen[e.path] = e
		if e.dir {
			dirs[e.path] = true
		}
	}
	// A path sorts after every prefix of it, so parents come first.
	return slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}), nil
}

// checkOverlaps refuses entries whose compressed data overlap or run past
// the end. Overlapping entries are how the densest zip bombs reuse one
// block of data many times. Once they are refused, the compressed sizes
// add up to at most the archive size. The ratio of each entry can then be
// trusted.
func checkOverlaps(files []*entry, size int64) error {
	type span struct {
		start, end int64
		e          *entry
	}
	spans := make([]span, 0, len(files))
	for _, e := range files {
		off, err := e.f.DataOffset()
		if err != nil {
			return corrupt(e, err)
		}
		if off < 0 || off > size || e.compressed > size-off {
			return drover.Errorf(drover.EINVALID, "entry %q runs past the end of the bundle", e.name)
		}
		spans = append(spans, span{off, off + e.compressed, e})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end)) })
	for i := 1; i < len(spans); i++ {
		if spans[i-1].end > spans[i].start {
			return drover.Errorf(drover.EINVALID, "entry %q overlaps entry %q: it looks like a zip bomb", spans[i].e.name, spans[i-1].e.name)
		}
	}
	return nil
}

// corrupt turns an error reading entry e into a domain error when the
// archive is at fault. It wraps any other error as internal, such as an
// I/O error of the underlying reader.
func corrupt(e *entry, err error) error {
	var flateErr flate.CorruptInputError
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return drover.Errorf(drover.EINVALID, "entry %q is corrupt: its checksum does not match its content", e.name)
	case errors.Is(err, zip.ErrFormat), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, zip.ErrAlgorithm), errors.As(err, &flateErr):
		return drover.Errorf(drover.EINVALID, "entry %q is corrupt: its data does not match its header (%v)", e.name, err)
	}
	return fmt.Errorf("read entry %q: %w", e.name, err)
}

// unpack streams every file of a through the limits into the writer create
// returns for it, counting the bytes decompressed rather than trusting the
// sizes declared. It returns the total unpacked bytes.
func (a *archive) unpack(lim Limits, create func(*entry) (io.WriteCloser, error)) (int64, error) {
	b := newBudget(lim, a.size)
	buf := make([]byte, 32<<10)
	for _, e := range a.entries {
		w, err := create(e)
		if err != nil {
			return b.total, err
		}
		err = copyEntry(e, w, b, buf)
		if cerr := w.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", e.path, cerr)
		}
		if err != nil {
			return b.total, err
		}
	}
	return b.total, nil
}

func copyEntry(e *entry, w io.Writer, b *budget, buf []byte) error {
	rc, err := e.f.Open()
	if err != nil {
		return corrupt(e, err)
	}
	defer rc.Close()
	var done int64
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if err := b.add(e, done, int64(n)); err != nil {
				return err
			}
			done += int64(n)
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("write %s: %w", e.path, err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return corrupt(e, rerr)
		}
	}
}
