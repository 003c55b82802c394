package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/retry"
)

// FollowHandler receives a followed job's events. Any field may be nil.
type FollowHandler struct {
	Output func(drover.OutputEvent)
	State  func(drover.StateEvent)
	// Disconnected is called after each failed attempt to reach the
	// stream, with how long it has been down; returning false stops Follow
	// with that error. Nil retries until ctx ends.
	Disconnected func(err error, down time.Duration) bool
}

// followBackoff is the wait between a follow's reconnections. It starts
// again from its first wait once a connection got through.
var followBackoff = retry.Backoff{First: 100 * time.Millisecond, Max: 5 * time.Second}

// Follow streams a job's output until the job ends, and returns its final
// state. It starts from the first event, or after event lastID when that
// is not zero. After a broken connection it connects again with
// Last-Event-ID. So nothing is missed or repeated. An error answer from
// the coordinator ends it, unless the answer is Temporary.
func (c *Client) Follow(ctx context.Context, id string, stream drover.Stream, lastID int64, h FollowHandler) (*drover.EndEvent, error) {
	wait := followBackoff
	var downSince time.Time
	for {
		connected := false
		end, err := c.followOnce(ctx, id, stream, &lastID, h, &connected)
		if end != nil {
			return end, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var de *drover.Error
		if errors.As(err, &de) && !Temporary(err) {
			return nil, err
		}
		if connected {
			// The stream was up until now.
			downSince = time.Time{}
			wait.Reset()
		}
		if downSince.IsZero() {
			downSince = time.Now()
		}
		if h.Disconnected != nil && !h.Disconnected(err, time.Since(downSince)) {
			return nil, err
		}
		if err := wait.Sleep(ctx, wait.Next()); err != nil {
			return nil, err
		}
	}
}

// followOnce reads the events of one connection until the end event or a
// break. It sets connected once the coordinator answered. It moves lastID
// past each output event it hands on.
func (c *Client) followOnce(ctx context.Context, id string, stream drover.Stream, lastID *int64, h FollowHandler, connected *bool) (*drover.EndEvent, error) {
	q := url.Values{"follow": {"1"}}
	if stream != "" {
		q.Set("stream", string(stream))
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id)+"/output?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*lastID, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, readError(resp)
	}
	*connected = true
	var end *drover.EndEvent
	var bad error
	err = readSSE(resp.Body, func(ev sseEvent) bool {
		switch ev.event {
		case "output":
			var o drover.OutputEvent
			if err := json.Unmarshal([]byte(ev.data), &o); err != nil {
				bad = err
				return false
			}
			if n, err := strconv.ParseInt(ev.id, 10, 64); err == nil {
				*lastID = n
			}
			if h.Output != nil {
				h.Output(o)
			}
		case "state":
			var s drover.StateEvent
			if json.Unmarshal([]byte(ev.data), &s) == nil && h.State != nil {
				h.State(s)
			}
		case "end":
			var e drover.EndEvent
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				bad = err
				return false
			}
			end = &e
			return false
		}
		return true
	})
	if end != nil {
		return end, nil
	}
	if bad != nil {
		return nil, bad
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}
