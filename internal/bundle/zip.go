package bundle

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/drover-dev/drover"
)

// zipTime is the modification time of every entry Zip writes. It is the
// earliest a ZIP can hold. The hash then depends on content, not on when
// files were touched.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Zip writes to w a ZIP of the regular files and directories in folder. It
// leaves out what the folder's [IgnoreFile] lists. It returns how many
// files it stored and their total size before compression.
//
// Paths are relative with "/" separators, in sorted walk order. Every
// entry has the same timestamp. Files are stored 0755 if any execute bit
// is set, and 0644 otherwise. The same folder thus gives byte-identical
// output and the same bundle hash with the same Go release. A new release
// may compress differently.
//
// Symbolic links are never stored as links, since bundles refuse them. A
// link to a regular file inside folder is stored as a copy of that file
// under the link's name. The ignore rules see the link's name, not its
// target's. Zip skips a link to a directory, a dangling link and a link
// leading out of folder. An absolute link leads out. So does one whose
// target climbs above folder, even to come back. Devices, pipes and
// sockets are skipped too. A name a bundle cannot hold is an error naming
// the file. A backslash in a name is such an error.
func Zip(w io.Writer, folder string) (files int, bytes int64, err error) {
	root, err := os.OpenRoot(folder)
	if err != nil {
		return 0, 0, fmt.Errorf("open folder: %w", err)
	}
	defer root.Close()
	rules, err := readIgnore(root)
	if err != nil {
		return 0, 0, err
	}
	zw := zip.NewWriter(w)
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		isDir := d.IsDir()
		if rules.ignored(p, isDir) {
			if isDir {
				return fs.SkipDir
			}
			return nil
		}
		typ := d.Type()
		if !isDir && !typ.IsRegular() && typ&fs.ModeSymlink == 0 {
			return nil
		}
		_, problem := checkPath(p)
		if problem == "" {
			problem = depthProblem(p, DefaultMaxDepth)
		}
		if problem != "" {
			return drover.Errorf(drover.EINVALID, "file %q %s: rename it or list it in %s", p, problem, IgnoreFile)
		}
		if isDir {
			h := &zip.FileHeader{Name: p + "/", Method: zip.Store, Modified: zipTime}
			h.SetMode(fs.ModeDir | 0o755)
			_, err := zw.CreateHeader(h)
			return err
		}
		n, stored, err := zipFile(zw, root, p, typ&fs.ModeSymlink != 0)
		if stored {
			files++
			bytes += n
		}
		return err
	})
	if err != nil {
		return files, bytes, fmt.Errorf("zip %s: %w", folder, err)
	}
	if err := zw.Close(); err != nil {
		return files, bytes, fmt.Errorf("zip %s: %w", folder, err)
	}
	return files, bytes, nil
}

// zipFile stores the regular file at p, or the regular file the link at p
// leads to inside root; os.Root refuses to follow a link out of it.
func zipFile(zw *zip.Writer, root *os.Root, p string, link bool) (n int64, stored bool, err error) {
	if link {
		// Stat before opening so that a link to a pipe is never opened,
		// which would block.
		fi, err := root.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false, nil
		}
	}
	f, err := root.Open(p)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	if !fi.Mode().IsRegular() {
		return 0, false, nil // replaced since the walk listed it
	}
	h := &zip.FileHeader{Name: p, Method: zip.Deflate, Modified: zipTime}
	h.SetMode(filePerm(fi.Mode()))
	fw, err := zw.CreateHeader(h)
	if err != nil {
		return 0, false, err
	}
	n, err = io.Copy(fw, f)
	if err != nil {
		return n, true, fmt.Errorf("read %s: %w", p, err)
	}
	return n, true, nil
}

func readIgnore(root *os.Root) (ignoreRules, error) {
	data, err := root.ReadFile(IgnoreFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", IgnoreFile, err)
	}
	return parseIgnore(data)
}
