package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/bundle"
)

// uploadBundle sends --bundle and returns its sha256. --bundle names a ZIP
// file, or a folder that is zipped here, honouring its .droverignore.
func uploadBundle(ctx context.Context, a *app, c *client.Client, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", localError{fmt.Errorf("--bundle: %w", err)}
	}
	var f *os.File
	if fi.IsDir() {
		tmp, err := os.CreateTemp("", "drover-bundle-*.zip")
		if err != nil {
			return "", localError{fmt.Errorf("--bundle: %w", err)}
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		files, bytes, err := bundle.Zip(tmp, path)
		if err != nil {
			return "", localError{fmt.Errorf("--bundle %s: %w", path, err)}
		}
		if files == 0 {
			return "", localError{fmt.Errorf("--bundle %s: no files to send (is everything in .droverignore?)", path)}
		}
		size, _ := tmp.Seek(0, io.SeekCurrent)
		fmt.Fprintf(a.stderr, "drover: bundle %s: %d files, %s (%s zipped)\n", path, files, humanBytes(bytes), humanBytes(size))
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return "", localError{fmt.Errorf("--bundle %s: %w", path, err)}
		}
		f = tmp
	} else {
		if f, err = os.Open(path); err != nil {
			return "", localError{fmt.Errorf("--bundle: %w", err)}
		}
		defer f.Close()
		fmt.Fprintf(a.stderr, "drover: bundle %s: %s\n", path, humanBytes(fi.Size()))
	}
	st, err := f.Stat()
	if err != nil {
		return "", localError{fmt.Errorf("--bundle %s: %w", path, err)}
	}
	var progress func(int64)
	if st.Size() > 4<<20 && isTerminal(a.stderr) {
		total := st.Size()
		last := int64(-1)
		progress = func(n int64) {
			if pct := n * 100 / total; pct != last {
				last = pct
				fmt.Fprintf(a.stderr, "\rdrover: uploading %3d%% of %s", pct, humanBytes(total))
			}
		}
		defer fmt.Fprintln(a.stderr)
	}
	b, err := c.UploadBundle(ctx, f, st.Size(), progress)
	if err != nil {
		return "", err
	}
	return b.SHA256, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// localError is a failure on this machine, such as a bundle to read or
// pack. It is not one of reaching the coordinator, and is reported as it
// is.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }
