package vip

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/ocf"
)

// expect is what each action must return for one configuration.
type expect struct {
	validate, probe, start, monitor, stop ocf.Code
}

var (
	// invalid is a configuration that is wrong on every node: ERR_CONFIGURED
	// from validate-all, start and monitor alike (probe included), and a
	// stop that succeeds because nothing can have been started.
	invalid = expect{ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.Success}
	// absent is a configuration that names something this node lacks:
	// ERR_ARGS from validate-all and start, so Pacemaker tries another
	// node, and "not running" from monitor.
	absent = expect{ocf.ErrArgs, ocf.NotRunning, ocf.ErrArgs, ocf.NotRunning, ocf.Success}
	// fine is a configuration that works.
	fine = expect{ocf.Success, ocf.NotRunning, ocf.Success, ocf.Success, ocf.Success}
)

// hostileCase is one configuration fed to every action.
type hostileCase struct {
	name   string
	params map[string]string // OCF_RESKEY_*; network_namespace is A's unless set
	env    map[string]string // environment that replaces the defaults
	want   expect
	reason string // what the reason of a failed validate-all or start says
}

// maxReason is what Pacemaker keeps of an exit reason.
const maxReason = 128

// TestHostileParameters feeds each configuration to every action, as
// Pacemaker would run them on a node: meta-data, validate-all, probe, start,
// recurring monitor, stop. Each must give its code with a short one-line
// reason, and a failed start and every stop must leave nothing behind: no
// address in the namespace, no announcer, no file in HA_RSCTMP.
func TestHostileParameters(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty regular file: what a namespace is bind-mounted onto, here
	// without its mount.
	unmounted := filepath.Join(dir, "unmounted")
	if err := os.WriteFile(unmounted, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	toPasswd := filepath.Join(dir, "passwd-link")
	toNetns := filepath.Join(dir, "netns-link")
	for _, l := range [][2]string{{"/etc/passwd", toPasswd}, {filepath.Join("/run/netns", f.A.Netns), toNetns}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	// A file under /run/netns that is not a mounted namespace, as a failed
	// "ip netns add" leaves behind.
	stale := fmt.Sprintf("vnfha-t-%d-stale", os.Getpid())
	if err := os.WriteFile(filepath.Join("/run/netns", stale), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/run/netns", stale)) })

	links := addTestLinks(t, f)
	ip := vipOf("IPv4").String()
	ns := func(v string) map[string]string {
		return map[string]string{"ip": ip, "network_namespace": v, "arp_count": "1"}
	}
	with := func(kv ...string) map[string]string {
		return withParams(map[string]string{"ip": ip, "arp_count": "1"}, kv...)
	}
	long := strings.Repeat("n", 5000)
	// refusedHere is a node-local state that start checks: the parameters
	// are fine (validate-all 0), the node cannot hold the address now.
	refusedHere := expect{ocf.Success, ocf.NotRunning, ocf.ErrArgs, ocf.NotRunning, ocf.Success}
	cases := []hostileCase{
		// Defect 1: a network_namespace that is no network namespace.
		{name: "netns /etc", params: ns("/etc"), want: invalid, reason: `network_namespace "/etc" is not a network namespace (it is a directory)`},
		{name: "netns /etc/passwd", params: ns("/etc/passwd"), want: invalid, reason: "is not a network namespace (it is a regular file)"},
		{name: "netns /dev/zero", params: ns("/dev/zero"), want: invalid, reason: "is not a network namespace (it is a character device)"},
		{name: "netns directory", params: ns(dir), want: invalid, reason: "is not a network namespace (it is a directory)"},
		{name: "netns fifo", params: ns(fifo), want: invalid, reason: "is not a network namespace (it is a fifo)"},
		{name: "netns symlink to a file", params: ns(toPasswd), want: invalid, reason: "is not a network namespace (it is a regular file)"},
		{name: "netns mount namespace", params: ns("/proc/self/ns/mnt"), want: invalid, reason: "is not a network namespace (it is a mount namespace)"},
		{name: "netns PID namespace", params: ns("/proc/self/ns/pid"), want: invalid, reason: "is not a network namespace (it is a PID namespace)"},
		{name: "netns long name", params: ns(long), want: invalid, reason: "(5000 bytes) is longer than 255 bytes"},
		{name: "netns long path", params: ns("/" + long), want: invalid, reason: "is too long for a path (max 4095 bytes)"},
		{name: "netns long component", params: ns("/run/" + long[:300]), want: invalid, reason: "has a path component over 255 bytes"},
		// Defect 6: a name never leaves /run/netns.
		{name: "netns ../../etc", params: ns("../../etc"), want: invalid, reason: `network_namespace "../../etc" holds "/"`},
		{name: "netns ..", params: ns(".."), want: invalid, reason: "is a relative directory"},
		{name: "netns relative path", params: ns("sub/x"), want: invalid, reason: `holds "/"`},
		{name: "netns control character", params: ns("a\nb"), want: invalid, reason: "holds a control character"},
		// What this node lacks, another may have.
		{name: "netns missing name", params: ns("vnfha-none"), want: absent, reason: `network_namespace "vnfha-none" does not exist on this node`},
		{name: "netns missing path", params: ns("/nonexistent/ns"), want: absent, reason: "does not exist on this node"},
		{name: "netns through a file", params: ns("/etc/passwd/x"), want: absent, reason: "does not exist on this node"},
		{name: "netns name not mounted", params: ns(stale), want: absent, reason: "is not a network namespace on this node"},
		// The same stale file given as a path is the same node-local
		// state: one answer however it is named (review 2).
		{name: "netns path not mounted", params: ns(filepath.Join("/run/netns", stale)), want: absent, reason: "is not a network namespace on this node (a regular file, not mounted)"},
		{name: "netns empty file", params: ns(unmounted), want: absent, reason: "is not a network namespace on this node"},
		// And what works.
		{name: "netns by name", params: ns(f.A.Netns), want: fine},
		{name: "netns by path", params: ns(filepath.Join("/run/netns", f.A.Netns)), want: fine},
		{name: "netns by symlink", params: ns(toNetns), want: fine},

		// Addresses no node can hold.
		{name: "ip missing", params: map[string]string{"arp_count": "1"}, want: invalid, reason: "ip"},
		{name: "ip junk", params: with("ip", "198.19.255.300"), want: invalid, reason: `ip "198.19.255.300" is not an IPv4 or IPv6 address`},
		{name: "ip huge", params: with("ip", long), want: invalid, reason: "(5000 bytes) is not an IPv4 or IPv6 address"},
		{name: "ip binary", params: with("ip", "\xff\xfe\x01\x1b[2J"), want: invalid, reason: "is not an IPv4 or IPv6 address"},
		{name: "ip newline", params: with("ip", ip+"\n"), want: invalid, reason: "is not an IPv4 or IPv6 address"},
		{name: "ip zone", params: with("ip", "fe80::1%veth0"), want: invalid, reason: "give the interface as nic, not as a zone"},
		{name: "ip 0.0.0.0", params: with("ip", "0.0.0.0"), want: invalid, reason: "cannot be assigned"},
		{name: "ip ::", params: with("ip", "::"), want: invalid, reason: "cannot be assigned"},
		{name: "ip multicast", params: with("ip", "224.0.0.1"), want: invalid, reason: "cannot be assigned"},
		{name: "ip IPv6 multicast", params: with("ip", "ff02::1"), want: invalid, reason: "cannot be assigned"},
		{name: "ip limited broadcast", params: with("ip", "255.255.255.255"), want: invalid, reason: "cannot be assigned"},
		{name: "ip loopback", params: with("ip", "127.0.0.1"), want: invalid, reason: "loopback"},
		{name: "ip IPv6 loopback", params: with("ip", "::1"), want: invalid, reason: "loopback"},
		{name: "ip subnet broadcast", params: with("ip", "198.19.255.255"), want: invalid, reason: "ip 198.19.255.255 is the broadcast address of 198.19.255.0/24"},
		{name: "ip network address", params: with("ip", "198.19.255.0"), want: invalid, reason: "ip 198.19.255.0 is the network address of 198.19.255.0/24"},
		{name: "ip broadcast of cidr_netmask", params: with("ip", "198.19.255.127", "cidr_netmask", "25"), want: invalid, reason: "is the broadcast address of 198.19.255.0/25"},
		{name: "ip IPv4-mapped", params: with("ip", "::ffff:"+ip), want: fine},

		// Netmasks.
		{name: "cidr_netmask /24", params: with("cidr_netmask", "/24"), want: invalid, reason: `cidr_netmask "/24" is not a prefix length (1..32) or a dotted-quad mask`},
		{name: "cidr_netmask 33", params: with("cidr_netmask", "33"), want: invalid, reason: "cidr_netmask 33 is out of range 1..32"},
		{name: "cidr_netmask negative", params: with("cidr_netmask", "-1"), want: invalid, reason: "out of range"},
		{name: "cidr_netmask overflow", params: with("cidr_netmask", "99999999999999999999"), want: invalid, reason: "is not a prefix length"},
		{name: "cidr_netmask holey", params: with("cidr_netmask", "255.0.255.0"), want: invalid, reason: "is not a contiguous mask"},

		// Interfaces.
		{name: "nic lo", params: with("nic", "lo"), want: invalid, reason: "nic lo is the loopback interface"},
		{name: "nic alias", params: with("nic", "veth0:1"), want: invalid, reason: "an alias (nic:label) is no interface"},
		{name: "nic with slash", params: with("nic", "../veth0"), want: invalid, reason: "is not an interface name"},
		{name: "nic 16 characters", params: with("nic", "abcdefghijklmnop"), want: invalid, reason: "is longer than an interface name (15 bytes)"},
		{name: "nic huge", params: with("nic", long), want: invalid, reason: "(5000 bytes) is longer than an interface name"},
		{name: "nic control", params: with("nic", "veth\x000"), want: invalid, reason: "is not an interface name"},
		{name: "nic missing here", params: with("nic", "eth9"), want: absent, reason: "nic eth9 does not exist on this node"},
		{name: "nic administratively down", params: with("ip", "198.19.254.100", "nic", links.down), want: absent, reason: "nic " + links.down + " is administratively down"},
		{name: "nic down, check_link", params: with("ip", "198.19.254.100", "nic", links.down, "cidr_netmask", "24"), want: refusedHere, reason: "nic " + links.down + " is administratively down (check_link)"},
		{name: "nic without carrier, check_link", params: with("ip", "198.19.253.100"), want: refusedHere, reason: "nic " + links.noCarrier + " has no carrier (check_link)"},
		{name: "nic without carrier, no check_link", params: with("ip", "198.19.253.100", "check_link", "false"), want: fine},
		{name: "nic not Ethernet", params: with("ip", "198.19.252.100"), want: absent, reason: "nic " + links.tun + " has no Ethernet address"},

		// Labels.
		{name: "label too long", params: with("label", "abcdefghijklmn"), want: invalid, reason: "too long"},
		{name: "label too long with nic", params: with("label", "abcdefghij"), want: invalid, reason: `"veth0:abcdefghij" is longer than 15`},
		{name: "label huge", params: with("label", long), want: invalid, reason: "(5000 bytes) is too long"},
		{name: "label with space", params: with("label", "a b"), want: invalid, reason: "holds a space"},
		{name: "label on IPv6", params: with("ip", vipOf("IPv6").String(), "label", "x"), want: invalid, reason: "Linux labels only IPv4 addresses"},

		// Numbers and types: the framework's parsing and the agent's
		// ranges give the same code.
		{name: "arp_count text", params: with("arp_count", "abc"), want: invalid, reason: "arp_count"},
		{name: "arp_count negative", params: with("arp_count", "-1"), want: invalid, reason: "arp_count -1 is out of range 0..100"},
		{name: "arp_count overflow", params: with("arp_count", "99999999999999999999"), want: invalid, reason: "arp_count"},
		{name: "arp_count too many", params: with("arp_count", "101"), want: invalid, reason: "arp_count 101 is out of range"},
		{name: "arp_interval 0", params: with("arp_interval", "0"), want: invalid, reason: "arp_interval 0 ms is out of range"},
		{name: "arp_interval huge", params: with("arp_interval", "60001"), want: invalid, reason: "arp_interval 60001 ms is out of range"},
		{name: "arp_mode junk", params: with("arp_mode", long), want: invalid, reason: "(5000 bytes) is not request, reply or both"},
		{name: "preferred_lft negative", params: with("ip", vipOf("IPv6").String(), "preferred_lft", "-1"), want: invalid, reason: "preferred_lft"},
		{name: "preferred_lft overflow", params: with("ip", vipOf("IPv6").String(), "preferred_lft", "4294967295"), want: invalid, reason: "preferred_lft"},
		{name: "conflict_wait 0", params: with("conflict_wait", "0"), want: invalid, reason: "conflict_wait"},
		{name: "conflict_wait too long", params: with("conflict_wait", "11s"), want: invalid, reason: "conflict_wait 11s is out of range"},
		{name: "conflict_wait text", params: with("conflict_wait", "soon"), want: invalid, reason: "conflict_wait"},
		{name: "arp_refresh below a second", params: with("arp_refresh", "100ms"), want: invalid, reason: "arp_refresh 100ms is out of range"},
		{name: "arp_refresh text", params: with("arp_refresh", "often"), want: invalid, reason: "arp_refresh"},
		{name: "arp_refresh negative", params: with("arp_refresh", "-1s"), want: invalid, reason: "arp_refresh"},
		{name: "fast_fail not a boolean", params: with("fast_fail", "maybe"), want: invalid, reason: "fast_fail"},
		{name: "arp_refresh and no fast_fail", params: with("arp_refresh", "1s", "fast_fail", "false"), want: fine},
		{name: "arp_refresh a fraction", params: with("arp_refresh", "0.5s"), want: invalid, reason: "arp_refresh"},
		{name: "arp_refresh two units", params: with("arp_refresh", "1h1s"), want: invalid, reason: "arp_refresh"},
		{name: "arp_refresh overflowing", params: with("arp_refresh", "99999999999999999h"), want: invalid, reason: "overflows"},
		{name: "arp_refresh an hour in seconds", params: with("arp_refresh", "3600"), want: fine},
		{name: "arp_refresh a second over", params: with("arp_refresh", "3601"), want: invalid, reason: "arp_refresh 1h0m1s is out of range"},
		{name: "check_link not a boolean", params: with("check_link", "maybe"), want: invalid, reason: "check_link"},
		{name: "nodad not a boolean", params: with("nodad", "2"), want: invalid, reason: "nodad"},

		// The instance names the announcer's pid file (principle 6).
		{name: "instance with slash", params: with("arp_count", "3"), env: map[string]string{"OCF_RESOURCE_INSTANCE": "../../victim"}, want: invalid, reason: `OCF_RESOURCE_INSTANCE "../../victim" holds "/"`},
		// The longest instance whose files' names (and their temporary
		// files') fit in NAME_MAX, and one byte more.
		{name: "instance longest", params: with("arp_count", "3"), env: map[string]string{"OCF_RESOURCE_INSTANCE": long[:maxInstance]}, want: fine},
		{name: "instance too long", params: with("arp_count", "3"), env: map[string]string{"OCF_RESOURCE_INSTANCE": long[:maxInstance+1]}, want: invalid, reason: "OCF_RESOURCE_INSTANCE"},
		{name: "instance huge", params: with("arp_count", "3"), env: map[string]string{"OCF_RESOURCE_INSTANCE": long}, want: invalid, reason: "OCF_RESOURCE_INSTANCE"},
		// Pacemaker always sets it; by hand, only start needs it.
		{name: "instance unset", params: with("arp_count", "3"), env: map[string]string{"OCF_RESOURCE_INSTANCE": ""},
			want: expect{ocf.Success, ocf.NotRunning, ocf.ErrNotConfigured, ocf.NotRunning, ocf.Success}, reason: "OCF_RESOURCE_INSTANCE is not set"},
		{name: "clone instance", params: with("arp_count", "3"), env: map[string]string{"OCF_RESOURCE_INSTANCE": "vip:1"}, want: fine},

		// Addresses this node holds that vip did not add (review 1): never
		// reported as running, never taken over, never removed by stop
		// (checkNothingLeft sees a removal). Last in the table: an agent
		// that removes them breaks the cases after.
		{name: "ip on another interface than nic", params: with("ip", "198.19.253.1", "nic", nstest.LinkName, "cidr_netmask", "24"),
			want: refusedHere, reason: "198.19.253.1 is already on " + links.noCarrier + " of this node, not on " + nstest.LinkName},
		{name: "ip is the node's own, on nic", params: with("ip", f.A.Addr4.Addr().String(), "nic", nstest.LinkName),
			want: refusedHere, reason: "not added by this resource; refusing to take it over"},
		{name: "ip is the node's own", params: with("ip", f.A.Addr4.Addr().String()),
			want: refusedHere, reason: f.A.Addr4.Addr().String() + " is already on " + nstest.LinkName + " of this node, not added by this resource"},
		{name: "ip is the node's own IPv6", params: with("ip", f.A.Addr6.Addr().String()),
			want: refusedHere, reason: "not added by this resource"},
	}
	before := addrSnapshot(t, f.A)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.hostile(t, tc, before)
		})
	}
}

