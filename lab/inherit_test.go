package lab

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKeepInherited: a descriptor opened without close-on-exec (as one
// inherited from flock is) gets it, and stays open; Go's own are left
// as they are.
func TestKeepInherited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_RDWR, 0o600) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	goFile, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer goFile.Close()
	keepInherited()
	for _, c := range []struct {
		name string
		fd   int
	}{{"inherited", fd}, {"Go's", int(goFile.Fd())}} {
		flags, err := unix.FcntlInt(uintptr(c.fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatalf("%s descriptor closed: %v", c.name, err)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s descriptor is not close-on-exec", c.name)
		}
	}
}
