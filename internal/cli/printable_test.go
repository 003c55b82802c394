package cli

import "testing"

func TestPrintable(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "build-7 zone=eu", "build-7 zone=eu"},
		{"empty", "", ""},
		{"unicode kept", "région île 中文 😀 עברית", "région île 中文 😀 עברית"},
		{"backslash kept", `C:\work\x1b`, `C:\work\x1b`},
		{"newline", "a\nb", `a\nb`},
		{"tab", "a\tb", `a\tb`},
		{"carriage return", "ok\rFAILED", `ok\rFAILED`},
		{"escape sequence", "\x1b[2J\x1b]0;title\x07", `\x1b[2J\x1b]0;title\a`},
		{"NUL and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 control", "a\u009b31m", `a\u009b31m`},
		{"line separator", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"bidi override", "invoice\u202egpj.exe", `invoice\u202egpj.exe`},
		{"bidi isolate", "a\u2066b\u2069", `a\u2066b\u2069`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"joiner kept", "👩\u200d💻", "👩\u200d💻"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printable(tt.in)
			if got != tt.want {
				t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := printable(got); again != got {
				t.Errorf("printable is not idempotent: %q, then %q", got, again)
			}
		})
	}
}
