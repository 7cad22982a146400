package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/cmdtree/cmdtreetest"
	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestLabLifecycle walks a 3-node lab with two hosts through what the
// suite's other tests rely on: a quorate cluster with real fencing, nodes,
// client and hosts that reach each other, a node's power loss and return,
// a partition and its healing, and a teardown that leaves nothing.
func TestLabLifecycle(t *testing.T) {
	rootLinks := nstest.RootLinks(t)
	hosts := []string{"lb1", "lb2"}
	l := labtest.Up(t, lab.Options{Nodes: 3, Hosts: hosts})
	ctx := labtest.Context(t)
	if got := nstest.RootLinks(t); !slices.Equal(got, rootLinks) {
		t.Errorf("the lab changed the root namespace's links: %v, then %v", rootLinks, got)
	}
	assertNoLabAddrInRoot(t)
	if !slices.Equal(l.Hosts(), hosts) {
		t.Errorf("hosts %v, want %v", l.Hosts(), hosts)
	}
	node1 := crmwrap.New(l.Runner("node1"))

	st, err := node1.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if !st.Quorate() {
		t.Fatalf("up returned without a quorate DC: %+v", st.Summary)
	}
	for _, n := range l.Nodes() {
		if node, ok := st.Node(n); !ok || !node.Online {
			t.Errorf("%s is not online after up", n)
		}
	}
	if !st.Summary.Options.StonithEnabled {
		t.Error("stonith-enabled is false; the lab must fence by default")
	}
	if !hasPrimitive(st, "lab-fence", "stonith:fence_vnfha_lab") {
		t.Errorf("no stonith:fence_vnfha_lab device in %+v", st.Resources)
	}

	for _, fam := range []struct {
		name string
		addr func(string) (netip.Addr, error)
	}{{"IPv4", l.Addr}, {"IPv6", l.Addr6}} {
		for _, p := range []struct{ from, to string }{
			{lab.ClientName, "node1"},
			{"node1", "lb1"}, // the bridge on a node drives HAProxy on a host
			{"lb1", "node2"}, // HAProxy on a host reaches the VNFCs
			{lab.ClientName, "lb2"},
			{"lb2", "lb1"},
		} {
			t.Run(fmt.Sprintf("%s reaches %s over TCP/%s", p.from, p.to, fam.name), func(t *testing.T) {
				echo(t, l, p.from, p.to, fam.addr)
			})
		}
	}

	t.Run("exec in a host", func(t *testing.T) {
		out, err := l.Exec(ctx, "lb1", "ip", "-o", "addr", "show", "dev", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		a4, _ := l.HostAddr("lb1")
		a6, _ := l.HostAddr6("lb1")
		for _, a := range []netip.Addr{a4, a6} {
			if !strings.Contains(string(out), " "+a.String()+"/") {
				t.Errorf("lb1's eth0 lacks %s:\n%s", a, out)
			}
		}
		if _, err := l.HostAddr("node1"); err == nil {
			t.Error("HostAddr of a node succeeded")
		}
	})

	t.Run("PID 1 reaps orphans", func(t *testing.T) {
		// The shell exits at once, so sleep is orphaned to the node's PID 1.
		out, err := l.Exec(ctx, "node1", "sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!")
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(string(out))
		if _, err := l.Exec(ctx, "node1", "kill", "-9", pid); err != nil {
			t.Fatal(err)
		}
		labtest.Eventually(t, 5*time.Second, 50*time.Millisecond, "orphan reaped", func() (bool, string) {
			// A zombie would still have /proc/PID.
			if _, err := l.Exec(ctx, "node1", "test", "-e", "/proc/"+pid); err == nil {
				return false, "pid " + pid + " still in node1's /proc"
			}
			return true, ""
		})
	})

	t.Run("up again is a no-op", func(t *testing.T) {
		opts := lab.Options{Name: l.Name(), Nodes: 3, Hosts: hosts, Binary: l.Binary()}
		start := time.Now()
		again, err := lab.Up(ctx, opts)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		if again.Subnet() != l.Subnet() {
			t.Errorf("second up moved the lab from %s to %s", l.Subnet(), again.Subnet())
		}
		t.Logf("second up took %s", time.Since(start))

		// Through the CLI, asking for another shape: the lab is kept as
		// it is, and the CLI says so.
		cmd := exec.CommandContext(ctx, l.Binary(), "lab", "up", "--name", l.Name(), "--nodes", "5", "--no-fencing", "--hosts", "lb3")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("vnfha lab up with another shape: %v\n%s", err, stderr.String())
		}
		want := "lab " + l.Name() + ` is already up with 3 nodes, fencing, hosts lb1 lb2: kept as it is, --nodes 5 and --no-fencing=true and --hosts "lb3" not applied`
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("vnfha lab up does not say what it kept; want %q in:\n%s", want, stderr.String())
		}
		if kept, err := lab.Open(l.Name(), ""); err != nil || len(kept.Nodes()) != 3 || !kept.Fencing() || !slices.Equal(kept.Hosts(), hosts) {
			t.Errorf("the lab changed shape: %v", err)
		}
		for _, other := range []lab.Options{
			{Name: l.Name(), Nodes: 5, Hosts: hosts, Binary: l.Binary()},
			{Name: l.Name(), Nodes: 3, Binary: l.Binary()},
			{Name: l.Name(), Nodes: 3, Hosts: []string{"lb2", "lb1"}, Binary: l.Binary()},
		} {
			if _, err := lab.Up(ctx, other); !errors.As(err, new(*lab.ShapeError)) {
				t.Errorf("lab.Up with %d nodes and hosts %v: %v, want a *lab.ShapeError", other.Nodes, other.Hosts, err)
			}
		}
		// Up again kept the hosts where they were.
		echo(t, l, "node1", "lb2", l.Addr)
	})

	t.Run("kill fences the node, start brings it back", func(t *testing.T) {
		if err := l.Kill("node2"); err != nil {
			t.Fatalf("kill node2: %v", err)
		}
		if _, err := l.Exec(ctx, "node2", "true"); err == nil {
			t.Error("exec on a killed node succeeded")
		}
		labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "node2 offline and fenced", func() (bool, string) {
			st, err := node1.Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			if n, _ := st.Node("node2"); n.Online {
				return false, "node2 still online"
			}
			if !fenced(st, "node2") {
				return false, fmt.Sprintf("no successful fencing of node2 in %+v", st.FenceHistory)
			}
			return true, ""
		})
		if err := l.Start("node2"); err != nil {
			t.Fatalf("start node2: %v", err)
		}
		waitReady(t, l)
		if st, _ := node1.Status(ctx); st == nil || !online(st, "node2") {
			t.Error("node2 did not rejoin")
		}
	})

	t.Run("partition keeps quorum on the majority side", func(t *testing.T) {
		if err := l.Partition("node3"); err != nil {
			t.Fatalf("partition: %v", err)
		}
		// The majority keeps quorum and fences node3, which reboots into a
		// partition of one: it comes back up without quorum.
		labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "node1 quorate, node3 fenced", func() (bool, string) {
			st, err := node1.Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			if !st.Quorate() || online(st, "node3") || !fenced(st, "node3") {
				return false, fmt.Sprintf("quorate=%v node3 online=%v fence history %+v", st.Quorate(), online(st, "node3"), st.FenceHistory)
			}
			return true, ""
		})
		labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "node3 up without quorum", func() (bool, string) {
			out, err := l.Exec(ctx, "node3", "corosync-quorumtool", "-s")
			// corosync-quorumtool exits 2 when not quorate.
			if !strings.Contains(string(out), "Quorate:          No") {
				return false, fmt.Sprintf("%v: %s", err, out)
			}
			return true, ""
		})
		// The hosts stay with the majority, as the client does.
		echo(t, l, "lb1", "node1", l.Addr)
		if err := l.Heal(); err != nil {
			t.Fatalf("heal: %v", err)
		}
		waitReady(t, l)
		st, err := crmwrap.New(l.Runner("node3")).Status(ctx)
		if err != nil || !st.Quorate() {
			t.Fatalf("node3 not quorate after heal: %v", err)
		}
	})

	t.Run("down leaves nothing behind", func(t *testing.T) {
		dir := l.Dir()
		name := l.Name()
		// A process a host started and left behind, as a daemon does,
		// ends with the lab.
		marker := cmdtreetest.Marker(660)
		cmdtreetest.Cleanup(t, marker)
		if _, err := l.Exec(ctx, "lb1", "sh", "-c", "setsid sleep "+marker+" </dev/null >/dev/null 2>&1 &"); err != nil {
			t.Fatal(err)
		}
		if len(cmdtreetest.Marked(marker)) == 0 {
			t.Fatal("the host's daemon did not start")
		}
		if err := l.Down(); err != nil {
			t.Fatalf("down: %v", err)
		}
		if err := l.Down(); err != nil {
			t.Errorf("second down: %v", err)
		}
		assertGone(t, name, dir)
		if left := cmdtreetest.WaitGone(marker, 2*time.Second); len(left) > 0 {
			t.Errorf("a host's process survived down: %v", left)
		}
	})
}

