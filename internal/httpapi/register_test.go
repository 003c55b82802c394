package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

// TestAPIRegisterRefusesUnfitStrings checks a registration's name, labels,
// version and executors are bounded and one line of printable text.
func TestAPIRegisterRefusesUnfitStrings(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	labels := map[string]string{}
	for i := range 10000 {
		labels[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name  string
		req   map[string]any
		field string // "" when valid
		msg   string
	}{
		{"usual", map[string]any{"name": "build-1", "labels": map[string]string{"zone": "eu", "gpu": "a100"}}, "", ""},
		{"name with an escape", map[string]any{"name": "w\x1b]0;owned\x07"}, "name", "U+001B"},
		{"name with a newline", map[string]any{"name": "w\nDOWN"}, "name", "U+000A"},
		{"name with a bidi override", map[string]any{"name": "w\u202ex"}, "name", "U+202E"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 201)}, "name", "201 characters; the limit is 200"},
		{"ten thousand labels", map[string]any{"name": "w", "labels": labels}, "labels", "10000 labels; the limit is 64"},
		{"label key too long", map[string]any{"name": "w", "labels": map[string]string{strings.Repeat("k", 64): ""}}, "labels", "the limit is 63"},
		{"label value too long", map[string]any{"name": "w", "labels": map[string]string{"k": strings.Repeat("v", 256)}}, "labels", "the limit is 255"},
		{"label with an escape", map[string]any{"name": "w", "labels": map[string]string{"zone": "\x1b[2J"}}, "labels", "U+001B"},
		{"empty label name", map[string]any{"name": "w", "labels": map[string]string{"": "x"}}, "labels", "a label has an empty name"},
		{"version with an escape", map[string]any{"name": "w", "version": "1\x1b[31m"}, "version", "not a version"},
		{"version too long", map[string]any{"name": "w", "version": strings.Repeat("1", 65)}, "version", "at most 64 bytes"},
		{"executor repeated", map[string]any{"name": "w", "executors": []string{"process", "process", "process", "process"}}, "executors", "4 executors; there are only 3"},
		{"unknown executor", map[string]any{"name": "w", "executors": []string{"vm"}}, "executors", `"vm" is unknown`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{"executors": []string{"process"}, "capacity": map[string]any{"cpu": 1000, "memoryMB": 512, "slots": 1}, "version": "test"}
			for k, v := range tc.req {
				req[k] = v
			}
			b, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			r := s.call(t, "POST", "/api/v1/workers", "", string(b))
			if tc.field == "" {
				if r.status != 201 {
					t.Fatalf("register: %d %s, want 201", r.status, r.body)
				}
				return
			}
			if e := wantError(t, r, 422, drover.EINVALID, tc.msg); e.Field != tc.field {
				t.Errorf("field %q, want %q", e.Field, tc.field)
			}
		})
	}
}