// testLinks are the extra links addTestLinks makes in A.
type testLinks struct {
	down      string // a veth end, administratively down, 198.19.254.1/24
	noCarrier string // a veth end up without carrier, 198.19.253.1/24
	tun       string // a TUN device: no Ethernet address, 198.19.252.1/24
}

// addTestLinks adds to A's namespace links in the states the agent must
// refuse. They go with the namespace.
func addTestLinks(t *testing.T, f *fixture) testLinks {
	t.Helper()
	tl := testLinks{down: "dn0", noCarrier: "vc0", tun: "tun0"}
	nl := f.A.Handle(t)
	addr := func(l netlink.Link, p string) {
		t.Helper()
		a, err := netlink.ParseAddr(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := nl.AddrAdd(l, a); err != nil {
			t.Fatalf("add %s to %s: %v", p, l.Attrs().Name, err)
		}
	}
	// A veth pair inside A, both ends up, so that dn0 gets its address
	// and route; then dn0 goes down, which takes the route away as on a
	// real link.
	down := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tl.down}, PeerName: "dn1"}
	if err := nl.LinkAdd(down); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	for _, n := range []string{tl.down, "dn1"} {
		l, err := nl.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := nl.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	addr(down, "198.19.254.1/24")
	if err := nl.LinkSetDown(down); err != nil {
		t.Fatal(err)
	}
	// A veth pair inside A whose peer stays down: vc0 is up, no carrier.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tl.noCarrier}, PeerName: "vc1"}
	if err := nl.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	if err := nl.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	addr(veth, "198.19.253.1/24")
	// A TUN device is created through /dev/net/tun, in the namespace of
	// the thread that opens it.
	err := f.A.Do(func() error {
		tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: tl.tun}, Mode: netlink.TUNTAP_MODE_TUN}
		if err := netlink.LinkAdd(tun); err != nil {
			return fmt.Errorf("add tun: %w", err)
		}
		l, err := netlink.LinkByName(tl.tun)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatal(err)
	}
	tun, err := nl.LinkByName(tl.tun)
	if err != nil {
		t.Fatal(err)
	}
	addr(tun, "198.19.252.1/24")
	return tl
}

