//go:build linux

package process

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The messages below end up on the job for its user to read. They say what
// is wrong in the user's terms, and the fix where there is one.

var (
	errIsDir     = errors.New("is a directory")
	errNoExecBit = errors.New("no execute permission")
	errDenied    = errors.New("execute permission denied")
	errNoexec    = errors.New("file system mounted noexec")
)

const chmodHint = "chmod +x it before packing the bundle, or run it through its interpreter, like: sh ./run.sh"

// cannotRun is a command that cannot be run for a reason of its own.
// A command that is not there exits 127. One that is there but cannot be
// executed exits 126. A shell and docker run give the same codes. Any
// other error starting a command is the machine's.
type cannotRun struct {
	code int
	msg  string
}

func (e *cannotRun) Error() string { return e.msg }

// notFound is a cannotRun with exit code 127.
func notFound(format string, a ...any) error {
	return &cannotRun{code: 127, msg: fmt.Sprintf(format, a...)}
}

// notRunnable is a cannotRun with exit code 126.
func notRunnable(format string, a ...any) error {
	return &cannotRun{code: 126, msg: fmt.Sprintf(format, a...)}
}

// checkWorkspace makes sure the working directory exists, so that a
// missing one is not reported as the program being missing.
func checkWorkspace(dir string) error {
	if dir == "" {
		return errors.New("the attempt has no workspace directory")
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("workspace %s is not available: %v", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("workspace %s is not a directory", dir)
	}
	return nil
}

// envPath is the PATH the command will get: the last PATH= entry of env,
// as os/exec keeps the last of duplicate keys.
func envPath(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return ""
}

// resolve finds the program the way a POSIX shell in dir would. It returns
// the path to execute as that shell would pass it to execve.
//
// A name with a slash is used as it is, relative to dir. Any other name is
// searched in pathList, and the first executable regular file wins. Empty
// and relative entries of pathList are relative to dir too.
//
// The path is what a script sees as $0. A relative one is evaluated in
// dir, never in the worker's own working directory. See exec.Cmd.Path.
func resolve(name, dir, pathList string) (string, error) {
	if strings.Contains(name, "/") {
		err := checkExecutable(inDir(dir, name))
		switch {
		case err == nil:
			return name, nil
		case errors.Is(err, fs.ErrNotExist) && filepath.IsAbs(name):
			return "", notFound("command not found: %s (no such file)", name)
		case errors.Is(err, fs.ErrNotExist):
			return "", notFound("command not found: %s (no such file in the workspace)", name)
		case errors.Is(err, errIsDir):
			return "", notRunnable("cannot run %s: it is a directory", name)
		case errors.Is(err, errNoExecBit):
			return "", notRunnable("permission denied: %s is not executable (%s)", name, chmodHint)
		case errors.Is(err, errNoexec) && !filepath.IsAbs(name):
			return "", fmt.Errorf("cannot run %s: the workspace's file system is mounted noexec on this worker (give the worker a --work-dir where programs may run)", name)
		case errors.Is(err, errNoexec):
			return "", fmt.Errorf("cannot run %s: its file system is mounted noexec on this worker", name)
		case errors.Is(err, errDenied), errors.Is(err, fs.ErrPermission):
			return "", notRunnable("cannot run %s: %v", name, err)
		case errors.Is(err, syscall.ENOTDIR):
			return "", notFound("command not found: %s (a folder on its path is a file)", name)
		default:
			return "", fmt.Errorf("cannot run %s: %v", name, err)
		}
	}
	var denied string
	for _, d := range strings.Split(pathList, ":") {
		p := name // an empty entry is the current directory
		if d != "" {
			p = strings.TrimSuffix(d, "/") + "/" + name
		}
		err := checkExecutable(inDir(dir, p))
		if err == nil {
			return p, nil
		}
		if errors.Is(err, errNoExecBit) && denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", notRunnable("permission denied: %s is not executable (found %s; the job's PATH is %s)", name, denied, pathList)
	}
	return "", notFound("command not found: %s (PATH=%s)", name, pathList)
}

// inDir is path as seen from dir.
func inDir(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// checkExecutable reports why p cannot be executed by us, or nil.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errIsDir
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return errNoExecBit
	}
	// The mode has an execute bit, but maybe not for us. The file system
	// may also be mounted noexec. access(2) knows both.
	const xOK = 1
	if err := syscall.Access(p, xOK); err != nil {
		// A noexec mount is the machine's setup, not the job's doing.
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Flags&unix.ST_NOEXEC != 0 {
			return errNoexec
		}
		return fmt.Errorf("%w (%v): check the file's owner and mode", errDenied, err)
	}
	return nil
}

// startError explains to the user an error from starting the resolved
// program. path is the program as the worker sees it. resolve already
// checked the file. An error here is thus about its contents or its
// interpreter, or else the machine's, such as no memory or no process
// slot left.
func startError(name, path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		// The file exists, so what is missing is the interpreter its
		// #! line names (or the loader an ELF binary asks for).
		if interp := interpreter(path); interp != "" {
			return notFound("cannot run %s: its interpreter %s was not found (check the #! line)", name, interp)
		}
		return notFound("cannot run %s: no such file or directory (a missing interpreter or dynamic loader?)", name)
	case errors.Is(err, syscall.ENOEXEC):
		return notRunnable("cannot run %s: exec format error (not a program for this machine)", name)
	case errors.Is(err, syscall.EACCES):
		return notRunnable("permission denied: %s cannot be executed (%v)", name, err)
	case errors.Is(err, syscall.ETXTBSY):
		// Still busy after spawn's retries: something on the worker keeps
		// it open for writing.
		return fmt.Errorf("cannot run %s: the file is open for writing (text file busy)", name)
	}
	return fmt.Errorf("cannot run %s: %v", name, err)
}

// head returns up to the first n bytes of the file at path.
func head(path string, n int) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, n)
	k, _ := io.ReadFull(f, b)
	return b[:k]
}

// interpreter returns the program a #! line names, or "".
func interpreter(path string) string {
	b, ok := bytes.CutPrefix(head(path, 256), []byte("#!"))
	if !ok {
		return ""
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) == 0 {
		return ""
	}
	return string(f[0])
}

// looksLikeScript reports whether the file is text rather than a binary:
// no NUL byte in its first bytes, the test shells use before running a
// file without #! with sh.
func looksLikeScript(path string) bool {
	b := head(path, 256)
	return len(b) == 0 || bytes.IndexByte(b, 0) < 0
}
