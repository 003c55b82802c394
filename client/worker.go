package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/drover-dev/drover"
)

// Worker protocol. Register uses the join token; every other call uses the
// worker secret it returns (see WithToken).

// Register admits a worker. c carries the join token when the coordinator
// has one. req.PreviousSecret is the secret the worker held before. It
// proves a restarted worker is the one the coordinator lists under its
// name. Without it, a name another live worker holds is refused with
// ECONFLICT.
func (c *Client) Register(ctx context.Context, req drover.RegisterRequest) (*drover.RegisterResponse, error) {
	var r drover.RegisterResponse
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/workers", req, &r, nil); err != nil {
		return nil, err
	}
	return &r, nil
}

// Heartbeat reports liveness and usage.
func (c *Client) Heartbeat(ctx context.Context, workerID string, req drover.HeartbeatRequest) (*drover.HeartbeatResponse, error) {
	var r drover.HeartbeatResponse
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/workers/"+url.PathEscape(workerID)+"/heartbeat", req, &r, nil); err != nil {
		return nil, err
	}
	return &r, nil
}

// Work long-polls for assignments and stop requests, up to wait. A worker
// that knows it is draining says so, so the poll does not return at once
// just to tell it again.
func (c *Client) Work(ctx context.Context, workerID string, wait time.Duration, draining bool) (*drover.WorkResponse, error) {
	var r drover.WorkResponse
	path := "/api/v1/workers/" + url.PathEscape(workerID) + "/work?wait=" + wait.String()
	if draining {
		path += "&draining=1"
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, &r, nil); err != nil {
		return nil, err
	}
	return &r, nil
}

// Deregister removes the worker after a drain.
func (c *Client) Deregister(ctx context.Context, workerID string) error {
	_, err := c.do(ctx, http.MethodDelete, "/api/v1/workers/"+url.PathEscape(workerID), nil, nil, nil)
	return err
}

// Accept acknowledges an assignment early.
func (c *Client) Accept(ctx context.Context, attemptID string) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/attempts/"+url.PathEscape(attemptID)+"/accept", nil, nil, nil)
	return err
}

// Start reports that the command runs.
func (c *Client) Start(ctx context.Context, attemptID string, req drover.StartRequest) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/attempts/"+url.PathEscape(attemptID)+"/start", req, nil, nil)
	return err
}

// SendOutput posts ordered output chunks (idempotent by seq).
func (c *Client) SendOutput(ctx context.Context, attemptID string, chunks []drover.OutputChunk) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/attempts/"+url.PathEscape(attemptID)+"/output", drover.OutputRequest{Chunks: chunks}, nil, nil)
	return err
}

// Finish reports how the attempt ended.
func (c *Client) Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/attempts/"+url.PathEscape(attemptID)+"/finish", req, nil, nil)
	return err
}

// ErrNoReports is Report's error when the coordinator predates the batched
// call: report with Start and Finish instead.
var ErrNoReports = errors.New("the coordinator has no batched reports")

// Report posts the starts and finishes of up to drover.MaxReports attempts
// of workerID in one request. The error is the request's own, such as a
// failed transport or authentication. Otherwise there is one error per
// report, nil for those stored.
func (c *Client) Report(ctx context.Context, workerID string, reports []drover.AttemptReport) ([]error, error) {
	var resp drover.ReportsResponse
	status, err := c.do(ctx, http.MethodPost, "/api/v1/workers/"+url.PathEscape(workerID)+"/reports", drover.ReportsRequest{Reports: reports}, &resp, nil)
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		// The route is there for every worker that may call it. An
		// unknown worker gets 401 and another worker's call 403. A 404 or
		// 405 therefore means a coordinator without the route. An older
		// coordinator answers with its catch-all "no API route" 404, and
		// a proxy with a plain one.
		return nil, fmt.Errorf("%w: %v", ErrNoReports, err)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(reports) {
		return nil, fmt.Errorf("report %d attempts: the coordinator answered %d results", len(reports), len(resp.Results))
	}
	errs := make([]error, len(reports))
	for i, r := range resp.Results {
		if r.Error != nil {
			errs[i] = r.Error
		}
	}
	return errs, nil
}