// hostile runs every action for tc and checks codes, reasons and leftovers.
func (f *fixture) hostile(t *testing.T, tc hostileCase, before []string) {
	t.Helper()
	if code, _ := f.runEnv(t, ocf.ActionMetaData, false, tc); code != ocf.Success {
		t.Errorf("meta-data = %v, want success", code)
	}
	reasons := map[string]string{}
	for _, step := range []struct {
		action string
		probe  bool
		want   ocf.Code
	}{
		{ocf.ActionValidateAll, false, tc.want.validate},
		{ocf.ActionMonitor, true, tc.want.probe},
		{ocf.ActionStart, false, tc.want.start},
		{ocf.ActionMonitor, false, tc.want.monitor},
		{ocf.ActionStop, false, tc.want.stop},
	} {
		label := step.action
		if step.probe {
			label = "probe"
		}
		code, reason := f.runEnv(t, step.action, step.probe, tc)
		if code != step.want {
			t.Errorf("%s = %d (%v), want %d (%v); reason %q", label, int(code), code, int(step.want), step.want, reason)
		}
		reasons[label] = reason
		t.Logf("%-12s %d %s", label, int(code), reason)
		if step.want.IsFailure() && tc.reason != "" && !strings.Contains(reason, tc.reason) {
			t.Errorf("%s reason %q does not say %q", label, reason, tc.reason)
		}
		if label == ocf.ActionStart && code != ocf.Success || label == ocf.ActionStop {
			f.checkNothingLeft(t, label, before)
		}
	}
	// One misconfiguration, one answer: the same reason from each action
	// that refuses it.
	if tc.want == invalid {
		for _, l := range []string{"probe", ocf.ActionStart, ocf.ActionMonitor} {
			if reasons[l] != reasons[ocf.ActionValidateAll] {
				t.Errorf("%s says %q, validate-all %q", l, reasons[l], reasons[ocf.ActionValidateAll])
			}
		}
	}
}

