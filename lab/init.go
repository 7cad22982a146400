package lab

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The node's PID 1. "vnfha lab init" runs it inside fresh PID, mount, UTS
// and IPC namespaces and the node's network namespace. It
//   - gives the node private copies of what Pacemaker and corosync keep
//     per host (/run, /dev/shm, /var/lib/pacemaker, ... see docs/lab.md),
//   - starts corosync, then pacemakerd once corosync says READY=1,
//   - reaps every orphan, so a killed daemonised process never lingers as a
//     zombie that kill -0 still finds (docs/lab.md, "Traps"),
//   - answers the lab's fence agent on a unix socket: "off" takes the link
//     away and exits, which makes the kernel kill the whole PID namespace;
//     "reboot" kills everything but itself, resets the node's volatile
//     state and network, and boots the stack again,
//   - stops and starts Pacemaker alone on request (StopPacemaker,
//     StartPacemaker), as "systemctl stop/start pacemaker" does on a host
//     whose corosync stays up: every other process of the node lives on.

// Control requests on a node's init socket.
const (
	reqPing           = "ping"
	reqPowerOff       = "off"
	reqReboot         = "reboot"
	reqStopPacemaker  = "stop-pacemaker"
	reqStartPacemaker = "start-pacemaker"
)

// pacemakerStopTimeout bounds how long the init waits for pacemakerd to
// shut its daemons down. It stays below ask's 60 s deadline, so that the
// caller hears why instead of timing out. A stop of the stack in
// maintenance mode takes a few seconds; with resources to stop first, it
// takes as long as their stops.
const pacemakerStopTimeout = 50 * time.Second

// The node's bind mounts: node-dir subdirectory → path inside the node.
// owner, if set, is the user (and its group of the same name) the
// directory belongs to, as the package that uses it makes it; a host
// without that user leaves it root's.
var nodeBinds = []struct{ src, dst, owner string }{
	{"etc-corosync", "/etc/corosync", ""},
	{"var-lib-corosync", "/var/lib/corosync", ""},
	{"var-lib-pacemaker", "/var/lib/pacemaker", ""},
	{"log-corosync", "/var/log/corosync", ""},
	{"log-pacemaker", "/var/log/pacemaker", ""},
	// The node's own state of vnfha's agents (ocf:vnfha:checkpoint's
	// data_dir lives here), as a package's /var/lib/vnfha would be.
	{"var-lib-vnfha", "/var/lib/vnfha", ""},
	// The stock stores the checkpoint store is compared with
	// (test/ckptjepsen, test/bench): each node's Redis keeps its AOF and
	// log in its own /var/lib/redis, which redis-server (run as redis by
	// ocf:heartbeat:redis) must own; each node's etcd member its data dir.
	{"var-lib-redis", "/var/lib/redis", "redis"},
	{"var-lib-etcd", "/var/lib/etcd", ""},
}

type nodeInit struct {
	p      paths
	st     *state
	node   string
	labFD  int // O_PATH handle on the lab dir, to bind it back under a fresh /run
	hauid  int
	hagid  int
	mu     sync.Mutex // serialises boot, reboot and poweroff
	daemon map[int]string
	logger *log.Logger
}

// Init is the PID 1 of a lab node. It returns only on a setup error.
func Init(stateRoot, labName, node string) error {
	if os.Getpid() != 1 {
		return fmt.Errorf("lab init must be PID 1 of a new PID namespace (it is %d)", os.Getpid())
	}
	closeInherited()
	p, err := locate(labName, stateRoot)
	if err != nil {
		return err
	}
	st, err := readState(p)
	if err != nil {
		return err
	}
	if _, err := st.addr(node); err != nil {
		return err
	}
	n := &nodeInit{p: p, st: st, node: node, daemon: map[int]string{},
		logger: log.New(os.Stderr, node+" init: ", log.LstdFlags|log.Lmicroseconds)}
	if n.hauid, n.hagid, err = haclusterIDs(); err != nil {
		return err
	}
	// Collect SIGCHLD before the first child exists.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	if err := n.setupMounts(); err != nil {
		return fmt.Errorf("node %s mounts: %w", node, err)
	}
	if err := unix.Sethostname([]byte(node)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	ln, err := n.listen()
	if err != nil {
		return err
	}
	go n.serve(ln)
	if err := n.boot(); err != nil {
		return err
	}
	for range sigs {
		n.reap()
	}
	return nil
}

