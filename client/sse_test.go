package client

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// What readSSE supports, against the WHATWG event-stream format:
//   - lines end in LF or CRLF; a lone CR is not a line end (drover's server
//     never sends one);
//   - several data lines join with "\n"; one space after the colon is dropped;
//     a line without a colon is a field with an empty value; unknown fields
//     (retry, ...) and comment lines are ignored;
//   - an event is dispatched when it has data or an event name (the standard
//     drops an event without data; drover's "end" may carry none); its event
//     name defaults to "message";
//   - id is the id of that event only: it does not carry over to later
//     events, and an id-only block is dropped;
//   - the body ending for any reason before fn returns false, even right
//     after a complete event, is io.ErrUnexpectedEOF: a follow stream always
//     ends with an event its reader stops on.
func TestReadSSE(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []sseEvent
	}{
		{name: "empty body", body: ""},
		{name: "one event",
			body: "id: 7\nevent: output\ndata: {\"data\":\"hi\"}\n\n",
			want: []sseEvent{{id: "7", event: "output", data: `{"data":"hi"}`}}},
		{name: "several events, fields reset between them",
			body: "id: 1\nevent: output\ndata: a\n\nevent: state\ndata: b\n\ndata: c\n\n",
			want: []sseEvent{{id: "1", event: "output", data: "a"}, {event: "state", data: "b"}, {event: "message", data: "c"}}},
		{name: "multi-line data",
			body: "data: line 1\ndata: line 2\ndata:\ndata: line 4\n\n",
			want: []sseEvent{{event: "message", data: "line 1\nline 2\n\nline 4"}}},
		{name: "field order does not matter",
			body: "data: x\nevent: end\nid: 3\n\n",
			want: []sseEvent{{id: "3", event: "end", data: "x"}}},
		{name: "comments and keep-alives",
			body: ": keep-alive\n\n:\n\n: note\ndata: x\n: between\ndata: y\n\n",
			want: []sseEvent{{event: "message", data: "x\ny"}}},
		{name: "retry and unknown fields ignored",
			body: "retry: 1000\n\nfoo: bar\ndata: x\n\n",
			want: []sseEvent{{event: "message", data: "x"}}},
		{name: "no space after the colon",
			body: "event:end\ndata:{}\n\n",
			want: []sseEvent{{event: "end", data: "{}"}}},
		{name: "only one leading space dropped",
			body: "data:   indented\n\n",
			want: []sseEvent{{event: "message", data: "  indented"}}},
		{name: "colons in the value",
			body: "data: a: b: c\n\n",
			want: []sseEvent{{event: "message", data: "a: b: c"}}},
		{name: "field without a colon",
			body: "data\n\n",
			want: []sseEvent{{event: "message", data: ""}}},
		{name: "event without data",
			body: "event: end\n\n",
			want: []sseEvent{{event: "end"}}},
		{name: "id-only block dropped, id not carried over",
			body: "id: 5\n\ndata: a\n\nid: 6\ndata: b\n\ndata: c\n\n",
			want: []sseEvent{{event: "message", data: "a"}, {id: "6", event: "message", data: "b"}, {event: "message", data: "c"}}},
		{name: "several blank lines",
			body: "\n\n\ndata: a\n\n\n\n",
			want: []sseEvent{{event: "message", data: "a"}}},
		{name: "CRLF line ends",
			body: "id: 9\r\nevent: output\r\ndata: a\r\ndata: b\r\n\r\n",
			want: []sseEvent{{id: "9", event: "output", data: "a\nb"}}},
		{name: "lone CR is not a line end",
			body: "data: a\rdata: b\r\r\n\n",
			want: []sseEvent{{event: "message", data: "a\rdata: b\r"}}},
		{name: "ends mid-event without a newline",
			body: "data: a\n\nevent: output\ndata: b",
			want: []sseEvent{{event: "message", data: "a"}}},
		{name: "ends mid-event after a newline",
			body: "data: a\n\nevent: output\ndata: b\n",
			want: []sseEvent{{event: "message", data: "a"}}},
		{name: "long line",
			body: "data: " + strings.Repeat("x", 1<<20) + "\n\n",
			want: []sseEvent{{event: "message", data: strings.Repeat("x", 1<<20)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []sseEvent
			err := readSSE(strings.NewReader(tt.body), func(ev sseEvent) bool {
				got = append(got, ev)
				return true
			})
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("readSSE = %v, want io.ErrUnexpectedEOF at the end of the body", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestReadSSEStops(t *testing.T) {
	body := "event: output\ndata: 1\n\nevent: end\ndata: {}\n\nevent: output\ndata: 2\n\n"
	var got []string
	err := readSSE(strings.NewReader(body), func(ev sseEvent) bool {
		got = append(got, ev.event)
		return ev.event != "end"
	})
	if err != nil {
		t.Errorf("readSSE = %v, want nil when fn stops it", err)
	}
	if strings.Join(got, ",") != "output,end" {
		t.Errorf("events %v, want output,end and nothing after", got)
	}
}

func TestReadSSEReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	var got []string
	err := readSSE(r, func(ev sseEvent) bool {
		got = append(got, ev.data)
		return true
	})
	if !errors.Is(err, boom) {
		t.Errorf("readSSE = %v, want the reader's error", err)
	}
	if strings.Join(got, ",") != "a" {
		t.Errorf("events %v, want only the complete one", got)
	}
}
