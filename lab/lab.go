package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/procid"
)

// Lab is a running lab.
type Lab struct {
	p   paths
	st  *state
	log func(string, ...any)
}

// InstallHint is the command that installs what the lab needs.
const InstallHint = "apt-get install -y pacemaker corosync pacemaker-cli-utils pcs resource-agents (or: make deps)"

// CheckHost says clearly why a lab cannot run on this machine, or returns
// nil if it can.
func CheckHost() error { return checkHost(os.Geteuid(), exec.LookPath) }

// labTools are the programs the lab runs on the host or in its nodes.
var labTools = []string{"corosync", "pacemakerd", "cibadmin", "crm_mon", "nsenter"}

func checkHost(euid int, lookPath func(string) (string, error)) error {
	if euid != 0 {
		return errors.New("the lab needs root: it creates namespaces, links and mounts")
	}
	for _, bin := range labTools {
		if _, err := lookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed; install it with: %s", bin, InstallHint)
		}
	}
	return nil
}

// Up builds the lab and returns once it is ready (see WaitReady): quorate
// with a DC, every node online, able to fence. Up on a lab that is already
// up finishes whatever it lacks and returns it.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckHost(); err != nil {
		return nil, err
	}
	release, err := lockRoot(opts.StateRoot)
	if err != nil {
		return nil, err
	}
	l, err := up(ctx, opts)
	release()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("lab %s: %w (logs: %s)", l.Name(), err, l.p.dir())
	}
	return l, nil
}

func up(ctx context.Context, opts Options) (*Lab, error) {
	p := paths{opts.StateRoot, opts.Name}
	l := &Lab{p: p, log: opts.Log}
	if st, err := readState(p); err == nil {
		if len(st.Nodes) != opts.Nodes || st.Fencing == opts.NoFencing || !slices.Equal(st.Hosts, opts.Hosts) || st.token() != opts.Token {
			return nil, &ShapeError{Name: st.Name, Nodes: len(st.Nodes), Fencing: st.Fencing, Hosts: st.Hosts, Token: st.token()}
		}
		// Up again finishes what an interrupted up, or a kill, left
		// undone; every step below is idempotent. The files are not
		// written again: the nodes' CIBs have moved on from the seed.
		l.st = st
	} else {
		slot, err := freeSlot(opts.StateRoot, opts.Name)
		if err != nil {
			return nil, err
		}
		l.st = &state{Name: opts.Name, Slot: slot, Binary: opts.Binary, AgentDir: opts.AgentDir,
			Fencing: !opts.NoFencing, Hosts: slices.Clone(opts.Hosts), TokenMs: opts.Token.Milliseconds(),
			CreatedAt: time.Now().UTC()}
		for i := 1; i <= opts.Nodes; i++ {
			l.st.Nodes = append(l.st.Nodes, NodeName(i))
		}
		opts.Log("lab %s: %s on %s", l.st.Name, l.Shape(), subnet(slot))
		if err := l.prepareFiles(ctx); err != nil {
			return nil, err
		}
	}
	if err := shareNetnsDir(); err != nil {
		return nil, err
	}
	if err := setupSwitch(l.st.Name); err != nil {
		return nil, err
	}
	// The client and the hosts first: a crashed up leaves their
	// namespaces behind only if it also left the nodes' (Down finds all
	// of them by name).
	for _, m := range append([]string{ClientName}, l.st.Hosts...) {
		a, _ := l.st.addrs(m)
		if err := plug(l.st.Name, m, a); err != nil {
			return nil, err
		}
	}
	for _, n := range l.st.Nodes {
		if err := l.Start(n); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// prepareFiles writes each node's private directories, corosync.conf and
// seed CIB, then the state file.
func (l *Lab) prepareFiles(ctx context.Context) error {
	if err := claimDir(l.p); err != nil {
		return err
	}
	for _, d := range []string{l.p.sbinDir(), l.p.binDir(), filepath.Join(l.p.ocfStubDir(), "vnfha")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create lab dir: %w", err)
		}
	}
	if err := os.Symlink(l.st.Binary, filepath.Join(l.p.sbinDir(), FenceAgentName)); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("link fence agent: %w", err)
	}
	// /usr/bin/vnfha on every node, where the package installs it: the
	// agents' defaults (the checkpoint store's binary) and the commands
	// of docs/operations.md work in the lab as written.
	if err := os.Symlink(l.st.Binary, filepath.Join(l.p.binDir(), "vnfha")); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("link vnfha: %w", err)
	}
	conf, err := corosyncConf(l.st)
	if err != nil {
		return err
	}
	cib, err := seedCIB(ctx, l.st, l.p.root)
	if err != nil {
		return err
	}
	// corosync's key, as pcs cluster setup leaves one on every node (the
	// same bytes, root-only): corosync here runs without crypto, but
	// ocf:vnfha:checkpoint authenticates its replication with it by
	// default.
	authkey := make([]byte, 256)
	if _, err := rand.Read(authkey); err != nil {
		return fmt.Errorf("make corosync's authkey: %w", err)
	}
	uid, gid, err := haclusterIDs()
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.p.hostsFile(), []byte(hostsFile(l.st)), 0o644); err != nil {
		return fmt.Errorf("write hosts file: %w", err)
	}
	for _, n := range l.st.Nodes {
		dir := l.p.nodeDir(n)
		for _, b := range nodeBinds {
			d := filepath.Join(dir, b.src)
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create node dir: %w", err)
			}
			if err := chownTo(d, b.owner); err != nil {
				return err
			}
		}
		for _, sub := range []string{"var-lib-pacemaker/cib", "var-lib-pacemaker/pengine", "var-lib-pacemaker/blackbox", "var-lib-pacemaker/cores", "log-pacemaker"} {
			d := filepath.Join(dir, sub)
			if err := os.MkdirAll(d, 0o750); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
			if err := os.Chown(d, uid, gid); err != nil {
				return fmt.Errorf("chown %s: %w", d, err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "etc-corosync", "corosync.conf"), []byte(conf), 0o644); err != nil {
			return fmt.Errorf("write corosync.conf: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc-corosync", "authkey"), authkey, 0o400); err != nil {
			return fmt.Errorf("write corosync's authkey: %w", err)
		}
		cibFile := filepath.Join(dir, "var-lib-pacemaker", "cib", "cib.xml")
		if err := os.WriteFile(cibFile, cib, 0o600); err != nil {
			return fmt.Errorf("write seed CIB: %w", err)
		}
		if err := os.Chown(cibFile, uid, gid); err != nil {
			return fmt.Errorf("chown seed CIB: %w", err)
		}
	}
	// Last: a lab with a state file is one whose files are all there.
	return writeState(l.p, l.st)
}

