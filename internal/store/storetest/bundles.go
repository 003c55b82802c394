package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"github.com/drover-dev/drover/internal/store"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

func testBundles(f *fixture) {
	t := f.t
	data := []byte("PK\x03\x04 not really a zip \x00\xff\n")
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	in := &drover.Bundle{SHA256: sha, Size: int64(len(data)), Files: 3, Unpacked: 12345, CreatedAt: base}

	created, err := f.s.PutBundle(f.ctx, in, data)
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
		got, err := f.s.BundleData(f.ctx, sha)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("BundleData %s = %q, %v; want %q", when, got, err, data)
		}
	}
	check("after the upload")

	// The same hash again: nothing is rewritten, the first upload stands.
	again := *in
	again.CreatedAt = at(time.Hour)
	created, err = f.s.PutBundle(f.ctx, &again, []byte("other bytes"))
	if err != nil || created {
		t.Errorf("second PutBundle = created %v, %v; want not created", created, err)
	}
	check("after a second upload")

	_, err = f.s.GetBundle(f.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	wantCode(t, "GetBundle of an unknown hash", err, drover.ENOTFOUND)
	_, err = f.s.BundleData(f.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	wantCode(t, "BundleData of an unknown hash", err, drover.ENOTFOUND)
}

// putBundle stores a bundle under sha (its bytes are not a real ZIP: the
// store does not look inside) uploaded at when.
func (f *fixture) putBundle(sha string, when time.Time) {
	f.t.Helper()
	b := &drover.Bundle{SHA256: sha, Size: 4, Files: 1, Unpacked: 4, CreatedAt: when}
	if _, err := f.s.PutBundle(f.ctx, b, []byte("PK\x03\x04")); err != nil {
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

// testDeleteUnusedBundles: bundles no job names go once their last upload
// is old enough; a bundle a job names stays, whatever the job's state, until
// the job is removed.
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
