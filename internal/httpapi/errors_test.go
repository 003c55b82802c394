package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

func TestWriteErrorStatusTable(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{drover.Errorf(drover.EMALFORMED, "bad json"), 400, drover.EMALFORMED, "bad json"},
		{drover.Errorf(drover.EUNAUTHORIZED, "no token"), 401, drover.EUNAUTHORIZED, "no token"},
		{drover.Errorf(drover.EFORBIDDEN, "not yours"), 403, drover.EFORBIDDEN, "not yours"},
		{drover.Errorf(drover.ENOTFOUND, "no job"), 404, drover.ENOTFOUND, "no job"},
		{drover.Errorf(drover.ECONFLICT, "stale"), 409, drover.ECONFLICT, "stale"},
		{drover.Errorf(drover.ETOOLARGE, "too big"), 413, drover.ETOOLARGE, "too big"},
		{drover.Errorf(drover.EINVALID, "bad spec"), 422, drover.EINVALID, "bad spec"},
		{drover.Errorf(drover.EUNSCHEDULABLE, "too large a job"), 422, drover.EUNSCHEDULABLE, "too large a job"},
		{drover.Errorf(drover.EUNAVAILABLE, "busy"), 503, drover.EUNAVAILABLE, "busy"},
		// Internal errors show nothing of themselves.
		{drover.Errorf(drover.EINTERNAL, "secret detail"), 500, drover.EINTERNAL, "internal error"},
		{errors.New("secret detail"), 500, drover.EINTERNAL, "internal error"},
		{fmt.Errorf("list jobs: %w", errors.New("secret detail")), 500, drover.EINTERNAL, "internal error"},
		// A code without a status is a bug: internal, and not shown.
		{drover.Errorf("novel", "secret detail"), 500, drover.EINTERNAL, "internal error"},
		// A wrapped domain error keeps its code and message.
		{fmt.Errorf("submit: %w", drover.Errorf(drover.ENOTFOUND, "no bundle")), 404, drover.ENOTFOUND, "no bundle"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			var logs bytes.Buffer
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/api/v1/jobs", nil)
			writeError(rec, req, slog.New(slog.NewTextHandler(&logs, nil)), tc.err)

			var body drover.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tc.status || body.Error.Code != tc.code || body.Error.Message != tc.msg {
				t.Errorf("got %d {%s %q}, want %d {%s %q}", rec.Code, body.Error.Code, body.Error.Message, tc.status, tc.code, tc.msg)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			internal := tc.code == drover.EINTERNAL
			if strings.Contains(rec.Body.String(), "secret detail") {
				t.Errorf("the answer shows the internal detail: %s", rec.Body)
			}
			if logged := strings.Contains(logs.String(), "request failed"); logged != internal {
				t.Errorf("logged = %v, want %v (internal errors only); log: %s", logged, internal, logs.String())
			}
			if internal && !strings.Contains(logs.String(), "secret detail") {
				t.Errorf("the log lacks the detail: %s", logs.String())
			}
		})
	}
}

func TestWriteErrorNamesTheField(t *testing.T) {
	rec := httptest.NewRecorder()
	err := fmt.Errorf("submit: %w", drover.FieldErrorf("resources.cpu", "cpu is negative"))
	writeError(rec, httptest.NewRequest("POST", "/api/v1/jobs", nil), slog.New(slog.DiscardHandler), err)
	var body drover.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusUnprocessableEntity || body.Error.Field != "resources.cpu" {
		t.Errorf("got %d field %q, want 422 field resources.cpu", rec.Code, body.Error.Field)
	}
}

func TestStatusTableCoversEveryCode(t *testing.T) {
	for _, code := range []string{drover.ECONFLICT, drover.EINTERNAL, drover.EINVALID, drover.EMALFORMED, drover.ENOTFOUND,
		drover.EUNAUTHORIZED, drover.EFORBIDDEN, drover.ETOOLARGE, drover.EUNSCHEDULABLE, drover.EUNAVAILABLE} {
		if _, ok := statusOf[code]; !ok {
			t.Errorf("code %s has no status", code)
		}
	}
}

func TestDecodeRefusesTrailingData(t *testing.T) {
	for _, body := range []string{`{} {}`, `{} x`, `{}}`, `{}]`, `{},`, `{} 1`} {
		var v struct{}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if err := decode(r, &v, true); !drover.IsCode(err, drover.EMALFORMED) {
			t.Errorf("decode %q: err = %v, want malformed", body, err)
		}
	}
	for _, body := range []string{`{}`, "{}\n", " {} \r\n\t"} {
		var v struct{}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if err := decode(r, &v, true); err != nil {
			t.Errorf("decode %q: %v, want it accepted", body, err)
		}
	}
}

// A request whose context ended under it (the coordinator stopping) is
// answered 503, not 500, and not logged as an internal error; the same
// error with the request still live stays internal.
func TestCancelledRequestIsUnavailable(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("POST", "/api/v1/workers/w/heartbeat", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	writeError(rec, r, log, fmt.Errorf("heartbeat: %w", context.Canceled))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "stopping") || logs.Len() != 0 {
		t.Errorf("cancelled request: %d %s, logged %q; want 503 saying the coordinator is stopping, nothing logged", rec.Code, rec.Body, logs.String())
	}
	rec = httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/", nil), log, context.Canceled)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("context.Canceled with the request live: %d, want 500", rec.Code)
	}
}
