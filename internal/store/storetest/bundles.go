package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// bundleBytes are n pseudo-random bytes from seed, and their hash: enough
// of them make a bundle larger than any part a store keeps in one piece.
func bundleBytes(seed uint64, n int) ([]byte, string) {
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(data)
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:])
}

// readBundle reads a stored bundle's bytes through OpenBundle.
func (f *fixture) readBundle(sha string) ([]byte, error) {
	r, err := f.s.OpenBundle(f.ctx, sha)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// unread is data PutBundle must not read.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("PutBundle read the bytes of a bundle it already held")
	return 0, io.EOF
}

func testBundles(f *fixture) {
	t := f.t
	data, sha := bundleBytes(1, 5<<20/2+17) // 2.5 MiB and a few bytes
	in := &drover.Bundle{SHA256: sha, Size: int64(len(data)), Files: 3, Unpacked: 12345, CreatedAt: base}

	created, err := f.s.PutBundle(f.ctx, in, bytes.NewReader(data))
	if err != nil || !created {
		t.Fatalf("PutBundle = created %v, %v; want created", created, err)
	}
	check := func(when string) {
		t.Helper()
		b, err := f.s.GetBundle(f.ctx, sha)
		if err != nil {
			t.Fatalf("GetBundle %s: %v", when, err)
		}
		if b.SHA256 != sha || b.Size != in.Size || b.Files != in.Files || b.Unpacked != in.Unpacked || !b.CreatedAt.Equal(base) {
			t.Errorf("GetBundle %s = %+v, want %+v", when, b, in)
		}
		got, err := f.readBundle(sha)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("OpenBundle %s read %d bytes, %v; want the %d stored", when, len(got), err, len(data))
		}
	}
	check("after the upload")

	// The same hash again: nothing is read or rewritten, the first upload
	// stands.
	again := *in
	again.CreatedAt = at(time.Hour)
	created, err = f.s.PutBundle(f.ctx, &again, unread{t})
	if err != nil || created {
		t.Errorf("second PutBundle = created %v, %v; want not created", created, err)
	}
	check("after a second upload")

	// An empty bundle and a one-byte one are stored as they are.
	for _, n := range []int{0, 1} {
		small, smallSHA := bundleBytes(2, n)
		if _, err := f.s.PutBundle(f.ctx, &drover.Bundle{SHA256: smallSHA, Size: int64(n), CreatedAt: base}, bytes.NewReader(small)); err != nil {
			t.Fatalf("PutBundle of %d bytes: %v", n, err)
		}
		if got, err := f.readBundle(smallSHA); err != nil || !bytes.Equal(got, small) {
			t.Errorf("OpenBundle of %d bytes read %q, %v", n, got, err)
		}
	}

	_, err = f.s.GetBundle(f.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	wantCode(t, "GetBundle of an unknown hash", err, drover.ENOTFOUND)
	_, err = f.s.OpenBundle(f.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	wantCode(t, "OpenBundle of an unknown hash", err, drover.ENOTFOUND)
}

// failingReader gives n bytes of data, then fails with err, after calling
// before.
type failingReader struct {
	data   []byte
	n      int
	err    error
	before func()
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		if r.before != nil {
			r.before()
		}
		return 0, r.err
	}
	k := copy(p, r.data[:r.n])
	r.data, r.n = r.data[k:], r.n-k
	return k, nil
}

// testBundleUploadCutShort checks that an upload cut short leaves no
// bundle. Its bytes may fail half-way, or its context end. The same bundle
// can then be uploaded again.
func testBundleUploadCutShort(f *fixture) {
	t := f.t
	data, sha := bundleBytes(3, 3<<20)
	b := &drover.Bundle{SHA256: sha, Size: int64(len(data)), Files: 1, CreatedAt: base}
	broken := errors.New("connection reset")
	if _, err := f.s.PutBundle(f.ctx, b, &failingReader{data: data, n: 3 << 19, err: broken}); !errors.Is(err, broken) {
		t.Errorf("PutBundle of bytes that fail = %v, want their error", err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	if _, err := f.s.PutBundle(ctx, b, &failingReader{data: data, n: 3 << 19, err: context.Canceled, before: cancel}); err == nil {
		t.Error("PutBundle whose context ended half-way succeeded")
	}
	_, err := f.s.GetBundle(f.ctx, sha)
	wantCode(t, "GetBundle after uploads cut short", err, drover.ENOTFOUND)
	_, err = f.s.OpenBundle(f.ctx, sha)
	wantCode(t, "OpenBundle after uploads cut short", err, drover.ENOTFOUND)
	if created, err := f.s.PutBundle(f.ctx, b, bytes.NewReader(data)); err != nil || !created {
		t.Fatalf("PutBundle after uploads cut short = %v, %v; want created", created, err)
	}
	if got, err := f.readBundle(sha); err != nil || !bytes.Equal(got, data) {
		t.Errorf("OpenBundle read %d bytes, %v; want the %d stored", len(got), err, len(data))
	}
}

// testBundleConcurrentUploads: uploads of one bundle at once store it once.
func testBundleConcurrentUploads(f *fixture) {
	t := f.t
	data, sha := bundleBytes(4, 3<<20)
	var createdN atomic.Int32
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			b := &drover.Bundle{SHA256: sha, Size: int64(len(data)), Files: 1, CreatedAt: at(time.Duration(i) * time.Second)}
			created, err := f.s.PutBundle(f.ctx, b, bytes.NewReader(data))
			if err != nil {
				t.Errorf("concurrent PutBundle: %v", err)
			}
			if created {
				createdN.Add(1)
			}
		})
	}
	wg.Wait()
	if n := createdN.Load(); n != 1 {
		t.Errorf("%d of 4 concurrent uploads created the bundle, want 1", n)
	}
	if got, err := f.readBundle(sha); err != nil || !bytes.Equal(got, data) {
		t.Errorf("OpenBundle read %d bytes, %v; want the %d stored", len(got), err, len(data))
	}
}

