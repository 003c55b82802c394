package httpapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

type embedded struct {
	Inner string `json:"inner"`
	Both  string `json:"both"`
}

type withEmbedded struct {
	embedded
	Both  string           `json:"both"` // shallower: wins over embedded.Both
	Any   any              `json:"any"`
	Items []drover.JobSpec `json:"items"`
}

func TestDuplicateKey(t *testing.T) {
	spec := reflect.TypeFor[*drover.JobSpec]()
	cases := []struct {
		name, body string
		t          reflect.Type
		key, first string // "" key: no duplicate
		path       []string
		field      string
	}{
		{name: "none", body: `{"command":["true"],"name":"n","env":{"A":"1","a":"2"},"resources":{"cpu":1}}`, t: spec},
		{name: "top", body: `{"command":["true"],"name":"a","command":["false"]}`, t: spec, key: "command", field: "command"},
		{name: "case", body: `{"command":["true"],"COMMAND":["false"]}`, t: spec, key: "COMMAND", first: "command", field: "command"},
		{name: "case first", body: `{"Name":"a","name":"b"}`, t: spec, key: "name", first: "Name", field: "name"},
		{name: "escaped", body: `{"name":"a","\u006eame":"b"}`, t: spec, key: "name", field: "name"},
		{name: "nested", body: `{"resources":{"cpu":1,"memoryMB":2,"cpu":3}}`, t: spec, key: "cpu", path: []string{"resources"}, field: "resources.cpu"},
		{name: "map", body: `{"env":{"A":"1","B":"2","A":"3"}}`, t: spec, key: "A", path: []string{"env"}, field: "env"},
		{name: "map case is not a duplicate", body: `{"env":{"PATH":"1","path":"2"}}`, t: spec},
		{name: "map invalid UTF-8 keys decode alike", body: "{\"env\":{\"a\xff\":\"1\",\"a\xfe\":\"2\"}}", t: spec, key: "a\ufffd", path: []string{"env"}, field: "env"},
		{name: "many map keys", body: `{"env":{` + manyKeys(40) + `,"K07":"x"}}`, t: spec, key: "K07", path: []string{"env"}, field: "env"},
		{name: "many distinct map keys", body: `{"env":{` + manyKeys(40) + `}}`, t: spec},
		{name: "strings with quotes and braces", body: `{"name":"a\"}{\\","command":"x\\\\\"","env":{"\"":"}","\\\"":"{"}}`, t: spec},
		{name: "unknown fields", body: `{"zzz":1,"zzz":2}`, t: spec, key: "zzz"},
		{name: "array", body: `{"chunks":[{"seq":1,"data":"YQ=="},{"seq":2,"stream":"stdout","seq":3}]}`, t: reflect.TypeFor[*drover.OutputRequest](),
			key: "seq", path: []string{"[1]", "chunks"}, field: "chunks"},
		{name: "reports", body: `{"reports":[{"attemptId":"a","finish":{"exitCode":0,"usage":{"cpuSeconds":1,"cpuSeconds":2}}}]}`, t: reflect.TypeFor[*drover.ReportsRequest](),
			key: "cpuSeconds", path: []string{"usage", "finish", "[0]", "reports"}, field: "reports"},
		{name: "embedded", body: `{"inner":"a","both":"b","Inner":"c"}`, t: reflect.TypeFor[withEmbedded](), key: "Inner", first: "inner", field: "inner"},
		{name: "embedded distinct", body: `{"inner":"a","both":"b"}`, t: reflect.TypeFor[withEmbedded]()},
		{name: "any", body: `{"any":{"x":[{"y":1,"y":2}]}}`, t: reflect.TypeFor[withEmbedded](), key: "y", path: []string{"[0]", "x", "any"}, field: "any"},
		{name: "any case is not a duplicate", body: `{"any":{"y":1,"Y":2}}`, t: reflect.TypeFor[withEmbedded]()},
		{name: "slice of structs", body: `{"items":[{},{"resources":{"cpu":1,"Cpu":2}}]}`, t: reflect.TypeFor[withEmbedded](),
			key: "Cpu", first: "cpu", path: []string{"resources", "[1]", "items"}, field: "items"},
		{name: "command decodes itself", body: `{"command":["a","a"]}`, t: spec},
		{name: "scalars and space", body: " {\n\t\"priority\" : -1.5e3 , \"network\":true,\"image\":null } ", t: spec},
		{name: "untyped", body: `[{"a":1},{"a":1,"b":{"a":2,"a":3}}]`, key: "a", path: []string{"b", "[1]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid([]byte(tc.body)) {
				t.Fatalf("test body is not valid JSON: %s", tc.body)
			}
			d := duplicateKey([]byte(tc.body), tc.t)
			if tc.key == "" {
				if d != nil {
					t.Fatalf("duplicate %+v, want none", d)
				}
				return
			}
			if d == nil {
				t.Fatalf("no duplicate found, want %q", tc.key)
			}
			if d.key != tc.key || d.first != tc.first || !slices.Equal(d.path, tc.path) || d.field != tc.field {
				t.Errorf("duplicate %+v, want key %q first %q path %q field %q", *d, tc.key, tc.first, tc.path, tc.field)
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"K` + string(rune('0'+i/10)) + string(rune('0'+i%10)) + `":"v"`)
	}
	return b.String()
}