// runEnv runs one action in-process with tc's parameters and environment
// and returns its code and its exit reason, after checking that the agent
// wrote at most one reason, on one line, no longer than Pacemaker keeps.
// It fails the test rather than hang if the action blocks (an open of a
// fifo would).
func (f *fixture) runEnv(t *testing.T, action string, probe bool, tc hostileCase) (ocf.Code, string) {
	t.Helper()
	code, reason, _ := f.runFull(t, action, probe, tc)
	return code, reason
}

// runFull is runEnv that also returns all the agent wrote on stderr.
func (f *fixture) runFull(t *testing.T, action string, probe bool, tc hostileCase) (ocf.Code, string, string) {
	t.Helper()
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE":        "vip-test",
		"HA_RSCTMP":                    f.rscTmp,
		"OCF_RESKEY_CRM_meta_timeout":  "20000",
		"OCF_RESKEY_network_namespace": f.A.Netns,
		"OCF_RESKEY_CRM_meta_interval": "10000",
	}
	if probe || action != ocf.ActionMonitor {
		env["OCF_RESKEY_CRM_meta_interval"] = "0"
	}
	for k, v := range tc.params {
		env["OCF_RESKEY_"+k] = v
	}
	for k, v := range tc.env {
		env[k] = v
	}
	type result struct {
		code   ocf.Code
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := Agent.Run(context.Background(), []string{action}, ocf.MapLookup(env), &stdout, &stderr)
		done <- result{code, stderr.String()}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return within 30s", action)
	}
	var reasons []string
	for _, line := range strings.SplitAfter(r.stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "ocf-exit-reason:"); ok {
			if !strings.HasSuffix(rest, "\n") {
				t.Errorf("%s: exit reason not ended by a newline: %q", action, line)
			}
			reasons = append(reasons, strings.TrimSuffix(rest, "\n"))
		}
	}
	if len(reasons) > 1 {
		t.Errorf("%s wrote %d exit reasons: %q", action, len(reasons), reasons)
	}
	reason := strings.Join(reasons, "")
	if len(reason) > maxReason {
		t.Errorf("%s: exit reason of %d bytes, Pacemaker keeps %d: %q", action, len(reason), maxReason, reason)
	}
	if strings.ContainsFunc(reason, unicode.IsControl) {
		t.Errorf("%s: exit reason holds a control character: %q", action, reason)
	}
	return r.code, reason, r.stderr
}