// hostsFile is the /etc/hosts every node sees: localhost, then each
// member's IPv4 address and name (nodes, the client, the hosts).
func hostsFile(st *state) string {
	var b strings.Builder
	b.WriteString("# vnfha lab " + st.Name + ": every member of the lab\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, m := range append(append(slices.Clone(st.Nodes), ClientName), st.Hosts...) {
		if a, err := st.addr(m); err == nil {
			fmt.Fprintf(&b, "%s\t%s\n", a.Addr(), m)
		}
	}
	return b.String()
}

// chownTo gives dir to user owner and its group of the same name, with
// mode 0750 (what Debian's redis-server makes of /var/lib/redis). No
// owner, or one the host lacks (the package is not installed), leaves
// dir as it is.
func chownTo(dir, owner string) error {
	if owner == "" {
		return nil
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", dir, owner, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// claimDir makes the lab's directory and marks it as a lab's, first of
// all, so that Down removes it even after an up that crashed half-way. A
// directory that exists, is not empty and is not a lab's is refused.
func claimDir(p paths) error {
	if entries, err := os.ReadDir(p.dir()); err == nil && len(entries) > 0 && !isLabDir(p) {
		return fmt.Errorf("%s exists and is not a lab's directory: choose another --name or --state-root", p.dir())
	}
	if err := os.MkdirAll(p.dir(), 0o755); err != nil {
		return fmt.Errorf("create lab dir: %w", err)
	}
	if err := os.WriteFile(p.marker(), []byte("a vnfha lab: vnfha lab down removes this directory\n"), 0o644); err != nil {
		return fmt.Errorf("mark lab dir: %w", err)
	}
	return nil
}

// Open returns a lab that is up, for commands after "up". An empty name
// or state root means the default.
func Open(name, stateRoot string) (*Lab, error) {
	p, err := locate(name, stateRoot)
	if err != nil {
		return nil, err
	}
	st, err := readState(p)
	if err != nil {
		return nil, err
	}
	return &Lab{p: p, st: st, log: func(string, ...any) {}}, nil
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.st.Name }

// Nodes lists the cluster nodes, node1 first.
func (l *Lab) Nodes() []string { return append([]string(nil), l.st.Nodes...) }

// Hosts lists the lab's hosts (Options.Hosts), in the order given to Up.
func (l *Lab) Hosts() []string { return append([]string(nil), l.st.Hosts...) }

// Dir is where the lab keeps its state and the nodes' logs.
func (l *Lab) Dir() string { return l.p.dir() }

// NodeDir holds a node's private Pacemaker and corosync state and logs.
func (l *Lab) NodeDir(node string) string { return l.p.nodeDir(node) }

// Subnet is the lab's IPv4 network.
func (l *Lab) Subnet() netip.Prefix { return subnet(l.st.Slot) }

// Subnet6 is the lab's IPv6 network.
func (l *Lab) Subnet6() netip.Prefix { return subnet6(l.st.Slot) }

// Addr is the IPv4 address of a node, the client or a host.
func (l *Lab) Addr(member string) (netip.Addr, error) {
	a, err := l.st.addr(member)
	return a.Addr(), err
}

// Addr6 is the IPv6 address of a node, the client or a host.
func (l *Lab) Addr6(member string) (netip.Addr, error) {
	a, err := l.st.addrs(member)
	if err != nil {
		return netip.Addr{}, err
	}
	return a[1].Addr(), nil
}

// HostAddr is the IPv4 address of a host; it refuses a node or the client,
// so that a test that means a host never gets a node's address.
func (l *Lab) HostAddr(host string) (netip.Addr, error) {
	if err := l.checkHost(host); err != nil {
		return netip.Addr{}, err
	}
	return l.Addr(host)
}

// HostAddr6 is the IPv6 address of a host.
func (l *Lab) HostAddr6(host string) (netip.Addr, error) {
	if err := l.checkHost(host); err != nil {
		return netip.Addr{}, err
	}
	return l.Addr6(host)
}

// Fencing reports whether the lab fences (it has a fence device and
// stonith-enabled=true).
func (l *Lab) Fencing() bool { return l.st.Fencing }

// ShapeError is Up's answer for a lab that is up with another number of
// nodes, fencing, hosts or corosync token than asked: Up never rebuilds a
// running lab.
type ShapeError struct {
	Name    string
	Nodes   int
	Fencing bool
	Hosts   []string
	// Token is the lab's corosync token (0: DefaultToken).
	Token time.Duration
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("lab %s is already up with %s; run vnfha lab down --name %s first to change it", e.Name, e.Shape(), e.Name)
}

// Shape says how the lab that is up is built, as "3 nodes, fencing" or
// "3 nodes, fencing, hosts lb1 lb2".
func (e *ShapeError) Shape() string { return shape(e.Nodes, e.Fencing, e.Hosts, e.Token) }

// Shape says how the lab is built, as "3 nodes, fencing" or "3 nodes,
// fencing, hosts lb1 lb2"; a token other than DefaultToken is named
// last ("token 300ms").
func (l *Lab) Shape() string { return shape(len(l.st.Nodes), l.st.Fencing, l.st.Hosts, l.st.token()) }

// Token is the lab's corosync totem token (Options.Token).
func (l *Lab) Token() time.Duration { return l.st.token() }

func shape(nodes int, fencing bool, hosts []string, token time.Duration) string {
	f := "fencing"
	if !fencing {
		f = "no fencing"
	}
	s := fmt.Sprintf("%d nodes, %s", nodes, f)
	if nodes == 1 {
		s = "1 node, " + f
	}
	switch len(hosts) {
	case 0:
	case 1:
		s += ", host " + hosts[0]
	default:
		s += ", hosts " + strings.Join(hosts, " ")
	}
	if token != 0 && token != DefaultToken {
		s += ", token " + token.String()
	}
	return s
}

// Binary is the vnfha binary the nodes run.
func (l *Lab) Binary() string { return l.st.Binary }

func (l *Lab) checkNode(name string) error {
	if !l.st.isNode(name) {
		return fmt.Errorf("lab %s has no node %s (nodes: %s)", l.st.Name, quote(name), strings.Join(l.st.Nodes, ", "))
	}
	return nil
}

func (l *Lab) checkHost(name string) error {
	if !l.st.isHost(name) {
		hosts := "it has none; vnfha lab up --hosts adds them to a new lab"
		if len(l.st.Hosts) > 0 {
			hosts = "hosts: " + strings.Join(l.st.Hosts, ", ")
		}
		return fmt.Errorf("lab %s has no host %s (%s)", l.st.Name, quote(name), hosts)
	}
	return nil
}

// checkMember accepts a node, the client or a host.
func (l *Lab) checkMember(name string) error {
	if _, err := l.st.hostID(name); err != nil {
		return err
	}
	return nil
}

// running reports whether the node's init is alive.
func (l *Lab) running(node string) bool {
	_, ok := readProcRef(l.p.initPID(node))
	return ok
}

// boot starts a node's PID 1 inside new namespaces, joined to its network
// namespace.
func (l *Lab) boot(node string) error {
	logf, err := os.OpenFile(filepath.Join(l.p.nodeDir(node), "init.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open init log: %w", err)
	}
	defer logf.Close()
	// nsenter joins the node's network namespace before exec, so that every
	// thread of the Go init starts in it.
	cmd := exec.Command("nsenter", "--net="+filepath.Join(netnsDir, netnsName(l.st.Name, node)), "--",
		l.st.Binary, "lab", "init", "--name", l.st.Name, "--state-root", l.p.root, node)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Setsid:     true,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("boot %s: %w", node, err)
	}
	// Reap it if it dies while this process lives (a test run); after
	// this process exits it is reparented.
	go cmd.Wait()
	if err := writeProcRef(l.p.initPID(node), cmd.Process.Pid); err != nil {
		return err
	}
	l.log("%s: booted (init pid %d)", node, cmd.Process.Pid)
	return nil
}

// Kill powers a node off: its link goes away and all its processes die, as
// when a machine loses power.
func (l *Lab) Kill(node string) error {
	if err := l.checkNode(node); err != nil {
		return err
	}
	if err := unplug(l.st.Name, node); err != nil {
		return err
	}
	if r, ok := readProcRef(l.p.initPID(node)); ok {
		// SIGKILL to the PID 1 of a PID namespace kills all of it.
		if err := r.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, procid.ErrGone) {
			return fmt.Errorf("kill %s: %w", node, err)
		}
	}
	return waitGone(filepath.Join(netnsDir, netnsName(l.st.Name, node)), 10*time.Second)
}

