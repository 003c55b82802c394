package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// secretFlag is a token given by its environment variable, by a file, or
// on the command line. --NAME-file or the variable NAME_FILE names the
// file. The command line is kept for compatibility only and warned about.
// ps shows every process's arguments to every user of the machine, and to
// jobs.
type secretFlag struct {
	name  string // the flag, e.g. "join-token"; the file's is name+"-file"
	env   string // the variable, e.g. "DROVER_JOIN_TOKEN"; the file's is env+"_FILE"
	lines bool   // the file may hold several tokens, one per line

	value, file string
}

// add defines --NAME and --NAME-file; what names the token, e.g. "the
// join token workers register with".
func (s *secretFlag) add(a *app, fs *flag.FlagSet, what string) {
	list, lines := "", ""
	if s.lines {
		list, lines = " (comma-separated)", ", one per line"
	}
	fs.StringVar(&s.value, s.name, "", what+list+", given on the command line (ps shows it to every user: prefer env "+s.env+" or --"+s.name+"-file)")
	fs.StringVar(&s.file, s.name+"-file", a.getenv(s.env+"_FILE"), "file holding "+what+lines+", readable by its owner alone (env "+s.env+"_FILE; the token itself: env "+s.env+")")
}

// resolve returns the token. It takes it from the file when one is given,
// else from the command line, else from the environment. The command line
// wins over the environment, as for every flag.
//
// With a file, read reads it again for a later need, such as a worker
// registering again. read is nil otherwise. The variable is unset, so no
// process drover starts inherits it. Errors name the flag, as bad usage
// with exit code 2.
func (s *secretFlag) resolve(a *app, fs *flag.FlagSet) (token string, read func() (string, error), err error) {
	env := a.getenv(s.env)
	// Unset whatever happens: the token is in hand, the children need
	// not have it.
	_ = os.Unsetenv(s.env)
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fileFlag := "--" + s.name + "-file"
	switch {
	case given[s.name] && given[s.name+"-file"]:
		return "", nil, fmt.Errorf("--%s and %s both given: give the token one way, preferably %s", s.name, fileFlag, fileFlag)
	case given[s.name]:
		fmt.Fprintf(a.stderr, "drover: warning: --%s shows the token to every user of this machine, jobs included (ps, /proc/PID/cmdline): set %s or give %s instead\n",
			s.name, s.env, fileFlag)
		return s.value, nil, nil
	case s.file == "":
		return env, nil, nil
	case env != "" && !given[s.name+"-file"]:
		return "", nil, fmt.Errorf("%s and %s_FILE are both set: unset one", s.env, s.env)
	}
	path, err := filepath.Abs(s.file)
	if err != nil {
		return "", nil, fmt.Errorf("%s (%s_FILE) %s: %w", fileFlag, s.env, s.file, err)
	}
	read = func() (string, error) { return readTokenFile(fileFlag, s.env+"_FILE", path) }
	if token, err = read(); err != nil {
		return "", nil, err
	}
	if !s.lines && strings.ContainsAny(token, "\r\n") {
		return "", nil, fmt.Errorf("%s (%s_FILE) %s holds more than one line: put the token alone on the first line", fileFlag, s.env, path)
	}
	return token, read, nil
}

// maxTokenFile bounds a token file. Tokens are short. A file that is not
// one, such as a log given by mistake, is refused rather than read whole.
const maxTokenFile = 64 << 10

// readTokenFile reads a token file, without its trailing newlines. The file
// must be a regular file that its owner alone may read or write, as with
// mode 0600 or 0400. ssh requires the same of a private key, since a token
// others can read is one they can use. A missing, empty or open file is
// refused, naming the flag.
func readTokenFile(flagName, env, path string) (string, error) {
	where := fmt.Sprintf("%s (%s) %s", flagName, env, path)
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", where, err)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file: give the file that holds the token", where)
	case fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("%s may be read or changed by other users (mode %04o): chmod 600 %s", where, fi.Mode().Perm(), path)
	case fi.Size() > maxTokenFile:
		return "", fmt.Errorf("%s is %d bytes: a token file holds the token alone", where, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	token := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(token) == "" {
		return "", fmt.Errorf("%s is empty: write the token in it", where)
	}
	return token, nil
}

// splitTokens splits a list of API tokens given with commas or, in a file,
// one per line.
func splitTokens(s string) []string {
	var tokens []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	return tokens
}