// addrSnapshot lists every address on every link of s's namespace.
func addrSnapshot(t *testing.T, s *nstest.Side) []string {
	t.Helper()
	as, err := s.Handle(t).AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%d %s", a.LinkIndex, a.IPNet))
	}
	slices.Sort(out)
	return out
}

// checkNothingLeft fails the test if A's namespace has an address it did
// not have before, an announcer of this fixture runs, or HA_RSCTMP holds a
// file.
func (f *fixture) checkNothingLeft(t *testing.T, after string, before []string) {
	t.Helper()
	if now := addrSnapshot(t, f.A); !slices.Equal(now, before) {
		t.Errorf("after %s, %s has addresses %v, had %v", after, f.A.Netns, now, before)
	}
	if pids := f.announcers(t); len(pids) > 0 {
		t.Errorf("after %s, announcers %v still run", after, pids)
	}
	ents, err := os.ReadDir(f.rscTmp)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("after %s, HA_RSCTMP holds %s", after, e.Name())
	}
}

// announcers lists the announcer processes started with this fixture's
// HA_RSCTMP: their command line names it. Others may run at the same time
// (other tests, a lab on this machine).
func (f *fixture) announcers(t *testing.T) []int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(b, []byte("\x00"+ocf.HelperArg+"\x00"+name+"\x00")) && bytes.Contains(b, []byte(f.rscTmp)) {
			var pid int
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			out = append(out, pid)
		}
	}
	return out
}
