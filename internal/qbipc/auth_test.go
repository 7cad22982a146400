package qbipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/nstest"
)

// forgedServerEnv carries a forgedServer to TestForgedServerHelper.
const forgedServerEnv = "QBIPC_FORGED_SERVER"

// forgedServer is a libqb server played by a test process that binds the
// abstract socket "attrd" as Uid:Gid and names Rings in its handshake.
type forgedServer struct {
	Uid, Gid int
	Rings    []string
}

// TestServerCredentials: Dial talks only to a server that runs as root or
// as Pacemaker's daemon user. Any local user can bind "attrd" (or "crmd")
// in the abstract namespace while Pacemaker is not running, and its
// handshake names the ring files the client maps and writes into, as
// root: here the rings of the server run by nobody point at a file of
// root's, which the client must neither open nor write. (Without the check
// the request lands in that file.)
func TestServerCredentials(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewPair(t).A
	ha, err := userIDs(DaemonUser)
	if err != nil {
		t.Skipf("no %s user here: %v", DaemonUser, err)
	}
	nobody, err := userIDs("nobody")
	if err != nil {
		t.Skipf("no nobody user here: %v", err)
	}
	for _, tt := range []struct {
		name     string
		uid, gid int
		accepted bool
	}{
		{"root", 0, 0, true},
		{DaemonUser, ha[0], ha[1], true},
		{"a user of the daemon's group", nobody[0], ha[1], true}, // as Pacemaker's own check
		{"nobody", nobody[0], nobody[1], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			const words = 1024
			victim := filepath.Join(dir, "root-owned")
			orig := bytes.Repeat([]byte("root"), words)
			if err := os.WriteFile(victim, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			var rings []string
			for _, name := range []string{"request", "response", "event"} {
				p := filepath.Join(dir, "qb-"+name+"-attrd")
				hdr := make([]byte, headerMin)
				binary.LittleEndian.PutUint32(hdr[offWordSize:], words)
				copy(hdr[offDataPath:], victim)
				binary.LittleEndian.PutUint32(hdr[offRefCount:], 1) // the server's
				if err := os.WriteFile(p+"-header", hdr, 0o600); err != nil {
					t.Fatal(err)
				}
				rings = append(rings, p)
			}
			stop := startForgedServer(t, ns.Netns, forgedServer{Uid: tt.uid, Gid: tt.gid, Rings: rings})
			defer stop()
			err := ns.Do(func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c, err := Dial(ctx, "attrd", 128<<10)
				if err != nil {
					return err
				}
				defer c.Close()
				return c.Send(ctx, []byte("<request/>"))
			})
			got, rerr := os.ReadFile(victim)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !tt.accepted {
				if !errors.Is(err, ErrNotAuthentic) || !strings.Contains(err.Error(), "uid 65534") {
					t.Errorf("Dial to a server run by uid %d, gid %d: %v; want it refused as not Pacemaker's", tt.uid, tt.gid, err)
				}
				if !bytes.Equal(got, orig) {
					t.Errorf("the client wrote %q into the file the forged server named", bytes.TrimRight(got[:64], "\x00"))
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial to a server run by uid %d, gid %d: %v", tt.uid, tt.gid, err)
			}
			if !bytes.Contains(got, []byte("<request/>")) {
				t.Errorf("the request did not reach the accepted server's ring")
			}
		})
	}
}

// userIDs is a user's uid and primary gid.
func userIDs(name string) ([2]int, error) {
	out, err := exec.Command("id", "-u", name).Output()
	if err != nil {
		return [2]int{}, err
	}
	g, err := exec.Command("id", "-g", name).Output()
	if err != nil {
		return [2]int{}, err
	}
	var ids [2]int
	for i, s := range []string{string(out), string(g)} {
		if _, err := fmt.Sscan(strings.TrimSpace(s), &ids[i]); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// startForgedServer runs TestForgedServerHelper in netns as s says and
// waits until it listens; the returned func ends it.
func startForgedServer(t *testing.T, netns string, s forgedServer) func() {
	t.Helper()
	spec, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", netns, os.Args[0], "-test.run=^TestForgedServerHelper$")
	cmd.Env = append(os.Environ(), forgedServerEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "listening" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			t.Fatal("the forged server exited before it listened")
		}
	case <-time.After(10 * time.Second):
		stop()
		t.Fatal("the forged server did not listen within 10 s")
	}
	return stop
}

// TestForgedServerHelper is TestServerCredentials's server: it takes the
// user it is given, binds "attrd" as libqb does, answers one handshake
// with the rings it is given, and waits (at most 10 s) for the client to
// go. It does nothing elsewhere.
func TestForgedServerHelper(t *testing.T) {
	spec := os.Getenv(forgedServerEnv)
	if spec == "" {
		t.Skip("helper of TestServerCredentials")
	}
	var s forgedServer
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	// All threads (Go's syscall package applies these to every thread).
	if err := syscall.Setgroups(nil); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setgid(s.Gid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setuid(s.Uid); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sa unix.RawSockaddrUnix
	sa.Family = unix.AF_UNIX
	for i, b := range []byte("attrd") {
		sa.Path[i+1] = int8(b)
	}
	if _, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		t.Fatalf("bind: %v", e)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("listening\n")
	tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	cfd, _, err := unix.Accept(fd)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	_ = unix.SetsockoptTimeval(cfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	req := make([]byte, connectRequestSize)
	if _, err := unix.Read(cfd, req); err != nil {
		return // the client went without a word: refused
	}
	if _, err := unix.Write(cfd, connectResponse(msgAuthenticate, 0, typeSHM, 128<<10, s.Rings...)); err != nil {
		t.Fatal(err)
	}
	var b [64]byte
	for {
		if n, err := unix.Read(cfd, b[:]); n <= 0 || err != nil {
			return
		}
	}
}