// testBundleRemovedWhileRead: a reader of a bundle removed under it fails
// rather than end early.
func testBundleRemovedWhileRead(f *fixture) {
	t := f.t
	data, sha := bundleBytes(5, 3<<20)
	if _, err := f.s.PutBundle(f.ctx, &drover.Bundle{SHA256: sha, Size: int64(len(data)), Files: 1, CreatedAt: base}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	r, err := f.s.OpenBundle(f.ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	if n, err := f.s.DeleteUnusedBundles(f.ctx, at(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("DeleteUnusedBundles = %d, %v", n, err)
	}
	rest, err := io.ReadAll(r)
	if err == nil && !bytes.Equal(append(first, rest...), data) {
		t.Errorf("reading a bundle removed under the reader ended after %d of %d bytes without an error", 1+len(rest), len(data))
	}
}

// putBundle stores a bundle under sha (its bytes are not a real ZIP: the
// store does not look inside) uploaded at when.
func (f *fixture) putBundle(sha string, when time.Time) {
	f.t.Helper()
	b := &drover.Bundle{SHA256: sha, Size: 4, Files: 1, Unpacked: 4, CreatedAt: when}
	if _, err := f.s.PutBundle(f.ctx, b, strings.NewReader("PK\x03\x04")); err != nil {
		f.t.Fatalf("PutBundle: %v", err)
	}
}

// testBundleNamedByJob: a job may name only a bundle the store holds.
func testBundleNamedByJob(f *fixture) {
	spec := drover.JobSpec{Command: drover.Command{"true"}, Bundle: strings.Repeat("cd", 32)}
	_, _, err := f.s.CreateJob(f.ctx, &drover.Job{ID: drover.NewID("job"), Spec: spec, CreatedAt: base}, "")
	wantCode(f.t, "CreateJob naming a bundle the store lacks", err, drover.EINVALID)
	f.putBundle(spec.Bundle, base)
	if _, _, err := f.s.CreateJob(f.ctx, &drover.Job{ID: drover.NewID("job"), Spec: spec, CreatedAt: base}, ""); err != nil {
		f.t.Fatalf("CreateJob naming a stored bundle: %v", err)
	}
}

// testDeleteUnusedBundles checks that bundles no job names go once their
// last upload is old enough. A bundle a job names stays until the job is
// removed, whatever the job's state.
func testDeleteUnusedBundles(f *fixture) {
	t := f.t
	used, unused, fresh, reuploaded := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("c3", 32), strings.Repeat("d4", 32)
	for _, sha := range []string{used, unused, reuploaded} {
		f.putBundle(sha, base)
	}
	f.putBundle(fresh, at(time.Hour))
	f.putBundle(reuploaded, at(time.Hour)) // uploaded again: its grace starts again
	j := f.createJob(base, func(j *drover.Job) { j.Spec.Bundle = used })

	n, err := f.s.DeleteUnusedBundles(f.ctx, at(30*time.Minute), 10)
	if err != nil || n != 1 {
		t.Fatalf("DeleteUnusedBundles = %d, %v; want 1 (only %s)", n, err, unused)
	}
	_, err = f.s.GetBundle(f.ctx, unused)
	wantCode(t, "GetBundle of a removed bundle", err, drover.ENOTFOUND)
	for _, sha := range []string{used, fresh, reuploaded} {
		if _, err := f.s.GetBundle(f.ctx, sha); err != nil {
			t.Errorf("GetBundle %s after the collection: %v", sha, err)
		}
	}

	// Its job finished and removed, the bundle goes too.
	a := f.assign(at(time.Second), j.ID, f.createWorker("w").ID)
	f.end(a.ID, store.AttemptEnd{At: at(2 * time.Second), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	if n, err := f.s.DeleteUnusedBundles(f.ctx, at(30*time.Minute), 10); err != nil || n != 0 {
		t.Errorf("DeleteUnusedBundles with its job finished = %d, %v; want 0 (the job still names it)", n, err)
	}
	if n, err := f.s.DeleteFinished(f.ctx, at(time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("DeleteFinished = %d, %v", n, err)
	}
	if n, err := f.s.DeleteUnusedBundles(f.ctx, at(30*time.Minute), 10); err != nil || n != 1 {
		t.Errorf("DeleteUnusedBundles with its job removed = %d, %v; want 1", n, err)
	}
	// The limit holds.
	if n, err := f.s.DeleteUnusedBundles(f.ctx, at(2*time.Hour), 1); err != nil || n != 1 {
		t.Errorf("DeleteUnusedBundles limited to 1 = %d, %v", n, err)
	}
}