// Start boots a node that is off and returns once its init runs; the node
// then rejoins the cluster by itself (see WaitReady).
func (l *Lab) Start(node string) error {
	if err := l.checkNode(node); err != nil {
		return err
	}
	if l.running(node) {
		return nil
	}
	a, _ := l.st.addrs(node)
	if err := plug(l.st.Name, node, a); err != nil {
		return err
	}
	return l.boot(node)
}

// StopPacemaker stops Pacemaker on a running node, as "systemctl stop
// pacemaker" does on a host: pacemakerd gets SIGTERM and shuts its daemons
// down, and StopPacemaker returns once they have all exited. Corosync and
// every other process of the node keep running, so resources outlive the
// stop when the cluster is in maintenance mode (otherwise the cluster stops
// or moves them first). Stopping a stopped Pacemaker succeeds.
func (l *Lab) StopPacemaker(node string) error {
	if err := l.checkNode(node); err != nil {
		return err
	}
	if _, err := ask(l.p.initSock(node), reqStopPacemaker); err != nil {
		return fmt.Errorf("stop pacemaker on %s: %w", node, err)
	}
	l.log("%s: pacemaker stopped", node)
	return nil
}

// StartPacemaker starts Pacemaker again on a node where StopPacemaker
// stopped it, and returns once pacemakerd runs; the node then rejoins the
// cluster by itself (see WaitReady). It does nothing where pacemakerd runs.
func (l *Lab) StartPacemaker(node string) error {
	if err := l.checkNode(node); err != nil {
		return err
	}
	if _, err := ask(l.p.initSock(node), reqStartPacemaker); err != nil {
		return fmt.Errorf("start pacemaker on %s: %w", node, err)
	}
	l.log("%s: pacemaker started", node)
	return nil
}

