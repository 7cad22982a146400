package vnfc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// pidfileMax bounds what is read of a pid file. A pid is at most 7 digits
// (pid_max is at most 2^22), so a file that holds more than this, blanks
// included, holds something else: it is refused, and none of it is quoted,
// since pidfile may name any file root can read (/etc/shadow).
const pidfileMax = 32

// errNoPidYet is a pid file that does not exist yet, or is still empty:
// the daemon may not have written it yet, so the supervisor reads it again.
var errNoPidYet = errors.New("not written yet")

// pidfileError is a pid file that will not become valid by waiting: not a
// regular file, or something other than a pid in it.
type pidfileError struct{ msg string }

func (e *pidfileError) Error() string { return e.msg }

// readPidfile reads a daemon's pid file: one decimal pid, blanks around it
// allowed. It never blocks and never reads more than pidfileMax+1 bytes: a
// fifo, a device, /dev/zero or a file of a gigabyte is refused at once.
// The errors quote the path, never the contents.
//
// The daemon's user writes the file, so it can make it a symbolic link to
// any file: the file is opened with that user's rights (cred, asUser; nil
// for root) and never through a symbolic link (O_NOFOLLOW), so that no
// file the user cannot read is read, and no error says what it holds.
func readPidfile(cred *credential, path string) (int, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, errNoPidYet
	}
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, errors.Unwrap(err))
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return 0, &pidfileError{fmt.Sprintf("pid file %s is a symbolic link", path)}
	}
	if !fi.Mode().IsRegular() {
		return 0, &pidfileError{fmt.Sprintf("pid file %s is not a regular file", path)}
	}
	// O_NONBLOCK: the file may have been replaced by a fifo since the
	// Lstat, and opening a fifo for reading would wait for a writer.
	var f *os.File
	err = asUser(cred, func() error {
		var err error
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_NOFOLLOW, 0)
		return err
	})
	if errors.Is(err, os.ErrNotExist) {
		return 0, errNoPidYet
	}
	if errors.Is(err, syscall.ELOOP) {
		return 0, &pidfileError{fmt.Sprintf("pid file %s is a symbolic link", path)}
	}
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return 0, &pidfileError{fmt.Sprintf("pid file %s is not a regular file", path)}
	}
	b := make([]byte, pidfileMax+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("pid file %s: %w", path, errors.Unwrap(err))
	}
	return parsePid(path, b[:n])
}

// parsePid reads the pid in a pid file's contents (at most pidfileMax+1
// bytes of it): one decimal number above 1, blanks around it allowed. An
// empty file is errNoPidYet (the daemon has not written it yet); any other
// content is an error that names the path and quotes none of it.
func parsePid(path string, b []byte) (int, error) {
	s := strings.TrimSpace(string(b))
	switch {
	case len(b) > pidfileMax:
		return 0, &pidfileError{fmt.Sprintf("pid file %s holds no pid (over %d bytes)", path, pidfileMax)}
	case s == "":
		return 0, errNoPidYet
	}
	pid, err := strconv.ParseInt(s, 10, 32)
	if err != nil || pid <= 1 {
		return 0, &pidfileError{fmt.Sprintf("pid file %s holds no pid", path)}
	}
	return int(pid), nil
}
