// Package systemdtest boots a real systemd for tests: systemd as PID 1 of
// fresh PID, mount, UTS, IPC, network and cgroup namespaces, in a cgroup of
// its own, with a private /run, /dev and cgroup2 mount, so that it manages
// nothing of the machine the test runs on. t.Cleanup kills it and checks that
// no process, mount or cgroup of it is left.
//
// The host's unit files are never loaded: the booted manager looks for units
// only in its private /run/systemd/system, which holds a handful of empty
// targets (the ones a service's default dependencies name), so booting it
// starts nothing but itself and the bus proxy below. Generators are off.
//
// systemd refuses connections to its private socket from a peer whose PID it
// cannot see (SO_PEERCRED reports pid 0 across PID namespaces), so a test
// process outside the namespace cannot connect to /run/systemd/private
// directly. The booted manager therefore runs systemd-socket-proxyd, socket
// activated, which relays a socket of the private /run to
// /run/systemd/private byte for byte: the client speaks the private-socket
// protocol (no bus daemon, no Hello) to the real manager.
package systemdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf/ocftest"
	"golang.org/x/sys/unix"
)

// Binary is where Debian installs systemd, and ProxyBinary its socket proxy;
// both are in Debian 12's systemd package.
const (
	Binary      = "/lib/systemd/systemd"
	ProxyBinary = "/lib/systemd/systemd-socket-proxyd"
)

// DBusDaemon is the bus daemon the booted system runs when it is there
// (Debian's dbus-daemon package), with the policy that lets root talk to
// systemd (systemd's package).
const (
	DBusDaemon = "/usr/bin/dbus-daemon"
	dbusPolicy = "/usr/share/dbus-1/system.d/org.freedesktop.systemd1.conf"
)

// The proxies' sockets inside the booted system's mount namespace: one to
// systemd's private socket, one to the system bus.
const (
	proxySocket    = "/run/vnfha-systemdtest/private"
	busProxySocket = "/run/vnfha-systemdtest/system_bus_socket"
)

// Bounds of the wait for the manager to answer: systemd boots in about
// 100 ms here; the bound leaves room for a loaded CI machine.
const (
	bootTimeout = 20 * time.Second
	bootPoll    = 20 * time.Millisecond
)

// seq makes cgroup names unique within a test binary; the pid makes them
// unique between binaries (go test runs packages in parallel).
var seq atomic.Uint32

// System is a booted systemd.
type System struct {
	// Addr is a D-Bus address of the manager's private API, for
	// systemd.DialAddress. It is a path through /proc/PID/root, usable
	// from the test's own namespaces.
	Addr string
	// PID is systemd's PID as the test sees it; it is 1 inside.
	PID int
	// BusAddr is a D-Bus address of the booted system's system bus, with
	// systemd on it, for systemd.DialBus; empty if dbus-daemon is missing
	// (see RequireBus).
	BusAddr string
	// Cgroup is the host path of the cgroup2 directory systemd manages.
	Cgroup string

	console string
}

// Path is the path, as the test sees it, of p in the system's mount
// namespace: its /run, /proc, /dev and /sys are its own, the rest of the
// file system is the host's.
func (s *System) Path(p string) string {
	return filepath.Join("/proc", strconv.Itoa(s.PID), "root", p)
}

// Console returns what systemd logged so far (its /dev/console).
func (s *System) Console() string {
	b, _ := os.ReadFile(s.console)
	return string(b)
}