// Partition cuts the given nodes off from the others: they keep a switch of
// their own. The client and the hosts stay with the rest.
func (l *Lab) Partition(nodes ...string) error {
	if len(nodes) == 0 {
		return errors.New("partition: name at least one node")
	}
	for _, n := range nodes {
		if err := l.checkNode(n); err != nil {
			return err
		}
	}
	if err := l.Heal(); err != nil {
		return err
	}
	return setSide(l.st.Name, nodes, sideBridge)
}

// Heal joins every node to one switch again.
func (l *Lab) Heal() error {
	return setSide(l.st.Name, append(append(l.Nodes(), ClientName), l.st.Hosts...), mainBridge)
}

// Command returns a command that runs argv inside a lab member's
// namespaces: all of a node's, or the network namespace of the client or
// of a host (they have no other namespace of their own). When ctx
// ends, the command and everything it started in the member are killed,
// and Wait returns within cmdtree.WaitDelay (see docs/lab.md, "Exec and
// timeouts"): nsenter alone would leave the command running in the node.
// The command runs in a process group of its own; a caller that attaches
// it to a terminal puts that group in the foreground (SysProcAttr).
func (l *Lab) Command(ctx context.Context, member string, argv ...string) (*exec.Cmd, error) {
	prefix, err := l.prefix(member)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, errors.New("exec: no command")
	}
	full := append(prefix, argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmdtree.Bind(cmd)
	return cmd, nil
}

