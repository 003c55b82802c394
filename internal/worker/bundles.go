package worker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// bundleCache keeps downloaded bundles on disk by hash, so each is fetched
// once per worker however many attempts use it. It is bounded in bytes and
// evicts the least recently used bundles no attempt is unpacking. It
// survives restarts: files already in its folder are adopted at start.
type bundleCache struct {
	dir string
	max int64

	mu      sync.Mutex
	entries map[string]*cacheEntry
	total   int64
	flights map[string]*flight
}

type cacheEntry struct {
	size  int64
	used  time.Time
	inUse int
}

type flight struct {
	done chan struct{}
	err  error
	// quit: the download ended because its own caller gave up; the
	// others waiting on it try again.
	quit bool
}

func newBundleCache(dir string, max int64) (*bundleCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	c := &bundleCache{dir: dir, max: max, entries: map[string]*cacheEntry{}, flights: map[string]*flight{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		sha, ok := strings.CutSuffix(name, ".zip")
		if !ok || !drover.IsSHA256(sha) {
			_ = os.Remove(filepath.Join(dir, name)) // a partial download
			continue
		}
		if fi, err := de.Info(); err == nil {
			c.entries[sha] = &cacheEntry{size: fi.Size(), used: fi.ModTime()}
			c.total += fi.Size()
		}
	}
	return c, nil
}

func (c *bundleCache) path(sha string) string { return filepath.Join(c.dir, sha+".zip") }

// get returns the path of bundle sha's ZIP, downloading it if needed, and a
// release to call once the attempt no longer reads it. Concurrent gets of
// one bundle share one download.
func (c *bundleCache) get(ctx context.Context, api *client.Client, sha string) (string, func(), error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[sha]; ok {
			e.inUse++
			e.used = time.Now()
			c.mu.Unlock()
			return c.path(sha), c.releaser(sha), nil
		}
		f, ok := c.flights[sha]
		if !ok {
			f = &flight{done: make(chan struct{})}
			c.flights[sha] = f
			c.mu.Unlock()
			f.err = c.download(ctx, api, sha)
			f.quit = f.err != nil && ctx.Err() != nil
			c.mu.Lock()
			delete(c.flights, sha)
			c.mu.Unlock()
			close(f.done)
			if f.err != nil {
				return "", nil, f.err
			}
			// download left the entry in use for us, so it cannot be
			// evicted before we return it, even when it alone is over
			// the bound.
			return c.path(sha), c.releaser(sha), nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", nil, ctx.Err()
		case <-f.done:
			if f.err != nil && !f.quit {
				return "", nil, f.err
			}
		}
	}
}

func (c *bundleCache) releaser(sha string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if e, ok := c.entries[sha]; ok {
				e.inUse--
			}
			c.evictLocked()
		})
	}
}

func (c *bundleCache) download(ctx context.Context, api *client.Client, sha string) error {
	tmp, err := os.CreateTemp(c.dir, "partial-*")
	if err != nil {
		return fmt.Errorf("bundle cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := api.DownloadBundle(ctx, sha, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetch bundle %s: %w", sha, err)
	}
	if err := os.Rename(tmp.Name(), c.path(sha)); err != nil {
		return fmt.Errorf("bundle cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[sha] = &cacheEntry{size: n, used: time.Now(), inUse: 1}
	c.total += n
	c.evictLocked()
	return nil
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