// closeInherited closes the descriptors the node's init inherited from
// whoever ran "vnfha lab up" (all but stdin, stdout and stderr), so that
// the node's daemons, which live as long as the lab, do not hold them: a
// "flock LOCK vnfha lab up" would otherwise leave LOCK held by corosync
// and pacemakerd until the lab is down.
func closeInherited() {
	inherited(func(fd, _ int) { unix.Close(fd) })
}

// keepInherited marks the descriptors this process inherited
// close-on-exec instead: they stay usable here, and a daemon it starts
// (Spawn) does not hold them, whatever lock they carry.
func keepInherited() {
	inherited(func(fd, flags int) { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC) })
}

// inherited calls f with each descriptor above stderr that is not
// close-on-exec, and its flags. Descriptors Go opened are close-on-exec;
// inherited ones are not, which tells them apart.
func inherited(f func(fd, flags int)) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			f(fd, flags)
		}
	}
}

func haclusterIDs() (uid, gid int, err error) {
	u, err := user.Lookup("hacluster")
	if err != nil {
		return 0, 0, fmt.Errorf("user hacluster (is pacemaker installed?): %w", err)
	}
	g, err := user.LookupGroup("haclient")
	if err != nil {
		return 0, 0, fmt.Errorf("group haclient (is pacemaker installed?): %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(g.Gid)
	return uid, gid, nil
}

func (n *nodeInit) setupMounts() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	fd, err := unix.Open(n.p.dir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", n.p.dir(), err)
	}
	n.labFD = fd
	// pacemakerd finds its daemons by name in /proc: it must see only this
	// node's processes.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	// A sysfs mounted here shows this node's network devices.
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /sys: %w", err)
	}
	if err := n.mountVolatile(); err != nil {
		return err
	}
	for _, b := range nodeBinds {
		src := filepath.Join(n.p.nodeDir(n.node), b.src)
		// The host may lack a mount point that no package made (the
		// host's /var/lib/vnfha before vnfha is installed).
		if err := os.MkdirAll(b.dst, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", b.dst, err)
		}
		if err := unix.Mount(src, b.dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src, b.dst, err)
		}
	}
	// Every node resolves every member's name, as the nodes of a real
	// cluster do (pcs wants it): ocf:heartbeat:redis points a replica at
	// its primary by node name. A lab made before the file existed has
	// none.
	if _, err := os.Stat(n.p.hostsFile()); err == nil {
		if err := unix.Mount(n.p.hostsFile(), "/etc/hosts", "", unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("bind %s on /etc/hosts: %w", n.p.hostsFile(), err)
		}
	}
	// Read-only overlays put the lab's fence agent in /usr/sbin, where
	// pacemaker-fenced looks for fence agents, the vnfha binary in
	// /usr/bin, and a vnfha mount point in /usr/lib/ocf/resource.d,
	// without touching the host's files.
	if err := overlay(n.p.sbinDir(), "/usr/sbin"); err != nil {
		return err
	}
	// And vnfha in /usr/bin (a lab made before it had none).
	if _, err := os.Stat(n.p.binDir()); err == nil {
		if err := overlay(n.p.binDir(), "/usr/bin"); err != nil {
			return err
		}
	}
	if n.st.AgentDir != "" {
		const provider = "/usr/lib/ocf/resource.d/vnfha"
		if err := overlay(n.p.ocfStubDir(), filepath.Dir(provider)); err != nil {
			return err
		}
		// A bind mount, unlike an overlay's lower layer, shows agents that
		// a rebuild adds while the lab runs.
		if err := unix.Mount(n.st.AgentDir, provider, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", n.st.AgentDir, provider, err)
		}
	}
	return nil
}

func overlay(upper, dst string) error {
	// Two lowerdirs and no upperdir make a read-only union; the first
	// lowerdir wins where both have a name.
	opts := "lowerdir=" + upper + ":" + dst
	if err := unix.Mount("overlay", dst, "overlay", unix.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("overlay %s on %s: %w", upper, dst, err)
	}
	return nil
}