// Spawn starts argv in a lab host or the client as a daemon that outlives
// the caller (the demo's HAProxies and test VNFM): a session of its own,
// stdin from /dev/null, stdout and stderr appended to logFile. It returns
// the daemon's pid; lab down ends it with everything else in the member.
// Nodes are not offered: their daemons are Pacemaker's to start.
func (l *Lab) Spawn(member, logFile string, argv ...string) (int, error) {
	if member != ClientName && !l.st.isHost(member) {
		return 0, fmt.Errorf("spawn in %s: only in the client or a host (%s)", quote(member), strings.Join(l.st.Hosts, ", "))
	}
	prefix, err := l.prefix(member)
	if err != nil {
		return 0, err
	}
	if len(argv) == 0 {
		return 0, errors.New("spawn: no command")
	}
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("spawn %s in %s: %w", argv[0], member, err)
	}
	defer out.Close()
	// A descriptor inherited from whoever ran us (flock's lock) would
	// otherwise live as long as the daemon.
	keepInherited()
	full := append(prefix, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("spawn %s in %s: %w", argv[0], member, err)
	}
	pid := cmd.Process.Pid
	// Reaped here while the caller lives; init adopts it after.
	go cmd.Wait()
	return pid, nil
}

func (l *Lab) prefix(member string) ([]string, error) {
	if member == ClientName || l.st.isHost(member) {
		// nsenter with --net alone does not fork: argv is the process
		// started, so its pid and signals are argv's own.
		return []string{"nsenter", "--net=" + filepath.Join(netnsDir, netnsName(l.st.Name, member)), "--"}, nil
	}
	if !l.st.isNode(member) {
		return nil, l.checkMember(member)
	}
	r, ok := readProcRef(l.p.initPID(member))
	if !ok {
		return nil, fmt.Errorf("%s is off; start it with: vnfha lab start --name %s %s", member, l.st.Name, member)
	}
	return []string{"nsenter", "-t", fmt.Sprint(r.PID), "-a", "--"}, nil
}