// HostPID translates a PID of the booted system (a unit's MainPID) to the
// test's PID namespace, where kill(2) needs it.
func (s *System) HostPID(pid uint32) (int, error) {
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", s.PID))
	if err != nil {
		return 0, fmt.Errorf("pid namespace of %d: %w", s.PID, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		hp, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", hp)); err != nil || ns != want {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hp))
		if err != nil {
			continue
		}
		if nsPID(st) == int(pid) {
			return hp, nil
		}
	}
	return 0, fmt.Errorf("no process %d in the booted system", pid)
}

// nsPID reads the innermost PID from a /proc/PID/status.
func nsPID(status []byte) int {
	for _, l := range strings.Split(string(status), "\n") {
		if f, ok := strings.CutPrefix(l, "NSpid:"); ok {
			fs := strings.Fields(f)
			if len(fs) == 0 {
				return -1
			}
			n, err := strconv.Atoi(fs[len(fs)-1])
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// Require skips a test that cannot boot systemd here (not root, no
// systemd), or fails it when CI=true, where everything it needs is there.
func Require(t testing.TB) {
	t.Helper()
	nstest.RequireRoot(t)
	ocftest.RequireTool(t, "mount")
	ocftest.RequireTool(t, "sh")
	for _, f := range []string{Binary, ProxyBinary} {
		_, err := os.Stat(f)
		if err != nil {
			err = fmt.Errorf("%s missing (install systemd): %w", f, err)
		}
		testenv.Require(t, "systemd", err)
	}
}

// WaitSignalIgnored waits, at most 5 s, until a process of unit (in
// system.slice) ignores sig. A Type=exec unit is active once its command
// runs, maybe before a shell in it has set its trap: a test that needs a
// process that ignores SIGTERM waits for it here before it stops the unit.
func (s *System) WaitSignalIgnored(t testing.TB, unit string, sig syscall.Signal) {
	t.Helper()
	procs := filepath.Join(s.Cgroup, "system.slice", unit, "cgroup.procs")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(procs)
		for _, pid := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(st), "\n") {
				if hex, ok := strings.CutPrefix(line, "SigIgn:"); ok {
					if v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64); err == nil && v&(1<<(uint(sig)-1)) != 0 {
						return
					}
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process of %s ignores signal %d after 5s", unit, sig)
}

// RequireBus skips a test that needs the booted system's bus when
// dbus-daemon is missing, or fails it when CI=true.
func (s *System) RequireBus(t testing.TB) {
	t.Helper()
	if s.BusAddr != "" {
		return
	}
	testenv.Require(t, "dbus", fmt.Errorf("%s or %s missing (install dbus)", DBusDaemon, dbusPolicy))
}

// hasBus reports whether dbus-daemon and systemd's bus policy are there.
func hasBus() bool {
	for _, f := range []string{DBusDaemon, dbusPolicy} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// proxyUnits are a socket-activated systemd-socket-proxyd relaying a
// socket to target.
func proxyUnits(name, listen, target string) map[string]string {
	return map[string]string{
		name + ".socket": "[Unit]\nDescription=proxy to " + target + "\nDefaultDependencies=no\n" +
			"[Socket]\nListenStream=" + listen + "\nSocketMode=0600\n",
		name + ".service": "[Unit]\nDescription=proxy to " + target + "\nDefaultDependencies=no\n" +
			"Requires=" + name + ".socket\nAfter=" + name + ".socket\n" +
			"[Service]\nExecStart=" + ProxyBinary + " " + target + "\n",
	}
}

// busUnits are dbus-daemon as the system bus, named as systemd expects
// (it connects to the bus once dbus.service runs), and a proxy to it.
// dbus-daemon logs to systemd's console.
func busUnits() map[string]string {
	u := map[string]string{
		"dbus.socket": "[Unit]\nDescription=system bus socket\nDefaultDependencies=no\n" +
			"[Socket]\nListenStream=/run/dbus/system_bus_socket\n",
		"dbus.service": "[Unit]\nDescription=system bus\nDefaultDependencies=no\nRequires=dbus.socket\nAfter=dbus.socket\n" +
			"[Service]\nType=notify\nNotifyAccess=main\nStandardError=append:/dev/console\n" +
			"ExecStart=" + DBusDaemon + " --system --address=systemd: --nofork --nopidfile --systemd-activation --nosyslog\n",
	}
	maps.Copy(u, proxyUnits("vnfha-systemdtest-busproxy", busProxySocket, "/run/dbus/system_bus_socket"))
	return u
}

// units are the unit files of the booted system. The targets are the ones
// the default dependencies of a service name; they pull in nothing.
func units(bus bool) map[string]string {
	wants := "vnfha-systemdtest-proxy.socket"
	if bus {
		wants += " dbus.service vnfha-systemdtest-busproxy.socket"
	}
	u := map[string]string{
		"vnfha-systemdtest.target": "[Unit]\nDescription=vnfha systemdtest\nDefaultDependencies=no\nWants=" + wants + "\n",
		"sysinit.target":           "[Unit]\nDescription=sysinit\nDefaultDependencies=no\n",
		"basic.target":             "[Unit]\nDescription=basic\nDefaultDependencies=no\n",
		"shutdown.target":          "[Unit]\nDescription=shutdown\nDefaultDependencies=no\n",
	}
	maps.Copy(u, proxyUnits("vnfha-systemdtest-proxy", proxySocket, "/run/systemd/private"))
	if bus {
		maps.Copy(u, busUnits())
	}
	return u
}

// initScript runs as PID 1 of the new namespaces, sets up the private
// mounts and execs systemd. $1 is the directory of unit files to install,
// $2 the file that becomes /dev/console.
//
// / is made private first, so that nothing mounted here propagates to the
// host. /proc/sys and /sys are read-only, as container managers do: systemd
// as PID 1 writes some sysctls (fs.file-max, fs.nr_open) that are global,
// and it must not change the host's. /dev is a fresh tmpfs with the few
// device nodes bound from the host's and devpts and /dev/shm of its own.
const initScript = `set -eu
mount --make-rprivate /
mount -t proc -o nosuid,nodev,noexec proc /proc
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro,nosuid,nodev,noexec /proc/sys
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount -o remount,bind,ro,nosuid,nodev,noexec /sys
d=/run/.dev
mkdir $d
mount -t tmpfs -o mode=755,nosuid tmpfs $d
for n in null zero full random urandom tty; do
	touch $d/$n
	mount --bind /dev/$n $d/$n
done
touch $d/console
mount --bind "$2" $d/console
mkdir $d/pts $d/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $d/pts
ln -s pts/ptmx $d/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $d/shm
ln -s /proc/self/fd $d/fd
ln -s fd/0 $d/stdin
ln -s fd/1 $d/stdout
ln -s fd/2 $d/stderr
mount --move $d /dev
rmdir $d
mkdir -p /run/systemd/system /run/vnfha-systemdtest
cp "$1"/* /run/systemd/system/
exec ` + Binary + ` --system --unit=vnfha-systemdtest.target
`

// Boot starts systemd and returns once its manager answers through
// System.Addr. It fails the test if systemd does not come up; see Require
// for when it skips.
func Boot(t testing.TB) *System {
	t.Helper()
	Require(t)
	start := time.Now()
	dir := t.TempDir()
	unitDir := filepath.Join(dir, "units")
	if err := os.Mkdir(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bus := hasBus()
	for name, text := range units(bus) {
		if err := os.WriteFile(filepath.Join(unitDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &System{console: filepath.Join(dir, "console.log")}
	if err := os.WriteFile(s.console, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	parent, err := cgroup2Parent()
	if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	sweepCgroups(t, parent)
	s.Cgroup = filepath.Join(parent, fmt.Sprintf("%s%d-%d", cgroupPrefix, os.Getpid(), seq.Add(1)))
	// Registered first: it runs last, after the kill below.
	t.Cleanup(func() {
		if err := removeCgroup(s.Cgroup); err != nil {
			t.Errorf("systemdtest: %v", err)
		}
	})
	if err := os.Mkdir(s.Cgroup, 0o755); err != nil {
		t.Fatalf("systemdtest: create cgroup: %v", err)
	}
	cg, err := os.Open(s.Cgroup)
	if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	defer cg.Close()

	cmd := exec.Command("/bin/sh", "-c", initScript, "init", unitDir, s.console)
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		// Tells systemd it runs in a container: it leaves the console,
		// the root's mount propagation and the like alone.
		"container=vnfha-systemdtest",
		// The transient directory is in every real host's unit path:
		// without it, daemon-reload would find no file for a transient
		// unit and leave it "not-found".
		"SYSTEMD_UNIT_PATH=/run/systemd/transient:/run/systemd/system",
		"SYSTEMD_GENERATOR_PATH=/run/vnfha-systemdtest/none",
		"SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/vnfha-systemdtest/none",
		"SYSTEMD_LOG_TARGET=console",
		"SYSTEMD_LOG_LEVEL=info",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP,
		// clone3 puts the child into the cgroup before it runs, so the
		// new cgroup namespace is rooted there.
		UseCgroupFD: true,
		CgroupFD:    int(cg.Fd()),
		Setsid:      true,
		// Should the test binary die, the kernel kills PID 1 and with it
		// the whole PID namespace.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("systemdtest: start systemd: %v", err)
	}
	s.PID = cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	pidNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", s.PID))
	mntNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", s.PID))
	t.Cleanup(func() {
		// SIGKILL to PID 1 of a PID namespace kills everything in it.
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("systemdtest: systemd (pid %d) did not die within 10s of SIGKILL", s.PID)
			return
		}
		if err := waitGone(pidNS, mntNS); err != nil {
			t.Errorf("systemdtest: %v", err)
		}
		if t.Failed() {
			t.Logf("systemdtest: console of the booted systemd:\n%s%s", out.String(), s.Console())
		}
	})
	s.Addr = "unix:path=" + s.Path(proxySocket)
	if bus {
		s.BusAddr = "unix:path=" + s.Path(busProxySocket)
	}
	if err := s.waitReady(exited); err != nil {
		t.Fatalf("systemdtest: %v\n%s%s", err, out.String(), s.Console())
	}
	t.Logf("systemdtest: systemd booted as pid %d in %v", s.PID, time.Since(start).Round(time.Millisecond))
	return s
}

// waitReady waits, bounded in time and tries, until the manager reports
// that it has finished booting.
func (s *System) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(bootTimeout)
	var last error
	for i := 0; i < int(bootTimeout/bootPoll); i++ {
		select {
		case <-exited:
			return errors.New("systemd exited while booting")
		default:
		}
		if time.Now().After(deadline) {
			break
		}
		state, err := s.systemState()
		if err == nil && (state == "running" || state == "degraded") {
			if s.BusAddr == "" {
				return nil
			}
			// systemd is on the bus once it owns its name there.
			if err = s.onBus(); err == nil {
				return nil
			}
		}
		if err == nil {
			err = fmt.Errorf("system state %q", state)
		}
		last = err
		time.Sleep(bootPoll)
	}
	return fmt.Errorf("systemd did not come up within %v: %v", bootTimeout, last)
}

// probeTimeout bounds each probe of the manager. systemd 252 leaves the
// first call on its private socket unanswered when it arrives with the
// handshake's end (see settle in package systemd); a probe that hits that
// times out and the next one, on a new connection, tries again.
const probeTimeout = 250 * time.Millisecond

// systemState asks the manager for its SystemState through the private
// socket.
func (s *System) systemState() (string, error) {
	var st string
	err := s.probe(s.Addr, false, func(ctx context.Context, c *dbus.Conn) error {
		return c.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
			CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
				"org.freedesktop.systemd1.Manager", "SystemState").Store(&st)
	})
	return st, err
}

// probe connects to addr (a bus if hello), runs f, and disconnects, all
// within probeTimeout.
func (s *System) probe(addr string, hello bool, f func(context.Context, *dbus.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := dbus.Dial(addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	if err := c.Auth(nil); err != nil {
		return err
	}
	if hello {
		if err := c.Hello(); err != nil {
			return err
		}
	}
	return f(ctx, c)
}

// onBus checks that systemd answers through the system bus.
func (s *System) onBus() error {
	return s.probe(s.BusAddr, true, func(ctx context.Context, c *dbus.Conn) error {
		return c.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
			CallWithContext(ctx, "org.freedesktop.DBus.Peer.Ping", 0).Err
	})
}

// cgroup2Parent is the cgroup2 directory of the test process, under which
// the booted system gets its own: /sys/fs/cgroup/... on a unified host,
// /sys/fs/cgroup/unified/... on a hybrid one.
func cgroup2Parent() (string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	mnt := ""
	for _, l := range strings.Split(string(mi), "\n") {
		// ... mount-point ... - fstype source options
		pre, post, ok := strings.Cut(l, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 && f[3] == "/" {
			mnt = f[4]
			break
		}
	}
	if mnt == "" {
		return "", errors.New("no cgroup2 file system mounted")
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(cg), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return filepath.Join(mnt, p), nil
		}
	}
	return "", errors.New("no cgroup2 entry in /proc/self/cgroup")
}

// cgroupPrefix starts the name of each booted system's cgroup; the test
// binary's PID and a sequence number follow.
const cgroupPrefix = "vnfha-systemdtest-"

// sweepCgroups removes the cgroups of booted systems whose test binary is
// gone: one killed by go test's timeout runs no cleanup. Its systemd died
// with it (Pdeathsig), so the cgroups are empty.
func sweepCgroups(t testing.TB, parent string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(parent, cgroupPrefix+"*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), cgroupPrefix), "-")
		if !ok {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue
		}
		if err := removeCgroup(d); err != nil {
			t.Logf("systemdtest: left-over cgroup: %v", err)
		} else {
			t.Logf("systemdtest: removed the left-over cgroup %s", d)
		}
	}
}

// removeCgroup waits, bounded, until the cgroup has no process left, then
// removes it and what systemd created below it, deepest first.
func removeCgroup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	const tries, poll = 250, 20 * time.Millisecond
	for i := 0; ; i++ {
		ev, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if bytes.Contains(ev, []byte("populated 0")) {
			break
		}
		if i == tries {
			return fmt.Errorf("cgroup %s still has processes after %v", dir, tries*poll)
		}
		time.Sleep(poll)
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk cgroup %s: %w", dir, err)
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

// waitGone waits, bounded, until no process is left in the booted system's
// namespaces: they get SIGKILL when PID 1 dies, but take a moment to exit.
func waitGone(pidNS, mntNS string) error {
	const tries, poll = 250, 20 * time.Millisecond
	for i := 0; ; i++ {
		err := checkGone(pidNS, mntNS)
		if err == nil || i == tries {
			return err
		}
		time.Sleep(poll)
	}
}

// checkGone reports any process still in the booted system's PID or mount
// namespace; with none, the kernel has freed the mount namespace and every
// mount in it.
func checkGone(pidNS, mntNS string) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var left []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		for _, ns := range []struct{ kind, want string }{{"pid", pidNS}, {"mnt", mntNS}} {
			if got, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", ns.kind)); err == nil && got == ns.want {
				left = append(left, e.Name())
			}
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("processes left in the booted system's namespaces: %v", left)
	}
	return nil
}