// mountVolatile gives the node a fresh /run and /dev/shm, as after a boot.
func (n *nodeInit) mountVolatile() error {
	for _, dst := range []string{"/run", "/dev/shm"} {
		// On reboot the old ones are still there; detach them.
		_ = unix.Unmount(dst, unix.MNT_DETACH)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
		return fmt.Errorf("mount /run: %w", err)
	}
	// The lab's own state (sockets of the other nodes' inits, the state
	// file) must stay visible when it lives under /run.
	if strings.HasPrefix(n.p.dir(), "/run/") {
		if err := os.MkdirAll(n.p.dir(), 0o755); err != nil {
			return fmt.Errorf("recreate %s: %w", n.p.dir(), err)
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", n.labFD), n.p.dir(), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind lab dir under new /run: %w", err)
		}
	}
	for _, d := range []struct {
		path  string
		mode  os.FileMode
		owned bool
	}{
		{"/run/crm", 0o750, true},
		{"/run/pacemaker", 0o750, true},
		{"/run/resource-agents", 0o755, false},
		{"/run/lock", 0o1777, false},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return fmt.Errorf("create %s: %w", d.path, err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", d.path, err)
		}
		if d.owned {
			if err := os.Chown(d.path, n.hauid, n.hagid); err != nil {
				return fmt.Errorf("chown %s: %w", d.path, err)
			}
		}
	}
	return nil
}

// notifySocket is where corosync sends sd_notify's READY=1.
const notifySocket = "/run/vnfha-lab-init.notify"

// boot starts corosync and, once it is ready, pacemakerd.
func (n *nodeInit) boot() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = os.Remove(notifySocket)
	ready, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifySocket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("listen for corosync readiness: %w", err)
	}
	defer ready.Close()
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET=" + notifySocket}
	if err := n.spawn("corosync", []string{"/usr/sbin/corosync", "-f"}, env); err != nil {
		return err
	}
	if err := waitReady(ready, 30*time.Second); err != nil {
		return fmt.Errorf("corosync: %w", err)
	}
	return n.spawnPacemaker()
}

// spawnPacemaker starts pacemakerd, which starts the other Pacemaker
// daemons. The caller holds n.mu.
func (n *nodeInit) spawnPacemaker() error {
	env := []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"PCMK_logfile=/var/log/pacemaker/pacemaker.log",
		// No syslog runs in a lab node.
		"PCMK_logfacility=none",
		"HA_LOGFACILITY=none",
	}
	return n.spawn("pacemakerd", []string{"/usr/sbin/pacemakerd"}, env)
}

// pacemakerdPID is the pid of the pacemakerd this init started and has
// not reaped yet, or 0. The caller holds n.mu.
func (n *nodeInit) pacemakerdPID() int {
	for pid, name := range n.daemon {
		if name == "pacemakerd" {
			return pid
		}
	}
	return 0
}

// stopPacemaker asks pacemakerd to shut down, as systemd's stop of
// pacemaker.service does (SIGTERM), and waits until it and every
// Pacemaker daemon have exited. Corosync and all other processes are left
// alone: resources keep running if the cluster is in maintenance mode
// (otherwise the controller stops them first, as on a real host).
// Stopping a stopped Pacemaker succeeds.
func (n *nodeInit) stopPacemaker(timeout time.Duration) error {
	n.mu.Lock()
	pid := n.pacemakerdPID()
	if pid != 0 {
		// pid is our unreaped child while it is in n.daemon, or was
		// reaped an instant ago: reap deletes it under n.mu. A process
		// of another name at that pid is left alone.
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "pacemakerd" {
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
				n.mu.Unlock()
				return fmt.Errorf("signal pacemakerd: %w", err)
			}
			n.logger.Printf("asked pacemakerd (pid %d) to stop", pid)
		}
	}
	n.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		n.mu.Lock()
		left := n.pacemakerdPID()
		n.mu.Unlock()
		daemons := pacemakerDaemons()
		if left == 0 && len(daemons) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pacemaker still running after %s (pacemakerd pid %d, daemons %v)", timeout, left, daemons)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pacemakerDaemons lists the live processes of the node whose name is a
// Pacemaker daemon's (pacemakerd, pacemaker-*), in "name[pid]" form.
func pacemakerDaemons() []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !running(pid) {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		name := strings.TrimSpace(string(comm))
		if err == nil && (name == "pacemakerd" || strings.HasPrefix(name, "pacemaker-")) {
			found = append(found, fmt.Sprintf("%s[%d]", name, pid))
		}
	}
	return found
}