// echo checks that member from reaches member to over TCP: to listens on
// its lab address (addr gives it), from connects from its own lab address,
// and a line comes back.
func echo(t *testing.T, l *lab.Lab, from, to string, addr func(string) (netip.Addr, error)) {
	t.Helper()
	dst, err := addr(to)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.Listen(to, "tcp", netip.AddrPortFrom(dst, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	dctx, cancel := context.WithTimeout(labtest.Context(t), 5*time.Second)
	defer cancel()
	c, err := l.Dial(dctx, from, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("%s dial %s (%s): %v", from, ln.Addr(), to, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo from %s to %s: %q, %v", from, to, line, err)
	}
	src, _ := addr(from)
	if local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); local != src {
		t.Errorf("%s dialled from %s, not from its lab address %s", from, local, src)
	}
}

// assertNoLabAddrInRoot checks that the root namespace holds no address of
// the labs' ranges (198.18.0.0/15, 2001:2::/48).
func assertNoLabAddrInRoot(t *testing.T) {
	t.Helper()
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if netip.MustParsePrefix("198.18.0.0/15").Contains(ip) || netip.MustParsePrefix("2001:2::/48").Contains(ip) {
			t.Errorf("the root namespace holds the lab address %s", ip)
		}
	}
}

func waitReady(t *testing.T, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(labtest.Context(t), 90*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

func hasPrimitive(st *crmmon.Status, id, agent string) bool {
	for _, i := range st.Instances() {
		if i.ID == id && i.Agent == agent {
			return true
		}
	}
	return false
}

func online(st *crmmon.Status, node string) bool {
	n, ok := st.Node(node)
	return ok && n.Online
}

func fenced(st *crmmon.Status, node string) bool {
	for _, f := range st.FenceHistory {
		if f.Target == node && f.Status == crmmon.FenceSuccess {
			return true
		}
	}
	return false
}

// assertGone checks that a lab left no namespace, process, mount or file.
func assertGone(t *testing.T, name, dir string) {
	t.Helper()
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "vnfha-"+name+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab dir %s left behind (%v)", dir, err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "lab init --name "+name+" ") {
			t.Errorf("process left behind: %s: %s", p, cmd)
		}
	}
	mounts, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, m := range mounts {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if strings.Contains(string(b), dir) {
			t.Errorf("mount of %s left behind in %s", dir, m)
			break
		}
	}
}

// TestLabsCoexistAndDownAfterCrash runs two labs side by side, kills one
// "vnfha lab up" with SIGKILL half-way, and checks that "up" again finishes
// it and "down" removes everything of it without touching the other lab.
func TestLabsCoexistAndDownAfterCrash(t *testing.T) {
	binary, agentDir := labtest.Build(t)
	other := labtest.Up(t, lab.Options{Name: "tcoexist", Nodes: 2, Binary: binary, AgentDir: agentDir})

	const crashed = "tcrashed"
	if err := lab.Down(crashed, ""); err != nil {
		t.Fatal(err)
	}
	labtest.Track(t, lab.Options{Name: crashed})
	// With a host, whose namespace down must find too.
	up := exec.CommandContext(labtest.Context(t), binary, "lab", "up", "--name", crashed, "--nodes", "2", "--hosts", "lb1")
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	labtest.Eventually(t, 30*time.Second, 20*time.Millisecond, "crashed lab's nodes booted", func() (bool, string) {
		l, err := lab.Open(crashed, "")
		if err != nil {
			return false, err.Error()
		}
		for _, n := range l.Nodes() {
			if _, err := os.Stat(filepath.Join(l.NodeDir(n), "init.pid")); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	})
	up.Process.Kill()
	up.Wait()

	l, err := lab.Open(crashed, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Subnet() == other.Subnet() {
		t.Errorf("two labs share the subnet %s", l.Subnet())
	}
	// A second up finishes what the killed one started.
	ctx, cancel := context.WithTimeout(labtest.Context(t), 2*time.Minute)
	defer cancel()
	if _, err := lab.Up(ctx, lab.Options{Name: crashed, Nodes: 2, Hosts: []string{"lb1"}, Binary: binary, AgentDir: agentDir}); err != nil {
		t.Fatalf("up after a crashed up: %v", err)
	}
	dir := l.Dir()
	if err := lab.Down(crashed, ""); err != nil {
		t.Fatalf("down after a crashed up: %v", err)
	}
	assertGone(t, crashed, dir)

	st, err := crmwrap.New(other.Runner("node1")).Status(ctx)
	if err != nil || !st.Quorate() || !online(st, "node2") {
		t.Errorf("the other lab suffered from the crashed lab's down: %v", err)
	}
}

// TestLabExecCancel: a command that hangs in a lab member, directly or
// with a background child that keeps its stdout open, or one that left
// its process group, is ended when the exec's context ends: Lab.Exec and
// the lab's crmwrap runner return within a bounded delay with the
// context's error, and no process of it is left in the node. nsenter -a
// forks the command inside the node's PID namespace and passes no signal
// on, so before the fix cancelling killed nsenter only and the exec
// blocked on the pipes the command still held.
func TestLabExecCancel(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 1, NoFencing: true})
	runner := l.Runner("node1")
	for i, tc := range []struct {
		name   string
		member string
		shell  string // %s is the marker
		crm    bool   // through the crmwrap runner instead of Lab.Exec
	}{
		{"plain command in a node", "node1", "exec sleep %s", false},
		{"background child holds stdout", "node1", "sleep %s & echo started; wait", false},
		{"child left the process group", "node1", "setsid sleep %s & echo started; wait", false},
		{"crmwrap runner, background child", "node1", "sleep %s & echo started; wait", true},
		{"client namespace, background child", lab.ClientName, "sleep %s & echo started; wait", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := cmdtreetest.Marker(600 + i)
			cmdtreetest.Cleanup(t, marker)
			const hang = 500 * time.Millisecond
			ctx, cancel := context.WithTimeout(labtest.Context(t), hang)
			defer cancel()
			script := fmt.Sprintf(tc.shell, marker)
			type result struct {
				out []byte
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				var r result
				if tc.crm {
					r.out, r.err = runner.Run(ctx, "sh", []string{"-c", script}, nil)
				} else {
					r.out, r.err = l.Exec(ctx, tc.member, "sh", "-c", script)
				}
				done <- r
			}()
			// The kill is immediate; the bound only tells "returned" from
			// "hung", with slack for a loaded machine.
			bound := hang + cmdtree.WaitDelay + 5*time.Second
			var r result
			select {
			case r = <-done:
			case <-time.After(bound):
				t.Fatalf("exec still blocks %s after it started (context of %s)", bound, hang)
			}
			t.Logf("returned after %s: %v", time.Since(start).Round(time.Millisecond), r.err)
			if !errors.Is(r.err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", r.err)
			}
			if strings.Contains(tc.shell, "echo started") && !strings.Contains(string(r.out), "started") {
				t.Errorf("output %q lacks what the command printed before the timeout", r.out)
			}
			// The host's /proc shows the node's processes too.
			if left := cmdtreetest.WaitGone(marker, 2*time.Second); len(left) > 0 {
				t.Errorf("processes left in %s: %v", tc.member, left)
			}
		})
	}
}

