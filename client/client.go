// Package client is the typed Go client of drover's HTTP API under /api/v1.
//
// It holds both halves of the API. The CLI, the web UI's tests and drover
// bench use the client calls. The worker agent uses the worker protocol.
//
// An error the coordinator answers with is a *drover.Error. Branch on its
// drover.ErrorCode. Temporary says whether a retry may help.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// Client talks to one coordinator.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the bearer token. The client API takes an API token,
// Register the join token, and the worker protocol a worker's secret.
func WithToken(t string) Option { return func(c *Client) { c.token = t } }

// WithHTTPClient replaces the default HTTP client (which has no overall
// timeout, because follow streams and long-polls last).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the coordinator at base, e.g. "http://127.0.0.1:8080".
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), hc: defaultHTTP}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithToken returns a copy of c that sends token t.
func (c *Client) WithToken(t string) *Client {
	cp := *c
	cp.token = t
	return &cp
}

// Base is the coordinator's URL.
func (c *Client) Base() string { return c.base }

var defaultHTTP = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConns:        256,
	MaxIdleConnsPerHost: 256,
	IdleConnTimeout:     90 * time.Second,
	ForceAttemptHTTP2:   true,
	TLSHandshakeTimeout: 10 * time.Second,
}}

// Untrusted reports whether err is a TLS certificate that cannot be
// verified. Its authority may be unknown, its host wrong or its time past.
// That is a setup to fix, which retrying does not cure.
func Untrusted(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify)
}

// Temporary reports whether err may go away by retrying. A network error,
// a 5xx and a timeout may. 4xx answers are final. A certificate that cannot
// be trusted counts as temporary, so a worker keeps retrying through a
// botched rotation. A caller that must not wait for it checks Untrusted
// first.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	var e *drover.Error
	if errors.As(err, &e) {
		return e.Code == drover.EINTERNAL || e.Code == drover.EUNAVAILABLE
	}
	return !errors.Is(err, context.Canceled)
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any, hdr http.Header) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, readError(resp)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, nil
}

// readError turns an error response into *drover.Error.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb drover.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		return &eb.Error
	}
	code := drover.EINTERNAL
	switch {
	case resp.StatusCode == 401:
		code = drover.EUNAUTHORIZED
	case resp.StatusCode == 404:
		code = drover.ENOTFOUND
	case resp.StatusCode == 409:
		code = drover.ECONFLICT
	case resp.StatusCode == 413:
		code = drover.ETOOLARGE
	case resp.StatusCode == 503, resp.StatusCode == 502, resp.StatusCode == 504:
		code = drover.EUNAVAILABLE
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		code = drover.EINVALID
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = resp.Status
	}
	return &drover.Error{Code: code, Message: fmt.Sprintf("%s: %s", resp.Status, msg)}
}

// Submit queues a job. A non-empty idempotency key makes a retried
// submission return the same job.
func (c *Client) Submit(ctx context.Context, spec drover.JobSpec, idemKey string) (*drover.Job, error) {
	var hdr http.Header
	if idemKey != "" {
		hdr = http.Header{"Idempotency-Key": {idemKey}}
	}
	var j drover.Job
	_, err := c.do(ctx, http.MethodPost, "/api/v1/jobs", spec, &j, hdr)
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// Job returns a job with its attempts.
func (c *Client) Job(ctx context.Context, id string) (*drover.Job, error) {
	var j drover.Job
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j, nil); err != nil {
		return nil, err
	}
	return &j, nil
}

// Jobs lists jobs newest first.
func (c *Client) Jobs(ctx context.Context, f drover.JobFilter) (*drover.JobPage, error) {
	q := url.Values{}
	if all := f.AllStates(); len(all) > 0 {
		states := make([]string, len(all))
		for i, st := range all {
			states[i] = string(st)
		}
		q.Set("state", strings.Join(states, ","))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var p drover.JobPage
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/jobs?"+q.Encode(), nil, &p, nil); err != nil {
		return nil, err
	}
	return &p, nil
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (*drover.Job, error) {
	var j drover.Job
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j, nil); err != nil {
		return nil, err
	}
	return &j, nil
}

// CancelMany cancels up to drover.MaxCancel jobs together, so none of them
// starts in a slot another frees. Each result has the job, or the error its
// own cancel would have had.
func (c *Client) CancelMany(ctx context.Context, ids []string) ([]drover.CancelResult, error) {
	var resp drover.CancelResponse
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/jobs/cancel", drover.CancelRequest{IDs: ids}, &resp, nil); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(ids) {
		return nil, fmt.Errorf("cancel: %d results for %d jobs", len(resp.Results), len(ids))
	}
	return resp.Results, nil
}

// Output copies a job's output so far (one stream, or both with "") to w.
func (c *Client) Output(ctx context.Context, id string, stream drover.Stream, w io.Writer) error {
	path := "/api/v1/jobs/" + url.PathEscape(id) + "/output"
	if stream != "" {
		path += "?stream=" + string(stream)
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// Workers lists the workers.
func (c *Client) Workers(ctx context.Context) ([]drover.Worker, error) {
	var l drover.WorkerList
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/workers", nil, &l, nil); err != nil {
		return nil, err
	}
	return l.Workers, nil
}

// Worker returns one worker.
func (c *Client) Worker(ctx context.Context, id string) (*drover.Worker, error) {
	var w drover.Worker
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/workers/"+url.PathEscape(id), nil, &w, nil); err != nil {
		return nil, err
	}
	return &w, nil
}

// Drain asks a worker to finish what it runs, take nothing new, and leave.
func (c *Client) Drain(ctx context.Context, id string) (*drover.Worker, error) {
	var w drover.Worker
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/workers/"+url.PathEscape(id)+"/drain", nil, &w, nil); err != nil {
		return nil, err
	}
	return &w, nil
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event, data string
}

// readSSE calls fn for each event of an SSE body until it ends or fn
// returns false.
func readSSE(r io.Reader, fn func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				if ev.event == "" {
					ev.event = "message"
				}
				if !fn(ev) {
					return nil
				}
			}
			ev, data = sseEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
