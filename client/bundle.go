package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/drover-dev/drover"
)

// UploadBundle sends a ZIP of size bytes and returns the stored bundle.
// progress, when not nil, is called with the bytes sent so far. A zip that
// is an io.ReaderAt, such as a file, is read from its start.
//
// A coordinator that reads as many uploads as it takes at once answers 503
// with Retry-After. When zip is an io.ReaderAt, UploadBundle then waits as
// told and sends it again, up to uploadTries times. progress then starts
// again from 0. Each send reads zip through a reader of its own, because
// the transport may still read for a send that was answered early.
func (c *Client) UploadBundle(ctx context.Context, zip io.Reader, size int64, progress func(sent int64)) (*drover.Bundle, error) {
	ra, canRetry := zip.(io.ReaderAt)
	for try := 1; ; try++ {
		body := zip
		if canRetry {
			body = io.NewSectionReader(ra, 0, size)
		}
		b, wait, err := c.uploadBundle(ctx, body, size, progress)
		if wait == 0 || !canRetry || try == uploadTries {
			return b, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// uploadTries bounds the sends of one bundle to a busy coordinator: about
// a minute at its usual Retry-After.
const uploadTries = 30

// uploadBundle sends the bundle once. wait is the Retry-After of a busy
// coordinator's 503, 0 for any other answer.
func (c *Client) uploadBundle(ctx context.Context, zip io.Reader, size int64, progress func(sent int64)) (b *drover.Bundle, wait time.Duration, err error) {
	body := zip
	if progress != nil {
		body = &progressReader{r: zip, fn: progress}
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/api/v1/bundles", body)
	if err != nil {
		return nil, 0, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/zip")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		if resp.StatusCode == http.StatusServiceUnavailable {
			if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
				wait = time.Duration(min(secs, 60)) * time.Second
			}
		}
		return nil, wait, readError(resp)
	}
	b = new(drover.Bundle)
	if err := json.NewDecoder(resp.Body).Decode(b); err != nil {
		return nil, 0, fmt.Errorf("decode bundle: %w", err)
	}
	return b, 0, nil
}

type progressReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.fn(p.n)
	return n, err
}

// DownloadBundle writes bundle sha's ZIP to w, verifying its hash; a
// mismatch is an error and w must then be discarded.
func (c *Client) DownloadBundle(ctx context.Context, sha string, w io.Writer) (int64, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v1/bundles/"+url.PathEscape(sha), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, readError(resp)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
	if err != nil {
		return n, fmt.Errorf("download bundle %s: %w", sha, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return n, fmt.Errorf("download bundle %s: the bytes hash to %s", sha, got)
	}
	return n, nil
}