// deadlineChildEnv makes TestLabtestDeadline's child play the hung test.
const deadlineChildEnv = "VNFHA_E2E_DEADLINE_CHILD"

// TestLabtestDeadline runs, in a child test process, an e2e test that
// hangs in a node (an exec that never ends) past its own deadline, and
// checks that it fails (status 1, not go test's panic), that its nodes'
// Pacemaker logs are in its output, and that its lab and the hung command
// are gone. Before labtest had per-test deadlines, such a test ran into go
// test's -timeout, which panics without running any cleanup: the lab was
// left up.
func TestLabtestDeadline(t *testing.T) {
	const name = "tdeadline"
	if marker := os.Getenv(deadlineChildEnv); marker != "" {
		opts := lab.Options{Name: name, Nodes: 1, NoFencing: true}
		l := labtest.Up(t, opts)
		// The hang runs in a subtest with a short clock of its own that
		// owns the lab too, so the deadline does not depend on how long
		// the lab took to come up.
		t.Run("hang", func(t *testing.T) {
			labtest.SetTimeout(t, 5*time.Second)
			labtest.Track(t, opts)
			t.Log("child: lab up, hanging in node1")
			out, err := l.Exec(labtest.Context(t), "node1", "sh", "-c", "sleep "+marker+" & echo hanging; wait")
			t.Fatalf("child: exec ended: %v: %s", err, out)
		})
		return
	}
	labtest.RequireHost(t)
	marker := cmdtreetest.Marker(650)
	cmdtreetest.Cleanup(t, marker)
	labtest.Track(t, lab.Options{Name: name}) // if the child leaves it, this test removes it
	ctx, cancel := context.WithTimeout(labtest.Context(t), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLabtestDeadline$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), deadlineChildEnv+"="+marker)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || strings.Contains(string(out), "panic:") {
		t.Errorf("child: %v, want exit status 1 (a failed test, not a panic)", err)
	}
	for _, want := range []string{
		"child: lab up, hanging in node1",
		"the test's own deadline (5s",
		"tearing down lab " + name,
		"--- node1 log-pacemaker/pacemaker.log",
		"child: exec ended: sh -c sleep " + marker,
		"context deadline exceeded",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
	if left := cmdtreetest.WaitGone(marker, 2*time.Second); len(left) > 0 {
		t.Errorf("the hung command survived the test's deadline: %v", left)
	}
	assertGone(t, name, filepath.Join(lab.DefaultStateRoot, name))
}
