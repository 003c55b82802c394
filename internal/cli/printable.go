package cli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/drover-dev/drover"
)

// printable shows as Go escapes what of s could drive a terminal or break
// a line of a table:
//
//   - control characters, such as an escape sequence in a name or a
//     newline in a script
//   - line separators
//   - bidi controls, which reorder the text around them
//   - bytes that are not UTF-8
//
// The rest is left as it is, backslashes included, so ordinary text reads
// as it was written. Every value from a coordinator that human-readable
// output prints goes through it. --json output and a job's own output do
// not.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, drover.UnsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case drover.UnsafeRune(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
