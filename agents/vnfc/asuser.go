package vnfc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// asUser runs fn with the file-system rights of cred (its uid, gid and
// groups), not root's: what fn opens, creates or checks, the kernel
// allows only if the VNFC's user could do it, through every directory of
// the path and every symbolic link in it. A nil cred runs fn as is.
//
// It runs fn on an OS thread of its own, locked to a goroutine that ends
// without unlocking it, so that the Go runtime ends the thread instead of
// reusing it: the file-system uid and gid (setfsuid, setfsgid) and the
// supplementary groups (the raw setgroups system call) are per thread on
// Linux, and no other goroutine ever runs with them. A fsuid other than 0
// also drops the file-system capabilities (CAP_DAC_OVERRIDE and the rest)
// from that thread.
func asUser(cred *credential, fn func() error) error {
	if cred == nil {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with this goroutine.
		if err := dropFSRights(cred); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}

// dropFSRights gives the calling thread cred's groups, fsgid and fsuid,
// and checks that it has them: setfsuid and setfsgid report no error.
func dropFSRights(cred *credential) error {
	groups := cred.groups
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); errno != 0 {
		return fmt.Errorf("take the groups of user %s: %w", cred.name, errno)
	}
	_ = unix.Setfsgid(int(cred.gid))
	_ = unix.Setfsuid(int(cred.uid))
	// setfsuid(-1) and setfsgid(-1) change nothing and return the
	// current values.
	if uid, _ := unix.SetfsuidRetUid(-1); uid != int(cred.uid) {
		return fmt.Errorf("take the uid of user %s: fsuid is %d", cred.name, uid)
	}
	if gid, _ := unix.SetfsgidRetGid(-1); gid != int(cred.gid) {
		return fmt.Errorf("take the gid of user %s: fsgid is %d", cred.name, gid)
	}
	return nil
}

// errNoAccess is a path the VNFC's user cannot use; its text names the
// directory or file that stops it.
type errNoAccess struct{ msg string }

func (e *errNoAccess) Error() string { return e.msg }

// checkAccess checks that cred can use path with mode (unix.X_OK,
// unix.W_OK...), as the kernel decides for the VNFC's user, and names the
// first directory of the path the user cannot search when that is the
// cause: "the program is not executable" hides a 0700 directory above it.
// The check runs faccessat with AT_EACCESS, which uses the thread's fsuid,
// fsgid and groups (asUser); without AT_EACCESS it would use the real uid,
// root's.
func checkAccess(cred *credential, path string, mode uint32) error {
	return asUser(cred, func() error {
		err := faccess(path, mode)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("%s: %w", show(path), err)
		}
		// Which directory stops the user: the first, from the root, that
		// it cannot search.
		var dirs []string
		for d := filepath.Dir(path); ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if d == "/" || d == "." {
				break
			}
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			if faccess(dirs[i], unix.X_OK) != nil {
				return &errNoAccess{fmt.Sprintf("cannot search directory %s", show(dirs[i]))}
			}
		}
		return &errNoAccess{fmt.Sprintf("has no access to %s", show(path))}
	})
}

// faccess asks the kernel whether the calling thread's fsuid, fsgid and
// groups may use path with mode: faccessat2 with AT_EACCESS. It calls
// faccessat2 itself, because x/sys's Faccessat falls back, when the kernel
// answers EPERM (an immutable file) or ENOSYS, to an emulation that checks
// the mode bits against the effective uid, root's, and so allows all. A
// kernel without faccessat2 (before 5.8) cannot be asked: the check is
// skipped there, and start reports what it meets.
func faccess(path string, mode uint32) error {
	err := unix.Faccessat2(unix.AT_FDCWD, path, mode, unix.AT_EACCESS)
	if errors.Is(err, syscall.ENOSYS) {
		return nil
	}
	return err
}

// openAppend opens path for appending, creating it (0640) if it does not
// exist, with cred's rights (asUser): the VNFC's user can make its log
// file a symbolic link or a hard link to any file, and root must not then
// write or create that file for it. O_NOFOLLOW refuses a symbolic link as
// the last component even for root; O_NONBLOCK keeps a fifo from
// blocking the open, and what is opened must be a regular file.
func openAppend(cred *credential, path string) (*os.File, error) {
	var f *os.File
	err := asUser(cred, func() error {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o640)
		if errors.Is(err, unix.ELOOP) {
			return errors.New("is a symbolic link")
		}
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return errors.New("is not a regular file")
		}
		// Back to blocking writes: the VNFC's output must not be lost to
		// EAGAIN (a regular file never returns it, but the flag would
		// stay on the VNFC's stdout).
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), path)
		return nil
	})
	return f, err
}
