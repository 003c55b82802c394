package bundle

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover"
)

func TestIgnoreRules(t *testing.T) {
	for _, tc := range []struct {
		rules   string
		path    string
		dir     bool
		ignored bool
	}{
		// Blank lines and comments.
		{"\n# a comment\n\n", "a comment", false, false},
		{"# x\nx", "x", false, true},
		{`\#x`, "#x", false, true},
		// A name without a slash matches at any depth, files and directories.
		{"*.log", "a.log", false, true},
		{"*.log", "deep/er/a.log", false, true},
		{"*.log", "a.log", true, true},
		{"*.log", "a.logs", false, false},
		{"cache", "x/cache", true, true},
		// "*" and "?" stop at "/".
		{"/a*", "abc/d", false, false},
		{"/a*", "abc", true, true},
		{"a?c", "abc", false, true},
		{"a?c", "a/c", false, false},
		// Classes, negated either way, and escapes.
		{"[ab].txt", "b.txt", false, true},
		{"[!ab].txt", "b.txt", false, false},
		{"[!ab].txt", "c.txt", false, true},
		{"[^ab].txt", "c.txt", false, true},
		{`\[!x]`, "[!x]", false, true},
		{`\*`, "*", false, true},
		{`\*`, "x", false, false},
		// A trailing "/" matches directories only.
		{"build/", "build", true, true},
		{"build/", "build", false, false},
		{"build/", "src/build", true, true},
		// A leading or inner "/" anchors to the root.
		{"/build", "build", true, true},
		{"/build", "src/build", true, false},
		{"doc/frotz", "doc/frotz", false, true},
		{"doc/frotz", "a/doc/frotz", false, false},
		{"doc/frotz/", "doc/frotz", true, true},
		// "**".
		{"**/foo", "foo", false, true},
		{"**/foo", "a/b/foo", false, true},
		{"**/foo/bar", "x/foo/bar", false, true},
		{"abc/**", "abc/x", false, true},
		{"abc/**", "abc/x/y", false, true},
		{"abc/**", "abc", true, false},
		{"a/**/b", "a/b", false, true},
		{"a/**/b", "a/x/y/b", false, true},
		{"a/**/b", "a/x/y/c", false, false},
		{"**", "anything/at/all", false, true},
		{"foo**bar", "fooxbar", false, true},
		// Negation: the last rule that matches decides.
		{"*.log\n!keep.log", "keep.log", false, false},
		{"*.log\n!keep.log", "drop.log", false, true},
		{"!keep.log\n*.log", "keep.log", false, true},
		{"dir/*\n!dir/keep", "dir/keep", false, false},
		{"dir/*\n!dir/keep", "dir/drop", false, true},
		{`\!important`, "!important", false, true},
		// Trailing spaces are dropped unless escaped; CRLF endings work.
		{"a.txt   ", "a.txt", false, true},
		{`a\ `, "a ", false, true},
		{"a.txt\r\nb.txt\r\n", "b.txt", false, true},
	} {
		rules, err := parseIgnore([]byte(tc.rules))
		if err != nil {
			t.Errorf("parse %q: %v", tc.rules, err)
			continue
		}
		if got := rules.ignored(tc.path, tc.dir); got != tc.ignored {
			t.Errorf("rules %q, path %q (dir %v): ignored = %v, want %v", tc.rules, tc.path, tc.dir, got, tc.ignored)
		}
	}
}

func TestIgnoreBadPattern(t *testing.T) {
	_, err := parseIgnore([]byte("ok\n# fine\nbad[x\n"))
	if !drover.IsCode(err, drover.EINVALID) || !strings.Contains(err.Error(), `.droverignore line 3: bad pattern "bad[x"`) {
		t.Fatalf("parseIgnore = %v, want an error naming line 3", err)
	}
}
