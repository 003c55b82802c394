package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// bundleCache keeps downloaded bundles on disk by hash, so each is fetched
// once per worker however many attempts use it. It is bounded in bytes and
// evicts the least recently used bundles no attempt is unpacking. It
// survives restarts: files already in its folder are adopted at start.
//
// A file's name is not trusted. Its bytes are hashed when it is adopted at
// start and whenever an attempt opens it. A file that still has the
// identity it had when its bytes were last found right is not hashed again.
// See fileID. A file that does not match its hash is removed, and the
// bundle is fetched again.
//
// The folder is the worker's alone, mode 0700, so jobs running as other
// users cannot write to it. A process job running as the worker's own user
// can. It could rewrite a file after the check and before the unpack reads
// it. It could also write through a shared mapping made before the check,
// which moves no timestamp. What it writes to a file before the check, or
// while the worker is stopped, is caught.
type bundleCache struct {
	dir string
	max int64
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
	total   int64
	flights map[string]*flight
}

type cacheEntry struct {
	size  int64
	used  time.Time
	inUse int
	// trusted is the identity the file had when its bytes were last
	// hashed and found right, once that identity can be relied on (see
	// settled). Zero until then: every open hashes the file.
	trusted fileID
}

type flight struct {
	done chan struct{}
	err  error
	// quit: the download ended because its own caller gave up; the
	// others waiting on it try again.
	quit bool
}

// fileID is what fstat says of a file that changes whenever its bytes do.
// A write or a truncation moves the change time, ctime, to the present. A
// replacement is another inode with its own ctime. Only root can set a
// ctime back, by setting the clock. A file whose identity is unchanged
// since its bytes were hashed therefore holds the same bytes.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// settleTime is how old a file's ctime must be before its identity is
// trusted. A change made within the same tick of the file system's clock
// as the last one leaves the ctime as it was; some file systems keep whole
// seconds. A file changed less than settleTime before it is checked is
// hashed again at its next open.
const settleTime = 2 * time.Second

// errTampered is the error of a cached file whose bytes are not the
// bundle's.
var errTampered = errors.New("the cached file does not match its hash")

func newBundleCache(dir string, max int64, log *slog.Logger) (*bundleCache, error) {
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	c := &bundleCache{dir: dir, max: max, log: log, now: time.Now, entries: map[string]*cacheEntry{}, flights: map[string]*flight{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	t0 := time.Now()
	for _, de := range des {
		name := de.Name()
		sha, ok := strings.CutSuffix(name, ".zip")
		if !ok || !drover.IsSHA256(sha) {
			_ = os.Remove(filepath.Join(dir, name)) // a partial download
			continue
		}
		c.adopt(sha)
	}
	if len(c.entries) > 0 {
		log.Info("bundle cache checked", "bundles", len(c.entries), "bytes", c.total, "took", time.Since(t0).Round(time.Millisecond))
	}
	return c, nil
}

// privateDir makes dir if needed and checks that it is a folder of this
// user's, readable by no one else.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a folder: remove it", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this worker's user: remove it", dir, st.Uid)
	}
	if st.Mode&0o777 != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// adopt takes the file of bundle sha found at start if its bytes are the
// bundle's, and removes it otherwise.
func (c *bundleCache) adopt(sha string) {
	e := &cacheEntry{}
	f, err := c.verify(sha, e)
	if err != nil {
		c.log.Warn("removed a cached bundle that cannot be used", "bundle", sha, "path", c.path(sha), "err", err)
		_ = os.Remove(c.path(sha))
		return
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		_ = os.Remove(c.path(sha))
		return
	}
	e.size, e.used = fi.Size(), fi.ModTime()
	c.entries[sha] = e
	c.total += e.size
}

func (c *bundleCache) path(sha string) string { return filepath.Join(c.dir, sha+".zip") }

// open returns bundle sha's ZIP open for reading, downloading it if
// needed. Its bytes are checked against the hash. The release it returns
// is to be called once the attempt no longer reads the ZIP. A cached file
// that fails the check is removed and the bundle fetched again, once.
// Concurrent opens of one bundle share one download.
func (c *bundleCache) open(ctx context.Context, api *client.Client, sha string) (*os.File, func(), error) {
	for try := 0; ; try++ {
		e, err := c.get(ctx, api, sha)
		if err != nil {
			return nil, nil, err
		}
		f, err := c.verify(sha, e)
		if err == nil {
			var once sync.Once
			return f, func() { once.Do(func() { f.Close(); c.release(e) }) }, nil
		}
		c.release(e)
		c.drop(sha, e, err)
		if try == 1 {
			return nil, nil, fmt.Errorf("bundle %s: %w", sha, err)
		}
	}
}

// get returns bundle sha's entry, downloading the bundle if needed, in use
// until release.
func (c *bundleCache) get(ctx context.Context, api *client.Client, sha string) (*cacheEntry, error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[sha]; ok {
			e.inUse++
			e.used = c.now()
			c.mu.Unlock()
			return e, nil
		}
		f, ok := c.flights[sha]
		if !ok {
			f = &flight{done: make(chan struct{})}
			c.flights[sha] = f
			c.mu.Unlock()
			var e *cacheEntry
			e, f.err = c.download(ctx, api, sha)
			f.quit = f.err != nil && ctx.Err() != nil
			c.mu.Lock()
			delete(c.flights, sha)
			c.mu.Unlock()
			close(f.done)
			// download left the entry in use for us, so it cannot be
			// evicted before we return it, even when it alone is over
			// the bound.
			return e, f.err
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.done:
			if f.err != nil && !f.quit {
				return nil, f.err
			}
		}
	}
}

