package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/drover-dev/drover/client"
)

// bundleServer stands in for the coordinator's GET /api/v1/bundles/{sha}:
// it serves blobs by hash and counts the requests for each.
type bundleServer struct {
	mu    sync.Mutex
	blobs map[string][]byte
	gets  map[string]int
	// hold, when set, is called before each answer; it may block.
	hold func(r *http.Request)
}

func newBundleServer() *bundleServer {
	return &bundleServer{blobs: map[string][]byte{}, gets: map[string]int{}}
}

// add serves data under its own hash and returns the hash.
func (b *bundleServer) add(data []byte) string {
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	b.serve(sha, data)
	return sha
}

// serve serves data under sha, whatever data hashes to.
func (b *bundleServer) serve(sha string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[sha] = data
}

func (b *bundleServer) count(sha string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gets[sha]
}

func (b *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/bundles/{sha}", func(w http.ResponseWriter, r *http.Request) {
		sha := r.PathValue("sha")
		b.mu.Lock()
		b.gets[sha]++
		data, ok := b.blobs[sha]
		hold := b.hold
		b.mu.Unlock()
		if hold != nil {
			hold(r)
		}
		if !ok {
			http.Error(w, `{"error":{"code":"not_found","message":"no such bundle"}}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(data)
	})
	mux.ServeHTTP(w, r)
}

// startBundleServer serves b over a real loopback connection.
func startBundleServer(t testing.TB, b *bundleServer) *client.Client {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return client.New(srv.URL)
}

func newTestCache(t testing.TB, dir string, max int64) *bundleCache {
	t.Helper()
	c, err := newBundleCache(dir, max, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getBundle(t *testing.T, c *bundleCache, api *client.Client, sha string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	f, release, err := c.open(ctx, api, sha)
	if err != nil {
		t.Fatalf("open %.12s: %v", sha, err)
	}
	return f.Name(), release
}

// cached lists the files in the cache's folder.
func cached(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestBundleCacheDownloadsEachBundleOnce(t *testing.T) {
	bs := newBundleServer()
	data := bytes.Repeat([]byte("zip"), 10000)
	sha := bs.add(data)
	arrived := make(chan struct{})
	release := make(chan struct{})
	var first sync.Once
	bs.hold = func(r *http.Request) {
		first.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	api := startBundleServer(t, bs)
	c := newTestCache(t, t.TempDir(), 1<<30)

	const n = 8
	type result struct {
		path string
		err  error
	}
	results := make(chan result, n)
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		go func() {
			started.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			f, rel, err := c.open(ctx, api, sha)
			var path string
			if err == nil {
				path = f.Name()
				rel()
			}
			results <- result{path, err}
		}()
	}
	select {
	case <-arrived:
	case <-time.After(waitFor):
		t.Fatal("no download started")
	}
	started.Wait()
	close(release) // the download in flight ends; every get shares it
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.path != c.path(sha) {
			t.Errorf("path = %s, want %s", r.path, c.path(sha))
		}
	}
	if got := bs.count(sha); got != 1 {
		t.Errorf("%d concurrent gets made %d downloads, want 1", n, got)
	}
	if got, err := os.ReadFile(c.path(sha)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("cached file: %d bytes, %v; want the %d bytes served", len(got), err, len(data))
	}
	getBundle(t, c, api, sha)
	if got := bs.count(sha); got != 1 {
		t.Errorf("a get of a cached bundle downloaded it again (%d downloads)", got)
	}
}

func TestBundleCacheRefusesBytesThatDoNotMatchTheHash(t *testing.T) {
	bs := newBundleServer()
	sum := sha256.Sum256([]byte("the real bundle"))
	sha := hex.EncodeToString(sum[:])
	bs.serve(sha, []byte("something else"))
	api := startBundleServer(t, bs)
	dir := t.TempDir()
	c := newTestCache(t, dir, 1<<30)

	for i := range 2 {
		_, _, err := c.open(context.Background(), api, sha)
		if err == nil || !strings.Contains(err.Error(), "hash") {
			t.Fatalf("get %d: err = %v, want a hash mismatch", i+1, err)
		}
		if names := cached(t, dir); len(names) != 0 {
			t.Fatalf("after a mismatch the cache folder holds %v, want nothing", names)
		}
	}
	if got := bs.count(sha); got != 2 {
		t.Errorf("%d downloads for two gets of a bad bundle, want 2: nothing may be cached", got)
	}
	if c.total != 0 || len(c.entries) != 0 {
		t.Errorf("cache holds %d entries, %d bytes; want none", len(c.entries), c.total)
	}
}

func TestBundleCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	bs := newBundleServer()
	a := bs.add(bytes.Repeat([]byte("a"), 100))
	b := bs.add(bytes.Repeat([]byte("b"), 100))
	c3 := bs.add(bytes.Repeat([]byte("c"), 100))
	api := startBundleServer(t, bs)
	dir := t.TempDir()
	c := newTestCache(t, dir, 250)

	for _, sha := range []string{a, b, c3} {
		_, release := getBundle(t, c, api, sha)
		release()
	}
	if want := []string{b + ".zip", c3 + ".zip"}; !sameFiles(cached(t, dir), want) {
		t.Fatalf("cache holds %v, want b and c (a was used least recently)", short(cached(t, dir)))
	}
	_, release := getBundle(t, c, api, b) // b is now used more recently than c
	release()
	_, release = getBundle(t, c, api, a)
	release()
	if want := []string{a + ".zip", b + ".zip"}; !sameFiles(cached(t, dir), want) {
		t.Errorf("cache holds %v, want a and b (c was used least recently)", short(cached(t, dir)))
	}
	if got := []int{bs.count(a), bs.count(b), bs.count(c3)}; !slices.Equal(got, []int{2, 1, 1}) {
		t.Errorf("downloads of a, b, c = %v, want [2 1 1]", got)
	}
	if c.total != 200 {
		t.Errorf("cache counts %d bytes, want 200", c.total)
	}
}

func TestBundleCacheKeepsBundlesInUse(t *testing.T) {
	bs := newBundleServer()
	a := bs.add(bytes.Repeat([]byte("a"), 100))
	b := bs.add(bytes.Repeat([]byte("b"), 100))
	c3 := bs.add(bytes.Repeat([]byte("c"), 100))
	api := startBundleServer(t, bs)
	dir := t.TempDir()
	c := newTestCache(t, dir, 250)

	pathA, releaseA := getBundle(t, c, api, a) // the oldest, but an attempt unpacks it
	_, releaseB := getBundle(t, c, api, b)
	releaseB()
	_, releaseC := getBundle(t, c, api, c3)
	if want := []string{a + ".zip", c3 + ".zip"}; !sameFiles(cached(t, dir), want) {
		t.Fatalf("cache holds %v, want a (in use) and c", short(cached(t, dir)))
	}
	if _, err := os.Stat(pathA); err != nil {
		t.Errorf("a bundle in use was removed: %v", err)
	}
	releaseA()
	releaseA() // a second release is a no-op
	releaseC()
	if c.entries[a] == nil || c.entries[a].inUse != 0 || c.entries[c3].inUse != 0 {
		t.Errorf("in-use counts after release: a %+v, c %+v; want 0", c.entries[a], c.entries[c3])
	}
}

func TestBundleCacheServesABundleLargerThanItsBound(t *testing.T) {
	bs := newBundleServer()
	big := bs.add(bytes.Repeat([]byte("big"), 100))
	other := bs.add(bytes.Repeat([]byte("o"), 40))
	api := startBundleServer(t, bs)
	dir := t.TempDir()
	c := newTestCache(t, dir, 50)

	_, releaseOther := getBundle(t, c, api, other) // in use: cannot make room
	path, release := getBundle(t, c, api, big)
	if got := bs.count(big); got != 1 {
		t.Errorf("a bundle over the cache bound was downloaded %d times, want once", got)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the bundle being returned was evicted: %v", err)
	}
	release()
	releaseOther()
	if c.total > c.max {
		t.Errorf("cache holds %d bytes once nothing is in use, over its bound %d", c.total, c.max)
	}
}

func TestBundleCacheAdoptsFilesAndRemovesPartialDownloads(t *testing.T) {
	bs := newBundleServer()
	data := []byte("kept from the last run")
	sha := bs.add(data)
	api := startBundleServer(t, bs)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sha+".zip"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "partial-12345"), []byte("half a zi"), 0o600); err != nil {
		t.Fatal(err)
	}

	c := newTestCache(t, dir, 1<<20)
	if want := []string{sha + ".zip"}; !sameFiles(cached(t, dir), want) {
		t.Errorf("cache folder holds %v at start, want only the complete bundle", short(cached(t, dir)))
	}
	if c.total != int64(len(data)) {
		t.Errorf("adopted %d bytes, want %d", c.total, len(data))
	}
	path, release := getBundle(t, c, api, sha)
	defer release()
	if path != filepath.Join(dir, sha+".zip") {
		t.Errorf("path = %s, want the adopted file", path)
	}
	if got := bs.count(sha); got != 0 {
		t.Errorf("an adopted bundle was downloaded %d times, want 0", got)
	}
}

// A get waiting on another's download must not fail because that other
// caller gave up (its attempt was cancelled): it downloads the bundle
// itself. The bubble lets the test know the second get is waiting before
// the first gives up; inside it, requests reach the same handler without a
// socket, since the network does not run on the bubble's clock.
func TestBundleCacheWaiterOutlivesACancelledDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs := newBundleServer()
		sha := bs.add([]byte("shared bundle"))
		var firstReq sync.Once
		bs.hold = func(r *http.Request) {
			firstReq.Do(func() { <-r.Context().Done() }) // the first download hangs until its caller gives up
		}
		api := client.New("http://coordinator.test", client.WithHTTPClient(&http.Client{Transport: handlerTransport{bs}}))
		c := newTestCache(t, t.TempDir(), 1<<20)

		ctx1, cancel1 := context.WithCancel(context.Background())
		// One channel each: the waiter may well answer before the
		// cancelled get does.
		errs1, errs2 := make(chan error, 1), make(chan error, 1)
		go func() {
			_, _, err := c.open(ctx1, api, sha)
			errs1 <- err
		}()
		synctest.Wait() // the first get is downloading
		go func() {
			f, release, err := c.open(context.Background(), api, sha)
			if err == nil {
				release()
				if f.Name() != c.path(sha) {
					t.Errorf("path = %s, want %s", f.Name(), c.path(sha))
				}
			}
			errs2 <- err
		}()
		synctest.Wait() // the second get waits on the first's download
		cancel1()
		err1, err2 := <-errs1, <-errs2
		if err1 == nil {
			t.Error("the cancelled get succeeded")
		}
		if err2 != nil {
			t.Errorf("the waiting get failed with the other's cancellation: %v", err2)
		}
		if got := bs.count(sha); got != 2 {
			t.Errorf("%d downloads, want 2 (the one given up, then the waiter's own)", got)
		}
	})
}

// handlerTransport answers requests by calling a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r.Clone(r.Context()))
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

func sameFiles(got, want []string) bool {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// short abbreviates hashed file names for messages.
func short(names []string) []string {
	var out []string
	for _, n := range names {
		if len(n) > 12 {
			n = n[:12] + "…"
		}
		out = append(out, n)
	}
	return out
}

// A file in the cache folder under a bundle's name but with other bytes
// (written while the worker was stopped) is removed when the cache adopts
// its folder, and the bundle is fetched again when an attempt needs it.
func TestBundleCacheDropsATamperedFileAtStart(t *testing.T) {
	bs := newBundleServer()
	data := []byte("the real bundle")
	sha := bs.add(data)
	other := bs.add([]byte("kept as it was"))
	api := startBundleServer(t, bs)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sha+".zip"), []byte("a tampered bundle"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, other+".zip"), []byte("kept as it was"), 0o600); err != nil {
		t.Fatal(err)
	}

	log := make(logged, 16)
	c, err := newBundleCache(dir, 1<<20, slog.New(log))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{other + ".zip"}; !sameFiles(cached(t, dir), want) {
		t.Fatalf("cache folder holds %v after start, want only the genuine bundle", short(cached(t, dir)))
	}
	log.await(t, "removed a cached bundle")
	if c.total != int64(len("kept as it was")) || len(c.entries) != 1 {
		t.Errorf("adopted %d entries, %d bytes; want the genuine one alone", len(c.entries), c.total)
	}
	f, release := openBundle(t, c, api, sha)
	defer release()
	if got := readAll(t, f); got != string(data) {
		t.Errorf("open read %q, want the genuine bytes", got)
	}
	if got := bs.count(sha); got != 1 {
		t.Errorf("the dropped bundle was downloaded %d times, want once", got)
	}
}

// A cached file changed after the cache checked it is caught at the next
// open, however the change was made: written in place (same size, its
// modification time set back) or replaced by another file. The file is
// removed and the bundle fetched again.
func TestBundleCacheCatchesAFileChangedAfterItsCheck(t *testing.T) {
	for _, how := range []string{"rewritten", "replaced"} {
		t.Run(how, func(t *testing.T) {
			bs := newBundleServer()
			data := []byte("the real bundle")
			sha := bs.add(data)
			api := startBundleServer(t, bs)
			dir := t.TempDir()
			log := make(logged, 16)
			c, err := newBundleCache(dir, 1<<20, slog.New(log))
			if err != nil {
				t.Fatal(err)
			}
			// Opened later than settleTime after its last change: the
			// check trusts the file's identity from now on.
			c.now = func() time.Time { return time.Now().Add(settleTime) }
			for range 2 {
				_, release := openBundle(t, c, api, sha)
				release()
			}
			if c.entries[sha].trusted == (fileID{}) {
				t.Fatal("an unchanged file's identity is not trusted after it was hashed")
			}
			path := c.path(sha)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// A change in the same tick of the file system's clock would
			// keep the ctime: the reason for settleTime, which c.now skips.
			waitClockPast(t, dir, c.entries[sha].trusted.ctime)
			evil := []byte("a tampered ZIP!")
			if len(evil) != len(data) {
				t.Fatal("the tampered bytes must have the genuine size")
			}
			switch how {
			case "rewritten":
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt(evil, 0); err != nil {
					t.Fatal(err)
				}
				f.Close()
			case "replaced":
				tmp := filepath.Join(t.TempDir(), "evil")
				if err := os.WriteFile(tmp, evil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}

			f, release := openBundle(t, c, api, sha)
			defer release()
			if got := readAll(t, f); got != string(data) {
				t.Errorf("open read %q, want the genuine bytes", got)
			}
			if got := bs.count(sha); got != 2 {
				t.Errorf("%d downloads, want 2: the changed file fetched again", got)
			}
			log.await(t, "removed a cached bundle")
			if got, _ := os.ReadFile(path); string(got) != string(data) {
				t.Errorf("the cache holds %q, want the genuine bytes", got)
			}
		})
	}
}

// A file changed within settleTime of its check may keep its ctime, so
// its identity is not trusted yet: the next open hashes it again.
func TestBundleCacheDoesNotTrustARecentChange(t *testing.T) {
	bs := newBundleServer()
	sha := bs.add([]byte("the real bundle"))
	api := startBundleServer(t, bs)
	c := newTestCache(t, t.TempDir(), 1<<20)
	_, release := openBundle(t, c, api, sha)
	release()
	if got := c.entries[sha].trusted; got != (fileID{}) {
		t.Errorf("a file changed just now is trusted by its identity %+v", got)
	}
}

// await waits for a message containing want.
func (l logged) await(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case msg := <-l:
			if strings.Contains(msg, want) {
				return
			}
		case <-deadline:
			t.Fatalf("nothing logged saying %q", want)
		}
	}
}

// waitClockPast waits until a file changed now in dir gets a ctime later
// than ctime.
func waitClockPast(t *testing.T, dir string, ctime int64) {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	defer os.Remove(probe)
	deadline := time.Now().Add(waitFor)
	for {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(probe)
		if err != nil {
			t.Fatal(err)
		}
		id, err := identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if id.ctime > ctime {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's clock does not move")
		}
	}
}

func openBundle(t *testing.T, c *bundleCache, api *client.Client, sha string) (*os.File, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	f, release, err := c.open(ctx, api, sha)
	if err != nil {
		t.Fatalf("open %.12s: %v", sha, err)
	}
	return f, release
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
