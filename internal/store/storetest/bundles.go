package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