// release ends one use of e. It releases the entry, not the hash, since e
// may have been dropped and its bundle fetched again meanwhile.
func (c *bundleCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.inUse--
	c.evictLocked()
}

// verify opens bundle sha's file and checks its bytes, by its identity when
// e trusts one and by hashing them otherwise. The file is opened once and
// checked through that descriptor, which the caller then reads: a file
// renamed over the cached one afterwards is not what it reads.
func (c *bundleCache) verify(sha string, e *cacheEntry) (*os.File, error) {
	f, err := os.OpenFile(c.path(sha), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	id, err := identify(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.mu.Lock()
	trusted := e.trusted
	c.mu.Unlock()
	if id == trusted {
		return f, nil
	}
	if err := checkHash(f, sha); err != nil {
		f.Close()
		return nil, err
	}
	// Taken before hashing, the identity is trusted only if nothing
	// changed it meanwhile.
	if after, err := identify(f); err != nil || after != id {
		f.Close()
		return nil, fmt.Errorf("%w: it changed while being checked", errTampered)
	}
	if c.now().Sub(time.Unix(0, id.ctime)) >= settleTime {
		c.mu.Lock()
		e.trusted = id
		c.mu.Unlock()
	}
	return f, nil
}

// identify reads the identity of the regular file open at f.
func identify(f *os.File) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, errors.New("not a regular file")
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, nil
}

// checkHash reads the whole file open at f and compares its SHA-256 with
// sha.
func checkHash(f *os.File, sha string) error {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, 1<<62), make([]byte, 256<<10)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("%w: its bytes hash to %s", errTampered, got)
	}
	return nil
}

// drop removes e, which failed its check for err, unless it was dropped
// already.
func (c *bundleCache) drop(sha string, e *cacheEntry, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[sha] != e {
		return
	}
	c.log.Warn("removed a cached bundle that cannot be used; fetching it again", "bundle", sha, "path", c.path(sha), "err", err)
	_ = os.Remove(c.path(sha))
	delete(c.entries, sha)
	c.total -= e.size
}

func (c *bundleCache) download(ctx context.Context, api *client.Client, sha string) (*cacheEntry, error) {
	tmp, err := os.CreateTemp(c.dir, "partial-*")
	if err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := api.DownloadBundle(ctx, sha, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", sha, err)
	}
	if err := os.Rename(tmp.Name(), c.path(sha)); err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The bytes were hashed as they arrived, not as they lie on disk. The
	// entry therefore trusts no identity yet, and its first open hashes
	// the file.
	e := &cacheEntry{size: n, used: c.now(), inUse: 1}
	c.entries[sha] = e
	c.total += n
	c.evictLocked()
	return e, nil
}

// evictLocked removes least recently used bundles not in use until the
// cache is within its bound (a bundle in use may keep it over).
func (c *bundleCache) evictLocked() {
	if c.total <= c.max {
		return
	}
	shas := make([]string, 0, len(c.entries))
	for sha := range c.entries {
		shas = append(shas, sha)
	}
	sort.Slice(shas, func(i, j int) bool { return c.entries[shas[i]].used.Before(c.entries[shas[j]].used) })
	for _, sha := range shas {
		if c.total <= c.max {
			return
		}
		e := c.entries[sha]
		if e.inUse > 0 {
			continue
		}
		if err := os.Remove(c.path(sha)); err != nil && !os.IsNotExist(err) {
			continue
		}
		delete(c.entries, sha)
		c.total -= e.size
	}
}
