package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

// TestAPIMessagesQuoteLittle sends a value of about a mebibyte wherever a
// message could quote it back. Every answer is an error that quotes at
// most drover.MaxQuoted bytes of it.
func TestAPIMessagesQuoteLittle(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	w := s.register(t, "w", 1000)
	job := s.submit(t, echoSpec())
	as := w.assignment(t)

	// A JSON body is at most 1 MiB, a request's head a little more: each
	// value is as large as its place allows.
	big := strings.Repeat("A", 1<<20-1024)
	digits := strings.Repeat("1", 1<<20-1024)
	esc := url.PathEscape(big)
	spec := func(field string) string { return `{"command": ["true"], ` + field + `}` }
	tests := []struct {
		name, method, path, token, body string
		hdr                             []string
	}{
		{name: "image", method: "POST", path: "/api/v1/jobs", body: spec(`"image": "` + big + `"`)},
		{name: "image path", method: "POST", path: "/api/v1/jobs", body: spec(`"image": "x/` + big + `"`)},
		{name: "image tag", method: "POST", path: "/api/v1/jobs", body: spec(`"image": "x:` + big + `"`)},
		{name: "executor", method: "POST", path: "/api/v1/jobs", body: spec(`"executor": "` + big + `"`)},
		{name: "bundle", method: "POST", path: "/api/v1/jobs", body: spec(`"bundle": "` + big + `"`)},
		{name: "env name", method: "POST", path: "/api/v1/jobs", body: spec(`"env": {"1` + big + `": "x"}`)},
		{name: "retryOn", method: "POST", path: "/api/v1/jobs", body: spec(`"retryOn": ["` + big + `"]`)},
		{name: "constraint key", method: "POST", path: "/api/v1/jobs", body: spec(`"constraints": {"` + big + `": "x"}`)},
		{name: "constraint value", method: "POST", path: "/api/v1/jobs", body: spec(`"constraints": {"k": "` + big + `"}`)},
		{name: "unknown field", method: "POST", path: "/api/v1/jobs", body: spec(`"` + big + `": 1`)},
		{name: "long number", method: "POST", path: "/api/v1/jobs", body: spec(`"priority": ` + digits)},
		{name: "timeout", method: "POST", path: "/api/v1/jobs", body: spec(`"timeout": "` + big + `"`)},
		{name: "Idempotency-Key", method: "POST", path: "/api/v1/jobs", body: spec(`"name": "x"`), hdr: []string{"Idempotency-Key", big}},
		{name: "state filter", method: "GET", path: "/api/v1/jobs?state=" + big},
		{name: "limit", method: "GET", path: "/api/v1/jobs?limit=" + big},
		{name: "cursor", method: "GET", path: "/api/v1/jobs?cursor=job_" + big},
		{name: "job id", method: "GET", path: "/api/v1/jobs/" + esc},
		{name: "cancel id", method: "POST", path: "/api/v1/jobs/" + esc + "/cancel"},
		{name: "output id", method: "GET", path: "/api/v1/jobs/" + esc + "/output"},
		{name: "cancel ids", method: "POST", path: "/api/v1/jobs/cancel", body: `{"ids": ["` + big + `"]}`},
		{name: "worker id", method: "GET", path: "/api/v1/workers/" + esc},
		{name: "drain id", method: "POST", path: "/api/v1/workers/" + esc + "/drain"},
		{name: "bundle id", method: "GET", path: "/api/v1/bundles/" + esc},
		{name: "method", method: "PUT", path: "/api/v1/jobs/" + esc},
		{name: "route", method: "GET", path: "/api/v1/" + esc},
		{name: "stream", method: "GET", path: "/api/v1/jobs/" + job.ID + "/output?stream=" + big},
		{name: "follow", method: "GET", path: "/api/v1/jobs/" + job.ID + "/output?follow=" + big},
		{name: "output Last-Event-ID", method: "GET", path: "/api/v1/jobs/" + job.ID + "/output?follow=1", hdr: []string{"Last-Event-ID", big}},
		{name: "event type", method: "GET", path: "/api/v1/events?type=" + big},
		{name: "events Last-Event-ID", method: "GET", path: "/api/v1/events", hdr: []string{"Last-Event-ID", big}},
		{name: "worker name", method: "POST", path: "/api/v1/workers", body: `{"name": "` + big + `"}`},
		{name: "label key", method: "POST", path: "/api/v1/workers", body: `{"name": "w2", "labels": {"` + big + `": "x"}}`},
		{name: "version", method: "POST", path: "/api/v1/workers", body: `{"name": "w2", "version": "` + big + `"}`},
		{name: "executors", method: "POST", path: "/api/v1/workers", body: `{"name": "w2", "executors": ["` + big + `"]}`},
		{name: "heartbeat path", method: "POST", path: "/api/v1/workers/" + esc + "/heartbeat", token: w.secret, body: `{}`},
		{name: "attempt path", method: "POST", path: "/api/v1/attempts/" + esc + "/start", token: w.secret, body: `{}`},
		{name: "wait", method: "GET", path: "/api/v1/workers/" + w.id + "/work?wait=" + big, token: w.secret},
		{name: "report attempt", method: "POST", path: "/api/v1/workers/" + w.id + "/reports", token: w.secret,
			body: `{"reports": [{"attemptId": "` + big + `", "start": {}}]}`},
		{name: "finish reason", method: "POST", path: "/api/v1/attempts/" + as.AttemptID + "/finish", token: w.secret,
			body: `{"reason": "` + big + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, tc.method, tc.path, tc.token, tc.body, tc.hdr...)
			checkQuotesLittle(t, r)
		})
	}
	t.Run("multipart part name", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if err := mw.WriteField(big, "x"); err != nil {
			t.Fatal(err)
		}
		mw.Close()
		checkQuotesLittle(t, s.call(t, "POST", "/api/v1/jobs", "", body.String(), "Content-Type", mw.FormDataContentType()))
	})
}

// checkQuotesLittle checks r is an error whose answer is short.
func checkQuotesLittle(t *testing.T, r response) {
	t.Helper()
	e := r.apiError(t)
	if r.status < 400 || r.status >= 500 {
		t.Errorf("status %d, want a client error", r.status)
	}
	if n := len(r.body); n > 1024 {
		t.Errorf("the answer is %d bytes, want at most 1 KiB: %.400s", n, r.body)
	}
	if strings.Contains(e.Message, strings.Repeat("A", drover.MaxQuoted+1)) {
		t.Errorf("message quotes more than %d bytes of the value", drover.MaxQuoted)
	}
}
