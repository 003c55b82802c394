package drover

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the labels of a worker and the constraints of a job. A key is
// as long as a Kubernetes label name may be; a value is longer, as free
// text. Lengths count characters.
const (
	MaxLabels        = 64
	MaxLabelKeyLen   = 63
	MaxLabelValueLen = 255
)

// ownLabels are the labels drover sets itself. They do not count against
// MaxLabels, so a user's full set still fits beside them.
var ownLabels = []string{LocalLabel, NetworkLabel}

// MaxQuoted is the most bytes of a client's value that a message quotes.
const MaxQuoted = 200

// Quote quotes a client's value for a message, with Go escapes for what is
// not printable. A value longer than MaxQuoted bytes is cut there and its
// length given. A message then never echoes a large input back.
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cutAt(s, MaxQuoted)]), len(s))
}

// Clip cuts s to at most n bytes, "..." included, at a character
// boundary. It marks the cut with "...". A string of n bytes or fewer is
// returned as it is.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:cutAt(s, n-len("..."))] + "..."
}

// cutAt is the largest length of at most n bytes that does not split a
// character of s.
func cutAt(s string, n int) int {
	n = max(0, min(n, len(s)))
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// UnsafeRune reports whether r must not reach a terminal or a one-line
// display as it is. Control characters of C0, C1 and DEL move the cursor,
// end the line or start escape sequences. Line and paragraph separators end
// the line too. Bidi embeddings, overrides and isolates reorder the text
// around them, so a value could pass for another.
func UnsafeRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || isBidiControl(r)
}

func isBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// unsafeKind names what kind of unsafe rune r is, for messages.
func unsafeKind(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "control character"
	case isBidiControl(r):
		return "bidi control character"
	}
	return "line separator"
}

// checkLine refuses s unless it is one line of printable text of at most
// maxLen characters. what names s in the message.
func checkLine(field, what, s string, maxLen int) error {
	if !utf8.ValidString(s) {
		return FieldErrorf(field, "%s is not valid UTF-8: send text", what)
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return FieldErrorf(field, "%s is %d characters; the limit is %d", what, n, maxLen)
	}
	if i := strings.IndexFunc(s, UnsafeRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return FieldErrorf(field, "%s contains the %s %U (%q): it must be one line of printable text, shown in lists and terminals", what, unsafeKind(r), r, r)
	}
	return nil
}

// ValidateWorkerName checks the name a worker registers with: one line of
// printable text of 1 to MaxNameLen characters. The error is on the field
// "name".
func ValidateWorkerName(name string) error {
	if strings.TrimSpace(name) == "" {
		return FieldErrorf("name", "worker name is empty: give --name or let it default to the host name")
	}
	return checkLine("name", "worker name", name, MaxNameLen)
}

// ValidateLabels checks a worker's labels or a job's constraints.
// field names which: "labels" or "constraints". There may be MaxLabels of
// them besides drover's own. A key has 1 to MaxLabelKeyLen characters and a
// value at most MaxLabelValueLen, each one line of printable text.
func ValidateLabels(field string, m map[string]string) error {
	n := len(m)
	for _, k := range ownLabels {
		if _, ok := m[k]; ok {
			n--
		}
	}
	if n > MaxLabels {
		return FieldErrorf(field, "%d %s; the limit is %d", n, field, MaxLabels)
	}
	one := strings.TrimSuffix(field, "s")
	// Sorted, so that the first fault named is the same every time.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" {
			return FieldErrorf(field, "a %s has an empty name: use key=value", one)
		}
		if err := checkLine(field, one+" key "+Quote(k), k, MaxLabelKeyLen); err != nil {
			return err
		}
		if err := checkLine(field, "the value of "+one+" "+k, m[k], MaxLabelValueLen); err != nil {
			return err
		}
	}
	return nil
}
