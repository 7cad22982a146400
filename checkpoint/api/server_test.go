package api

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vnfha/vnfha/checkpoint/internal/fakereplica"
)

// TestListenUnix: a stale socket is replaced, a live one and anything
// that is not a socket are refused (and left alone); mode and group are
// applied.
func TestListenUnix(t *testing.T) {
	dir := fakereplica.SocketDir(t)
	sock := filepath.Join(dir, "sub", "api.sock")

	l, err := ListenUnix(sock, 0o640, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Perm() != 0o640 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v, %v; want a socket with mode 0640", fi.Mode(), err)
	}
	if _, err := ListenUnix(sock, 0o660, ""); err == nil || !strings.Contains(err.Error(), "another server is listening") {
		t.Errorf("second listener: %v", err)
	}

	// A socket left by a process that died: nobody accepts on it.
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	sl.SetUnlinkOnClose(false)
	sl.Close()
	l2, err := ListenUnix(stale, 0o660, "")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()

	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("precious"), 0o600)
	if _, err := ListenUnix(file, 0o660, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if data, _ := os.ReadFile(file); string(data) != "precious" {
		t.Error("the regular file was touched")
	}
	if _, err := ListenUnix(filepath.Join(dir, "g.sock"), 0o660, "no-such-group-vnfha"); err == nil {
		t.Error("an unknown group was accepted")
	}
	g, err := user.LookupGroupId(itoa(os.Getegid()))
	if err == nil {
		l3, err := ListenUnix(filepath.Join(dir, "g.sock"), 0o660, g.Name)
		if err != nil {
			t.Errorf("own group %s: %v", g.Name, err)
		} else {
			l3.Close()
		}
	}
	l.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after close: %v", err)
	}

	// A listener closed after another server took its path (its socket
	// removed by hand) leaves the new socket alone.
	a, err := ListenUnix(sock, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(sock)
	b, err := ListenUnix(sock, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if c, err := net.Dial("unix", sock); err != nil {
		t.Errorf("the new server's socket is gone after the old one closed: %v", err)
	} else {
		c.Close()
	}
	b.Close()
	// Under a umask of 0 the socket still gets exactly its mode, and the
	// private directory it was bound in is gone.
	old := syscall.Umask(0)
	u, err := ListenUnix(sock, 0o600, "")
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket under umask 0: %v, %v", fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(sock), ".s*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if u.Addr().String() != sock {
		t.Errorf("addr %s", u.Addr())
	}
}

func itoa(n int) string { return formatUint(uint64(n)) }

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), mode)
		os.Chmod(p, mode)
		return p
	}
	tests := []struct {
		path, want, err string
	}{
		{write("ok", "  Zq9-s3cr_1\n", 0o600), "Zq9-s3cr_1", ""},
		{write("empty", "\n\n", 0o600), "", "empty"},
		{write("space", "Zq9 b\n", 0o600), "", "white space"},
		{write("world", "Zq9\n", 0o644), "", "readable by every user"},
		{write("ctl", "Zq9\x01b", 0o600), "", "cannot go in a header"},
		{write("long", strings.Repeat("a", 5000), 0o600), "", "longer than"},
		{filepath.Join(dir, "none"), "", "no such file"},
		{dir, "", "not a regular file"},
	}
	for _, tt := range tests {
		got, err := ReadTokenFile(tt.path)
		if got != tt.want || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: %q, %v; want %q, %q", filepath.Base(tt.path), got, err, tt.want, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "Zq9") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}
