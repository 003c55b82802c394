package bundle

import (
	"bufio"
	"bytes"
	"path"
	"strings"

	"github.com/drover-dev/drover"
)

// IgnoreFile is the file at the root of a folder that lists, in gitignore
// syntax, what [Zip] leaves out.
const IgnoreFile = ".droverignore"

// ignoreRules are the parsed lines of an ignore file, in order. The last
// rule that matches a path decides, as in git.
//
// The rules take what git's take:
//
//   - blank lines and "#" comments
//   - "!" to negate a rule
//   - a trailing "/" for directories only
//   - a leading or inner "/" to anchor the pattern to the root; without
//     one the pattern matches a name at any depth
//   - "*", "?", "\" escapes and "[...]" classes, negated by "[!...]" or
//     "[^...]"
//   - "**" as a whole segment: "**/x", "x/**" or "a/**/b"
//
// As in git, a path inside an ignored directory cannot be re-included,
// because the directory is not walked at all.
type ignoreRules []ignoreRule

type ignoreRule struct {
	negate   bool
	dirOnly  bool
	anchored bool     // matched against the whole path, else against the last segment
	segs     []string // the pattern split on "/"
}

// parseIgnore parses the content of an ignore file. A malformed pattern is an
// error naming its line, rather than a rule silently matching nothing.
func parseIgnore(data []byte) (ignoreRules, error) {
	var rules ignoreRules
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		// Trailing spaces are dropped unless escaped with a backslash.
		for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
			line = line[:len(line)-1]
		}
		if line == "" || line[0] == '#' {
			continue
		}
		var r ignoreRule
		if line[0] == '!' {
			r.negate, line = true, line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly, line = true, strings.TrimRight(line, "/")
		}
		r.anchored = strings.Contains(line, "/")
		for seg := range strings.SplitSeq(strings.TrimPrefix(line, "/"), "/") {
			if seg == "" {
				continue
			}
			seg = negateClasses(seg)
			if _, err := path.Match(seg, ""); err != nil {
				return nil, drover.Errorf(drover.EINVALID, "%s line %d: bad pattern %q", IgnoreFile, n, sc.Text())
			}
			r.segs = append(r.segs, seg)
		}
		if len(r.segs) == 0 {
			continue
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, drover.Errorf(drover.EINVALID, "%s: %v", IgnoreFile, err)
	}
	return rules, nil
}

// negateClasses rewrites gitignore's "[!...]" into the "[^...]" path.Match
// understands, leaving escaped brackets alone.
func negateClasses(seg string) string {
	if !strings.Contains(seg, "[!") {
		return seg
	}
	b := []byte(seg)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\\':
			i++
		case b[i] == '[' && i+1 < len(b) && b[i+1] == '!':
			b[i+1] = '^'
		}
	}
	return string(b)
}

// ignored reports whether the slash-separated path p, relative to the root,
// is left out.
func (rs ignoreRules) ignored(p string, isDir bool) bool {
	ignored := false
	for _, r := range rs {
		if r.negate == ignored && r.match(p, isDir) {
			ignored = !r.negate
		}
	}
	return ignored
}

func (r ignoreRule) match(p string, isDir bool) bool {
	if r.dirOnly && !isDir {
		return false
	}
	if !r.anchored {
		ok, _ := path.Match(r.segs[0], path.Base(p))
		return ok
	}
	return matchSegs(r.segs, strings.Split(p, "/"))
}

// matchSegs matches path segments against pattern segments. "**" matches
// any number of segments. It matches at least one when it ends the
// pattern, so "dir/**" matches what is inside dir but not dir itself.
func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return len(segs) > 0
			}
			for i := range len(segs) + 1 {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
