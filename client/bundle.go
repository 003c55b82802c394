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

	"github.com/drover-dev/drover"
)

// UploadBundle sends a ZIP of size bytes and returns the stored bundle.
// progress, when not nil, is called with the bytes sent so far.
func (c *Client) UploadBundle(ctx context.Context, zip io.Reader, size int64, progress func(sent int64)) (*drover.Bundle, error) {
	body := zip
	if progress != nil {
		body = &progressReader{r: zip, fn: progress}
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/api/v1/bundles", body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/zip")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, readError(resp)
	}
	var b drover.Bundle
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return nil, fmt.Errorf("decode bundle: %w", err)
	}
	return &b, nil
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