// Exec runs argv inside a lab member and returns its combined output. If
// ctx ends first, the command is killed in the member, Exec returns soon
// after with what it printed so far, and the error wraps ctx's error.
func (l *Lab) Exec(ctx context.Context, member string, argv ...string) ([]byte, error) {
	cmd, err := l.Command(ctx, member, argv...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		return out, fmt.Errorf("%s on %s: %w", strings.Join(argv, " "), member, cmdtree.ContextErr(ctx))
	}
	if err != nil {
		return out, fmt.Errorf("%s on %s: %w: %s", strings.Join(argv, " "), member, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Runner runs Pacemaker tools on a node, for crmwrap.
func (l *Lab) Runner(node string) crmwrap.Runner { return nodeRunner{l: l, node: node} }

type nodeRunner struct {
	l    *Lab
	node string
}

func (r nodeRunner) Run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	prefix, err := r.l.prefix(r.node)
	if err != nil {
		return nil, err
	}
	return crmwrap.ExecRunner{Prefix: prefix}.Run(ctx, name, args, stdin)
}

// Down removes the lab.
func (l *Lab) Down() error { return Down(l.st.Name, l.p.root) }

// memberRE matches the members a lab names its namespaces after (nodes,
// client, switch, hosts), so that lab "a" never takes lab "a-b"'s
// namespaces for its own: no member's name holds a hyphen, and what
// follows "vnfha-a-" in lab "a-b"'s names always does. It takes any
// hyphen-free name rather than the lab's recorded hosts, so that down
// also removes the hosts of an up that crashed before it wrote lab.json.
var memberRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// Down removes every namespace, process, mount and file of a lab. It needs
// nothing but the lab's name, so it also cleans up after a crashed "up";
// it is a no-op for a lab that is not there.
func Down(name, stateRoot string) error {
	p, err := locate(name, stateRoot)
	if err != nil {
		return err
	}
	name, stateRoot = p.name, p.root
	// A directory that is not a lab's is refused before anything is
	// touched, even its parent's lock file.
	if _, err := os.Lstat(p.dir()); err == nil && !isLabDir(p) {
		return notLabDir(p)
	}
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root")
	}
	release, err := lockRoot(stateRoot)
	if err != nil {
		return err
	}
	defer release()
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list %s: %w", netnsDir, err)
	}
	var errs []error
	prefix := "vnfha-" + name + "-"
	for _, e := range entries {
		member, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !memberRE.MatchString(member) {
			continue
		}
		path := filepath.Join(netnsDir, e.Name())
		if err := killNetns(path); err != nil {
			errs = append(errs, err)
		}
		if err := waitGone(path, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
		if err := deleteNetns(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := removeLabDir(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeLabDir removes a lab's state directory, but only one that a lab
// made: a name and state root that point at any other directory (say
// --state-root /usr --name lib) must never remove it.
func removeLabDir(p paths) error {
	if _, err := os.Lstat(p.dir()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !isLabDir(p) {
		return notLabDir(p)
	}
	if err := os.RemoveAll(p.dir()); err != nil {
		return fmt.Errorf("remove lab state: %w", err)
	}
	return nil
}

func notLabDir(p paths) error {
	return fmt.Errorf("%s is not a lab's directory (it has no %s): not removed", p.dir(), filepath.Base(p.marker()))
}

// isLabDir reports whether the lab's directory was made by a lab: it
// holds the marker that up writes first, or a state file.
func isLabDir(p paths) bool {
	for _, f := range []string{p.marker(), p.stateFile()} {
		if fi, err := os.Lstat(f); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// netnsProcs lists the processes whose network namespace is the one bound
// at path. Every process of a lab node is in its node's namespace, so this
// finds them all, even when the lab's records are gone.
func netnsProcs(path string) ([]int, error) {
	var want syscall.Stat_t
	if err := syscall.Stat(path, &want); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
			continue
		}
		if st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func killNetns(path string) error {
	pids, err := netnsProcs(path)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// waitGone waits until no live process is left in a network namespace.
func waitGone(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := netnsProcs(path)
		if err != nil {
			return err
		}
		live := pids[:0]
		for _, pid := range pids {
			if running(pid) {
				live = append(live, pid)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %s survived SIGKILL for %s", live, filepath.Base(path), timeout)
		}
		for _, pid := range live {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
