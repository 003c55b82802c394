package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

// Every JSON body the API decodes refuses a key given twice in one object,
// with 400 naming the key and where it is: encoding/json would keep the
// last one silently.
func TestAPIRefusesDuplicateKeys(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	w := s.register(t, "w1", 1000)
	cases := []struct {
		name, method, path, token, body string
		msg                             []string
		field                           string
	}{
		{"spec", "POST", "/api/v1/jobs", apiToken, `{"command":["true"],"command":["false"]}`,
			[]string{`key "command" appears twice in the body`}, "command"},
		{"spec, another case", "POST", "/api/v1/jobs", apiToken, `{"command":["true"],"Command":["false"]}`,
			[]string{`keys "command" and "Command" in the body name the same field`}, "command"},
		{"spec, escaped", "POST", "/api/v1/jobs", apiToken, `{"name":"a","\u006eame":"b","command":["true"]}`,
			[]string{`key "name" appears twice`}, "name"},
		{"spec, nested", "POST", "/api/v1/jobs", apiToken, `{"command":["true"],"resources":{"cpu":100,"cpu":100000}}`,
			[]string{`key "cpu" appears twice in resources`}, "resources.cpu"},
		{"spec, env", "POST", "/api/v1/jobs", apiToken, `{"command":["true"],"env":{"A":"1","A":"2"}}`,
			[]string{`key "A" appears twice in env`}, "env"},
		{"cancel many", "POST", "/api/v1/jobs/cancel", apiToken, `{"ids":["job_a"],"ids":["job_b"]}`,
			[]string{`key "ids" appears twice`}, "ids"},
		{"register", "POST", "/api/v1/workers", joinToken, `{"name":"w2","labels":{"zone":"a","zone":"b"}}`,
			[]string{`key "zone" appears twice in labels`}, "labels"},
		{"heartbeat", "POST", "/api/v1/workers/" + w.id + "/heartbeat", w.secret, `{"running":[],"draining":false,"draining":true}`,
			[]string{`key "draining" appears twice`}, "draining"},
		{"start", "POST", "/api/v1/attempts/att_x/start", w.secret, `{"bundleFetch":"1s","bundleFetch":"2s"}`,
			[]string{`key "bundleFetch" appears twice`}, "bundleFetch"},
		{"output", "POST", "/api/v1/attempts/att_x/output", w.secret, `{"chunks":[{"seq":1,"data":"YQ=="},{"seq":2,"data":"Yg==","seq":1}]}`,
			[]string{`key "seq" appears twice in chunks[1]`}, "chunks"},
		{"finish", "POST", "/api/v1/attempts/att_x/finish", w.secret, `{"exitCode":0,"lastSeq":3,"exitCode":1}`,
			[]string{`key "exitCode" appears twice`}, "exitCode"},
		{"reports", "POST", "/api/v1/workers/" + w.id + "/reports", w.secret, `{"reports":[{"attemptId":"att_x","attemptId":"att_y","start":{}}]}`,
			[]string{`key "attemptId" appears twice in reports[0]`}, "reports"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, s.call(t, tc.method, tc.path, tc.token, tc.body), 400, drover.EMALFORMED, tc.msg...)
			if e.Field != tc.field {
				t.Errorf("field %q, want %q", e.Field, tc.field)
			}
		})
	}

	// The multipart spec part is held to the same rule.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("spec", `{"command":["true"],"name":"a","name":"b"}`)
	mw.Close()
	wantError(t, s.call(t, "POST", "/api/v1/jobs", apiToken, body.String(), "Content-Type", mw.FormDataContentType()),
		400, drover.EMALFORMED, `key "name" appears twice`)

	// Keys of a map differing in case are different keys, as env names are.
	if r := s.call(t, "POST", "/api/v1/jobs", apiToken, `{"command":["true"],"env":{"PATH":"/bin","path":"x"}}`); r.status != 201 {
		t.Errorf("env names differing in case: %d %s, want 201", r.status, r.body)
	}
}

// A duplicate key's message quotes little of a long key.
func TestAPIDuplicateKeyMessageIsShort(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	long := strings.Repeat("x", 100<<10)
	for path, body := range map[string]string{
		"/api/v1/jobs":        `{"command":["true"],"env":{"` + long + `":"a","` + long + `":"b"}}`,
		"/api/v1/jobs/cancel": `{"ids":["job_x"],"` + long + `":1,"` + long + `":2}`,
	} {
		r := s.call(t, "POST", path, "", body)
		if len(r.body) > 1000 {
			t.Errorf("answer of %d bytes: %.300s", len(r.body), r.body)
			continue
		}
		e := wantError(t, r, 400, drover.EMALFORMED, "appears twice")
		if len(e.Message) > 300 || len(e.Field) > 100 {
			t.Errorf("message of %d bytes, field of %d: %.300s", len(e.Message), len(e.Field), e.Message)
		}
	}
}

// A decoding error quotes little of what the client sent, however long the
// unknown field name, or the number or string at fault.
func TestAPIDecodeErrorsAreShort(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	long := strings.Repeat("x", 100<<10)
	for _, body := range []string{
		`{"command":["true"],"` + long + `":1}`,
		`{"command":["true"],"priority":1` + strings.Repeat("0", 100<<10) + `}`,
		`{"command":["true"],"timeout":"` + long + `"}`,
	} {
		r := s.call(t, "POST", "/api/v1/jobs", "", body)
		if len(r.body) > 1000 {
			t.Errorf("answer of %d bytes: %.300s", len(r.body), r.body)
			continue
		}
		wantError(t, r, 400, drover.EMALFORMED)
	}
}
