package drover_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

func TestQuote(t *testing.T) {
	mib := strings.Repeat("x", 1<<20)
	tests := []struct {
		name, in, want string
	}{
		{"short", "abc", `"abc"`},
		{"empty", "", `""`},
		{"control characters escaped", "a\x1b[31m\n", `"a\x1b[31m\n"`},
		{"at the limit", strings.Repeat("x", drover.MaxQuoted), `"` + strings.Repeat("x", drover.MaxQuoted) + `"`},
		{"one past", strings.Repeat("x", drover.MaxQuoted+1), `"` + strings.Repeat("x", drover.MaxQuoted) + `"… (201 bytes)`},
		{"a mebibyte", mib, `"` + strings.Repeat("x", drover.MaxQuoted) + `"… (1048576 bytes)`},
		// Cut at a character's start, never inside it.
		{"cut before a character", strings.Repeat("x", drover.MaxQuoted-1) + "éé", `"` + strings.Repeat("x", drover.MaxQuoted-1) + `"… (203 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drover.Quote(tt.in); got != tt.want {
				t.Errorf("Quote = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnsafeRune(t *testing.T) {
	for _, r := range []rune{0, '\t', '\n', '\r', 0x1b, 0x7f, 0x80, 0x9b, 0x9f, '\u2028', '\u2029', '\u202a', '\u202e', '\u2066', '\u2069'} {
		if !drover.UnsafeRune(r) {
			t.Errorf("UnsafeRune(%U) = false, want true", r)
		}
	}
	for _, r := range []rune{' ', 'a', '~', 'é', '\u00a0', '中', '\u200d', '\u05d0', '😀', '\ufffd'} {
		if drover.UnsafeRune(r) {
			t.Errorf("UnsafeRune(%U) = true, want false", r)
		}
	}
}

func TestValidateLabels(t *testing.T) {
	many := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	withOwn := many(drover.MaxLabels)
	withOwn[drover.LocalLabel], withOwn[drover.NetworkLabel] = "true", "true"
	mib := strings.Repeat("k", 1<<20)
	tests := []struct {
		name string
		m    map[string]string
		msg  []string // "" when valid
	}{
		{"none", nil, nil},
		{"usual", map[string]string{"zone": "eu-west", "gpu": "a100", "empty": ""}, nil},
		{"at the limit", many(drover.MaxLabels), nil},
		{"drover's own do not count", withOwn, nil},
		{"longest key and value", map[string]string{strings.Repeat("é", drover.MaxLabelKeyLen): strings.Repeat("é", drover.MaxLabelValueLen)}, nil},
		{"unicode", map[string]string{"région": "île-de-france"}, nil},

		{"too many", many(drover.MaxLabels + 1), []string{"65 labels; the limit is 64"}},
		{"ten thousand", many(10000), []string{"10000 labels"}},
		{"empty key", map[string]string{"": "x"}, []string{"a label has an empty name", "key=value"}},
		{"key too long", map[string]string{strings.Repeat("k", 64): "x"}, []string{"label key", "64 characters; the limit is 63"}},
		{"value too long", map[string]string{"k": strings.Repeat("v", 256)}, []string{"the value of label k", "256 characters; the limit is 255"}},
		{"escape in a key", map[string]string{"a\x1b[2Jb": "x"}, []string{`"a\x1b[2Jb"`, "U+001B", "control character", "one line"}},
		{"newline in a value", map[string]string{"k": "a\nb"}, []string{"the value of label k", "U+000A"}},
		{"C1 control in a value", map[string]string{"k": "a\u009bb"}, []string{"U+009B", "control character"}},
		{"bidi override in a key", map[string]string{"a\u202eb": "x"}, []string{"U+202E", "bidi control character"}},
		{"line separator", map[string]string{"k": "a\u2028b"}, []string{"U+2028", "line separator"}},
		{"invalid UTF-8 key", map[string]string{"a\xffb": "x"}, []string{"not valid UTF-8"}},
		{"invalid UTF-8 value", map[string]string{"k": "\xc3"}, []string{"not valid UTF-8"}},
		{"a mebibyte key", map[string]string{mib: "x"}, []string{"1048576 characters", "(1048576 bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := drover.ValidateLabels("labels", tt.m)
			checkFieldError(t, err, "labels", tt.msg)
		})
	}
	// The field names the message's words.
	err := drover.ValidateLabels("constraints", many(drover.MaxLabels+1))
	checkFieldError(t, err, "constraints", []string{"65 constraints; the limit is 64"})
	err = drover.ValidateLabels("constraints", map[string]string{strings.Repeat("k", 64): ""})
	checkFieldError(t, err, "constraints", []string{"constraint key"})
}

func TestValidateWorkerName(t *testing.T) {
	tests := []struct {
		name, in string
		msg      []string
	}{
		{"host name", "build-7.example.com", nil},
		{"longest", strings.Repeat("é", drover.MaxNameLen), nil},
		{"empty", "", []string{"worker name is empty", "--name"}},
		{"blank", "  ", []string{"worker name is empty"}},
		{"too long", strings.Repeat("n", drover.MaxNameLen+1), []string{"201 characters; the limit is 200"}},
		{"escape", "w\x1b]0;owned\x07", []string{"U+001B", "one line of printable text"}},
		{"newline", "w\nfake line", []string{"U+000A"}},
		{"bidi isolate", "w\u2067x", []string{"U+2067"}},
		{"invalid UTF-8", "w\xfe", []string{"not valid UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldError(t, drover.ValidateWorkerName(tt.in), "name", tt.msg)
		})
	}
}

// checkFieldError checks err is nil when msg is, else an EINVALID error
// on field whose message has each of msg and quotes little of the input.
func checkFieldError(t *testing.T, err error, field string, msg []string) {
	t.Helper()
	if msg == nil {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	de, ok := err.(*drover.Error)
	if !ok {
		t.Fatalf("error %v (%T), want a *drover.Error", err, err)
	}
	if de.Code != drover.EINVALID || de.Field != field {
		t.Errorf("code %q field %q, want %q on %q", de.Code, de.Field, drover.EINVALID, field)
	}
	for _, m := range msg {
		if !strings.Contains(de.Message, m) {
			t.Errorf("message %q does not contain %q", de.Message, m)
		}
	}
	if len(de.Message) > 1024 {
		t.Errorf("message is %d bytes: it echoes too much of the input", len(de.Message))
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer value", 10, "a longe..."},
		{"ééééé", 8, "éé..."}, // é is two bytes: the cut does not split one
		{"abc", 2, "..."},
	} {
		if got := drover.Clip(c.s, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
