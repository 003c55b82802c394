package bundle

import (
	"bytes"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/drover-dev/drover"
)

// FuzzExtract feeds arbitrary bytes to Extract. Whatever the input, nothing
// may appear outside the workspace, the workspace may hold only regular files
// and directories, a refusal must be a domain error (an internal error would
// mean a check missed something the file system then tripped on), and
// Inspect must agree with Extract. The hostile archives of the table tests
// are the seed corpus, so they also run in a plain go test.
func FuzzExtract(f *testing.F) {
	for _, tc := range hostileCases() {
		f.Add(tc.zip(f))
	}
	f.Add(goodArchive(f))
	f.Add(buildZip(f, zent{name: "a/b/c", data: []byte("abc")}, zent{name: "a/", mode: fs.ModeDir | 0o755}))
	lim := Limits{MaxUnpacked: 8 << 20, MaxFiles: 500}
	f.Fuzz(func(t *testing.T, data []byte) {
		base, ws := workspace(t)
		info, err := Extract(bytes.NewReader(data), int64(len(data)), ws, lim)
		confined(t, base, ws)
		if code := drover.ErrorCode(err); code == drover.EINTERNAL {
			t.Fatalf("Extract failed with an internal error: %v", err)
		}
		inspected, ierr := Inspect(bytes.NewReader(data), int64(len(data)), lim)
		if (err == nil) != (ierr == nil) || inspected != info || err != nil && err.Error() != ierr.Error() {
			t.Fatalf("Inspect = %+v, %v; Extract = %+v, %v", inspected, ierr, info, err)
		}
		if err != nil {
			return
		}
		if info.Files > lim.MaxFiles || info.Unpacked > lim.MaxUnpacked {
			t.Fatalf("Extract accepted %+v, over the limits %+v", info, lim)
		}
		var files int
		var size int64
		filepath.WalkDir(ws, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				fi, _ := d.Info()
				files++
				size += fi.Size()
			}
			return err
		})
		if files != info.Files || size != info.Unpacked {
			t.Fatalf("Extract reported %+v but wrote %d files, %d bytes", info, files, size)
		}
	})
}
