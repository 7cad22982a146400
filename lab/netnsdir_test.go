package lab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/testenv"
)

// netnsMounts counts the mounts at /run/netns itself, and whether the top
// one has shared propagation.
func netnsMounts(t *testing.T) (n int, shared bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[4] == netnsDir {
			n++
			shared = strings.Contains(line, " shared:")
		}
	}
	return n, shared
}

// TestShareNetnsDir: after shareNetnsDir, /run/netns is one shared mount
// point, a second call and `ip netns add` leave it so (no mount stacked on
// the lab's namespaces), and a namespace ip added is deleted by path. It
// runs in a child with a private mount namespace, so the machine's mounts
// are not touched.
func TestShareNetnsDir(t *testing.T) {
	if os.Getenv("VNFHA_NETNSDIR_CHILD") == "1" {
		shareNetnsDirChild(t)
		return
	}
	testenv.Root(t)
	testenv.Tool(t, "ip")
	cmd := exec.Command(testenv.Tool(t, "unshare"), "--mount", "--propagation", "private", os.Args[0], "-test.run=^TestShareNetnsDir$", "-test.v")
	cmd.Env = append(os.Environ(), "VNFHA_NETNSDIR_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func shareNetnsDirChild(t *testing.T) {
	// Make /run/netns a plain directory again, in this mount namespace
	// only: detach whatever is mounted there (mountinfo lists a mount
	// even when another hides it, so a tmpfs over /run would not do).
	for i := 0; i < 10 && unix.Unmount(netnsDir, unix.MNT_DETACH) == nil; i++ {
	}
	if n, _ := netnsMounts(t); n != 0 {
		t.Fatalf("%d mounts at %s on a fresh /run", n, netnsDir)
	}
	for i := 0; i < 2; i++ {
		if err := shareNetnsDir(); err != nil {
			t.Fatal(err)
		}
		if n, shared := netnsMounts(t); n != 1 || !shared {
			b, _ := os.ReadFile("/proc/self/mountinfo")
			t.Fatalf("call %d: %d mounts at %s, shared %v; mountinfo:\n%s", i+1, n, netnsDir, shared, b)
		}
	}
	// /run/netns is on the machine's file system: the files outlive
	// this mount namespace, so the names are this run's own.
	a, b := fmt.Sprintf("vnfhatest-%d-a", os.Getpid()), fmt.Sprintf("vnfhatest-%d-b", os.Getpid())
	h, err := ensureNetns(a)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if out, err := exec.Command("ip", "netns", "add", b).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	if n, _ := netnsMounts(t); n != 1 {
		t.Fatalf("ip netns add stacked a mount on %s: %d mounts", netnsDir, n)
	}
	for _, name := range []string{a, b} {
		if err := deleteNetns(name); err != nil {
			t.Fatalf("delete %s after ip netns add: %v", name, err)
		}
	}
}
