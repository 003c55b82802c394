package httpapi_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/httpapi"
)

// smallZip is a valid bundle of one file holding text.
func smallZip(t *testing.T, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, err := zw.Create("a.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(text))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// heldAnswer is the answer to an upload sent by hand.
type heldAnswer struct {
	resp *http.Response
	err  error
}

// busyWatch is an http.RoundTripper that tells of each 503 it passes on.
type busyWatch struct {
	busy chan struct{}
}

func (b busyWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
		b.busy <- struct{}{}
	}
	return resp, err
}

// Bundle uploads beyond BundleUploads at once are answered 503 with
// Retry-After before their body is read; drover's client waits and sends
// the bundle again.
func TestAPIBundleUploadsAreBounded(t *testing.T) {
	s := newAPIServer(t, serverOpt{api: func(c *httpapi.Config) { c.BundleUploads = 1 }})
	held := smallZip(t, "held")
	// An upload that has sent half its body holds the one slot. Until its
	// handler has taken the slot, another upload may take it first: small
	// ones are sent whole until one is refused. One of them may hold the
	// slot when the held upload's handler comes: that one is refused in
	// turn, and it is sent again.
	var (
		c        net.Conn
		answered chan heldAnswer
	)
	deadline := time.Now().Add(waitFor)
	for probed := false; !probed; {
		if time.Now().After(deadline) {
			t.Fatalf("no upload was refused within %s", waitFor)
		}
		if c == nil {
			c = dial(t, s)
			send(t, c, fmt.Sprintf("POST /api/v1/bundles HTTP/1.1\r\nHost: drover\r\nContent-Length: %d\r\n\r\n", len(held)))
			send(t, c, string(held[:len(held)/2]))
			answered = make(chan heldAnswer, 1)
			go func(c net.Conn) {
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				answered <- heldAnswer{resp, err}
			}(c)
		}
		select {
		case a := <-answered:
			if a.err != nil || a.resp.StatusCode != 503 {
				t.Fatalf("the upload holding the slot: %v %v", a.resp, a.err)
			}
			c.Close()
			c = nil
			continue
		default:
		}
		r := s.call(t, "POST", "/api/v1/bundles", "", string(smallZip(t, "probe")), "Content-Type", "application/zip")
		switch {
		case r.status == 503:
			probed = true
		case r.status != 200 && r.status != 201:
			t.Fatalf("probe upload: %d %s", r.status, r.body)
		}
	}

	// Another is refused at once, without its body.
	other := dial(t, s)
	send(t, other, "POST /api/v1/bundles HTTP/1.1\r\nHost: drover\r\nContent-Length: 100000\r\n\r\n")
	br := bufio.NewReader(other)
	other.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !resp.Close || !bytes.Contains(body, []byte("bundle uploads")) {
		t.Fatalf("second upload: %d, Retry-After %q, close %v: %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body)
	}
	waitClosed(t, other, br)

	// So is a multipart submission's bundle part.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("spec", `{"command":["true"]}`)
	fw, _ := mw.CreateFormFile("bundle", "job.zip")
	fw.Write(smallZip(t, "form"))
	mw.Close()
	wantError(t, s.call(t, "POST", "/api/v1/jobs", "", form.String(), "Content-Type", mw.FormDataContentType()), 503, drover.EUNAVAILABLE, "bundle uploads")

	// The client sends a file again after the Retry-After; the slot is
	// freed once its first try was refused.
	path := filepath.Join(t.TempDir(), "job.zip")
	if err := os.WriteFile(path, smallZip(t, "retried"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	watch := busyWatch{busy: make(chan struct{}, 64)}
	cl := client.New(s.url, client.WithHTTPClient(&http.Client{Transport: watch}))
	type result struct {
		b   *drover.Bundle
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, _ := f.Stat()
		b, err := cl.UploadBundle(ctxT(t), f, st.Size(), nil)
		done <- result{b, err}
	}()
	select {
	case <-watch.busy:
	case <-time.After(waitFor):
		t.Fatal("the client's upload was not refused while the slot was held")
	}
	send(t, c, string(held[len(held)/2:]))
	c.SetReadDeadline(time.Now().Add(waitFor))
	if a := <-answered; a.err != nil || a.resp.StatusCode != 201 {
		t.Fatalf("the upload holding the slot: %v %v", a.resp, a.err)
	}
	r := <-done
	if r.err != nil || r.b == nil || r.b.Files != 1 {
		t.Fatalf("UploadBundle after a 503: %+v, %v", r.b, r.err)
	}
}

// Bundles are stored and served whole, whatever their size against the
// store's parts.
func TestAPIBundleRoundTrip(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for i := range 3 {
		fw, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%d", i), Method: zip.Store})
		fw.Write(bytes.Repeat([]byte{byte('a' + i)}, 900<<10))
	}
	zw.Close()
	b, err := s.api.UploadBundle(ctxT(t), bytes.NewReader(zb.Bytes()), int64(zb.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if n, err := s.api.DownloadBundle(ctxT(t), b.SHA256, &got); err != nil || n != int64(zb.Len()) || !bytes.Equal(got.Bytes(), zb.Bytes()) {
		t.Fatalf("download: %d of %d bytes, %v", n, zb.Len(), err)
	}
	if r := s.call(t, "GET", "/api/v1/bundles/"+strings.Repeat("0", 64), "", ""); r.status != 404 {
		t.Errorf("unknown bundle: %d %s", r.status, r.body)
	}
}
