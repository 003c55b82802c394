package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/drover-dev/drover"
)

// EventFilter selects events of GET /api/v1/events. Types keeps the events
// of those types only, "job" or "worker". States keeps the job events of
// jobs in those states only. Empty fields keep everything.
type EventFilter struct {
	Types  []string
	States []drover.JobState
}

// EventStream reads GET /api/v1/events once. The stream carries job and
// worker changes as Server-Sent Events. With lastID < 0 it starts from
// now. Otherwise it replays what came after lastID.
//
// It calls fn with each event's type, id and JSON data. The types are
// "hello", "job", "worker" and "reset". The caller decodes the data, so it
// can skip what it does not need. EventStream returns nil once fn returns
// false. It also returns when ctx ends or the stream breaks. It does not
// reconnect.
//
// open, when not nil, is called once the stream is open. f keeps only
// some events. The zero EventFilter keeps all.
func (c *Client) EventStream(ctx context.Context, lastID int64, f EventFilter, open func(), fn func(typ string, id int64, data []byte) bool) error {
	path := "/api/v1/events"
	q := url.Values{}
	if len(f.Types) > 0 {
		q.Set("type", strings.Join(f.Types, ","))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		q.Set("state", strings.Join(states, ","))
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if open != nil {
		open()
	}
	return readSSE(resp.Body, func(ev sseEvent) bool {
		id, _ := strconv.ParseInt(ev.id, 10, 64)
		return fn(ev.event, id, []byte(ev.data))
	})
}