// startPacemaker starts pacemakerd again after stopPacemaker. It refuses
// while a Pacemaker daemon still runs (pacemakerd would take over a
// half-stopped stack), and does nothing when pacemakerd runs already.
func (n *nodeInit) startPacemaker() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pacemakerdPID() != 0 {
		return nil
	}
	if left := pacemakerDaemons(); len(left) > 0 {
		return fmt.Errorf("pacemaker daemons still running: %v", left)
	}
	return n.spawnPacemaker()
}

func waitReady(c *net.UnixConn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			return err
		}
		k, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("no READY=1 within %s: %w", timeout, err)
		}
		for _, line := range strings.Split(string(buf[:k]), "\n") {
			if line == "READY=1" {
				return nil
			}
		}
	}
}

func (n *nodeInit) spawn(name string, argv, env []string) error {
	// Stdout and stderr go to init.log along with ours; the daemons log to
	// their own files.
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: []uintptr{devNull(), os.Stderr.Fd(), os.Stderr.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	n.daemon[pid] = name
	n.logger.Printf("started %s (pid %d)", name, pid)
	return nil
}

var (
	devNullOnce sync.Once
	devNullFile *os.File
)

func devNull() uintptr {
	devNullOnce.Do(func() {
		f, err := os.Open(os.DevNull)
		if err != nil {
			panic(err)
		}
		devNullFile = f
	})
	return devNullFile.Fd()
}

// reap collects every exited child, daemon or orphan.
func (n *nodeInit) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		n.mu.Lock()
		name, ok := n.daemon[pid]
		delete(n.daemon, pid)
		n.mu.Unlock()
		if ok {
			n.logger.Printf("%s (pid %d) exited: %s", name, pid, exitText(ws))
		}
	}
}

func exitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "status " + strconv.Itoa(ws.ExitStatus())
}

func (n *nodeInit) listen() (*net.UnixListener, error) {
	path := n.p.initSock(n.node)
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}

func (n *nodeInit) serve(ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			n.logger.Printf("control socket: %v", err)
			return
		}
		go n.handle(c)
	}
}

func (n *nodeInit) handle(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	req := strings.TrimSpace(line)
	n.logger.Printf("control request %q", req)
	switch req {
	case reqPing:
		fmt.Fprintln(c, "ok")
	case reqPowerOff:
		if err := n.unplug(); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
			return
		}
		fmt.Fprintln(c, "ok")
		n.logger.Printf("powered off by request")
		// Exiting PID 1 makes the kernel SIGKILL every process of the node.
		os.Exit(0)
	case reqReboot:
		if err := n.reset(); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
			return
		}
		// The node is down now: that is what fencing needs. It boots again
		// after the answer, as a real machine would.
		fmt.Fprintln(c, "ok")
		c.Close()
		if err := n.boot(); err != nil {
			n.logger.Printf("boot after reboot: %v", err)
		}
	case reqStopPacemaker:
		if err := n.stopPacemaker(pacemakerStopTimeout); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
			return
		}
		n.logger.Printf("pacemaker stopped by request")
		fmt.Fprintln(c, "ok")
	case reqStartPacemaker:
		if err := n.startPacemaker(); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
			return
		}
		fmt.Fprintln(c, "ok")
	default:
		fmt.Fprintf(c, "error: unknown request %q\n", req)
	}
}

func (n *nodeInit) unplug() error {
	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	l, err := nl.LinkByName(memberIf)
	if err != nil {
		return nil // already without a link
	}
	if err := nl.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", memberIf, err)
	}
	return nil
}

// reset is the "off" half of a reboot: every process but this one dies,
// volatile state is cleared and the network loses what the cluster added
// (VIPs, neighbours), keeping the node's own address.
func (n *nodeInit) reset() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := syscall.Kill(-1, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill the node's processes: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for othersAlive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("processes survived SIGKILL for 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.daemon = map[int]string{}
	if err := n.mountVolatile(); err != nil {
		return err
	}
	addrs, err := n.st.addrs(n.node)
	if err != nil {
		return err
	}
	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	if l, err := nl.LinkByName(memberIf); err == nil {
		// Down and up again flushes neighbours and IPv6 addresses.
		_ = nl.LinkSetDown(l)
	}
	return configureMemberIf(nl, addrs)
}

// othersAlive reports whether any process but PID 1 is left in the node.
// Zombies are dead; the SIGCHLD loop reaps them.
func othersAlive() bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != 1 && running(pid) {
			return true
		}
	}
	return false
}
