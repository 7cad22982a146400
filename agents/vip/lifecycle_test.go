package vip

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/ocf"
)

// fakeLegacyAnnouncer, set in the environment, makes the test binary
// sleep under whatever command line it was given: a stand-in for an
// announcer started by an older agent.
const fakeLegacyAnnouncer = "VNFHA_TEST_FAKE_LEGACY_ANNOUNCER"

func init() {
	if os.Getenv(fakeLegacyAnnouncer) == "1" {
		time.Sleep(30 * time.Second)
		os.Exit(0)
	}
}

// TestSameAddressTwoNamespaces is defect 8: two resources with the same
// address in two network namespaces (overlapping tenant addresses) on one
// node. Each keeps its own announcer; stopping one leaves the other's
// announcer and address alone.
func TestSameAddressTwoNamespaces(t *testing.T) {
	f := newFixture(t)
	other := nstest.NewPair(t) // the same addresses as f's pair
	ip := vipOf("IPv4")
	res := []struct {
		instance, netns string
		side            *nstest.Side
	}{
		{"vip-a", f.A.Netns, f.A},
		{"vip-b", other.A.Netns, other.A},
	}
	tc := func(i int) hostileCase {
		return hostileCase{
			params: map[string]string{"ip": ip.String(), "network_namespace": res[i].netns, "arp_count": "50", "arp_interval": "100"},
			env:    map[string]string{"OCF_RESOURCE_INSTANCE": res[i].instance},
		}
	}
	for i := range res {
		if code, reason := f.runEnv(t, ocf.ActionStart, false, tc(i)); code != ocf.Success {
			t.Fatalf("start %s = %v: %s", res[i].instance, code, reason)
		}
	}
	if pids := f.announcers(t); len(pids) != 2 {
		t.Fatalf("after starting both, announcers %v, want one each", pids)
	}
	if code, reason := f.runEnv(t, ocf.ActionStop, false, tc(0)); code != ocf.Success {
		t.Fatalf("stop %s = %v: %s", res[0].instance, code, reason)
	}
	if pids := f.announcers(t); len(pids) != 1 {
		t.Errorf("after stopping %s, announcers %v, want %s's only", res[0].instance, pids, res[1].instance)
	}
	if got := addrsOn(t, res[1].side, ip); len(got) != 1 {
		t.Errorf("after stopping %s, %s holds %v", res[0].instance, res[1].netns, got)
	}
	if code, _ := f.runEnv(t, ocf.ActionMonitor, false, tc(1)); code != ocf.Success {
		t.Errorf("monitor %s = %v after the other's stop", res[1].instance, code)
	}
	if code, reason := f.runEnv(t, ocf.ActionStop, false, tc(1)); code != ocf.Success {
		t.Fatalf("stop %s = %v: %s", res[1].instance, code, reason)
	}
	f.checkNothingLeft(t, "both stops", addrSnapshot(t, f.A))
	if got := addrsOn(t, res[1].side, ip); len(got) != 0 {
		t.Errorf("after both stops, %s holds %v", res[1].netns, got)
	}
}

// TestLegacyAnnouncerStopped: an announcer that an agent from before issue
// 9 left running (its pid as text in a file named by the address) is ended
// by stop, as after an upgrade of the agent while it ran.
func TestLegacyAnnouncerStopped(t *testing.T) {
	f := newFixture(t)
	ip := vipOf("IPv4")
	path := legacyPidFile(f.rscTmp, ip)
	cmd := exec.Command("/proc/self/exe", ocf.HelperArg, name, announcerHelper, "--ip", ip.String(), "--count", "50", "--pidfile", path)
	cmd.Env = append(os.Environ(), fakeLegacyAnnouncer+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	if err := os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file naming an unrelated process is removed without a signal.
	innocent := exec.Command("sleep", "30")
	if err := innocent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { innocent.Process.Kill(); innocent.Wait() })
	other := legacyPidFile(f.rscTmp, vipOf("IPv6"))
	if err := os.WriteFile(other, []byte(strconv.Itoa(innocent.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, ipv := range []string{ip.String(), vipOf("IPv6").String()} {
		f.mustRun(t, ocf.ActionStop, map[string]string{"ip": ipv}, ocf.Success)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("stop left the legacy announcer running")
	}
	for _, p := range []string{path, other} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stop left %s: %v", p, err)
		}
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(innocent.Process.Pid)); err != nil {
		t.Errorf("stop killed a process that was not an announcer: %v", err)
	}
}

// TestFailedStartLeavesNothing (principle 3): a start that fails after it
// added the address, or runs out of time, removes the address and ends the
// announcer before it returns.
func TestFailedStartLeavesNothing(t *testing.T) {
	f := newFixture(t)
	// HA_RSCTMP under a regular file: the address record cannot be
	// written, so start fails before it adds anything.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// An HA_RSCTMP whose parent holds helperFails: the announcer exits
	// at once, after the address was added and recorded.
	failing := t.TempDir()
	if err := os.WriteFile(filepath.Join(failing, helperFails), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	failingTmp := filepath.Join(failing, "rsctmp")
	before := addrSnapshot(t, f.A)
	for _, tt := range []struct {
		name   string
		params map[string]string
		env    map[string]string
		reason string
	}{
		{"announcer cannot start", map[string]string{"ip": vipOf("IPv4").String(), "arp_count": "3"},
			map[string]string{"HA_RSCTMP": failingTmp}, "announce 198.19.255.100"},
		{"announcer cannot start, IPv6", map[string]string{"ip": vipOf("IPv6").String(), "arp_count": "3"},
			map[string]string{"HA_RSCTMP": failingTmp}, "announce 2001:2:0:ffff::100"},
		{"no address record", map[string]string{"ip": vipOf("IPv4").String(), "arp_count": "3"},
			map[string]string{"HA_RSCTMP": filepath.Join(blocker, "rsctmp")}, "record the address"},
		// The kernel's duplicate address detection takes a second or
		// more; the handler's context ends 0.75s into a 1.5s operation.
		{"timeout during DAD", map[string]string{"ip": vipOf("IPv6").String(), "nodad": "false", "conflict_check": "false", "arp_count": "3"},
			map[string]string{"OCF_RESKEY_CRM_meta_timeout": "1500"}, "did not finish before the timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := hostileCase{params: tt.params, env: tt.env}
			code, reason := f.runEnv(t, ocf.ActionStart, false, tc)
			if code != ocf.ErrGeneric || !strings.Contains(reason, tt.reason) {
				t.Errorf("start = %d (%v) %q, want 1 saying %q", int(code), code, reason, tt.reason)
			}
			f.checkNothingLeft(t, "failed start", before)
			// checkNothingLeft looks at the fixture's HA_RSCTMP.
			if ents, _ := os.ReadDir(failingTmp); len(ents) > 0 {
				t.Errorf("after failed start, %s holds %s", failingTmp, ents[0].Name())
			}
		})
	}
}

// TestStartIsQuietAndIdempotent (defects 12 and 13): a successful start,
// monitor and stop write nothing to stderr, which Pacemaker records as
// error output; info goes to the node's log (HA_LOGFILE), and a second
// start of a running resource does not log "added" again.
func TestStartIsQuietAndIdempotent(t *testing.T) {
	f := newFixture(t)
	// The framework appends to the node's log and never creates it.
	logFile := filepath.Join(t.TempDir(), "ha.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ip := vipOf("IPv4").String()
	tc := hostileCase{
		params: map[string]string{"ip": ip, "arp_count": "1"},
		env:    map[string]string{"HA_LOGFILE": logFile},
	}
	for _, step := range []struct {
		action string
		want   ocf.Code
	}{
		{ocf.ActionStart, ocf.Success},
		{ocf.ActionStart, ocf.Success},
		{ocf.ActionMonitor, ocf.Success},
		{ocf.ActionStop, ocf.Success},
		{ocf.ActionStop, ocf.Success},
	} {
		code, _, stderr := f.runFull(t, step.action, false, tc)
		if code != step.want {
			t.Errorf("%s = %v, want %v", step.action, code, step.want)
		}
		if stderr != "" {
			t.Errorf("%s wrote to stderr (Pacemaker logs it as error output):\n%s", step.action, stderr)
		}
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("node log: %v", err)
	}
	if n := strings.Count(string(b), "added "+ip+"/24"); n != 1 {
		t.Errorf("node log says %q %d times, want once (the second start finds it held):\n%s", "added "+ip, n, b)
	}
	if n := strings.Count(string(b), "removed "+ip); n != 1 {
		t.Errorf("node log says %q %d times, want once:\n%s", "removed "+ip, n, b)
	}
}

// TestOnlyRecordedAddressIsOurs (review 1): monitor reports, and stop
// removes, only the address start added, on the link start recorded. The
// record outlives a restart of Pacemaker (HA_RSCTMP is kept), and a copy of
// the address that start did not add is left alone.
func TestOnlyRecordedAddressIsOurs(t *testing.T) {
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "1"}
	for _, tt := range []struct {
		name string
		// between runs after a successful start, before the probe.
		between func(t *testing.T, f *fixture)
		probe   ocf.Code
		// kept is how many copies of ip stop leaves in A: on veth0 and
		// on the extra link.
		keptOnLink, keptElsewhere int
	}{
		{"Pacemaker restarted", func(*testing.T, *fixture) {}, ocf.Success, 0, 0},
		{"another copy on another link", func(t *testing.T, f *fixture) {
			addOn(t, f.A, "vc0", ip.String()+"/24")
		}, ocf.Success, 0, 1},
		// Review 2, defect 2: removed by hand and re-added by someone
		// else with another prefix length, on the same link.
		{"re-added as /32 by another", func(t *testing.T, f *fixture) {
			nl := f.A.Handle(t)
			l, err := nl.LinkByName(f.A.Link)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range addrsOn(t, f.A, ip) {
				if err := nl.AddrDel(l, &a); err != nil {
					t.Fatal(err)
				}
			}
			addOn(t, f.A, f.A.Link, ip.String()+"/32")
		}, ocf.NotRunning, 1, 0},
		{"record lost", func(t *testing.T, f *fixture) {
			if err := os.Remove(recordFile(f.rscTmp, "vip-test")); err != nil {
				t.Fatal(err)
			}
		}, ocf.NotRunning, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vc0"}, PeerName: "vc1"}
			if err := f.A.Handle(t).LinkAdd(veth); err != nil {
				t.Fatalf("add veth: %v", err)
			}
			f.mustRun(t, ocf.ActionStart, params, ocf.Success)
			tt.between(t, f)
			probe := map[string]string{"probe": "yes"}
			for k, v := range params {
				probe[k] = v
			}
			f.mustRun(t, ocf.ActionMonitor, probe, tt.probe)
			f.mustRun(t, ocf.ActionStop, params, ocf.Success)
			if got := addrsOn(t, f.A, ip); len(got) != tt.keptOnLink {
				t.Errorf("after stop, %s holds %v, want %d copies", f.A.Link, got, tt.keptOnLink)
			}
			if got := addrsOnLink(t, f.A, "vc0", ip); len(got) != tt.keptElsewhere {
				t.Errorf("after stop, vc0 holds %v, want %d copies", got, tt.keptElsewhere)
			}
			if _, err := os.Stat(recordFile(f.rscTmp, "vip-test")); !os.IsNotExist(err) {
				t.Errorf("after stop, the record is still there: %v", err)
			}
		})
	}
}

// addOn adds prefix to link name of s's namespace.
func addOn(t *testing.T, s *nstest.Side, name, prefix string) {
	t.Helper()
	nl := s.Handle(t)
	l, err := nl.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", prefix, name, err)
	}
}

// addrsOnLink lists the copies of ip on link name of s's namespace.
func addrsOnLink(t *testing.T, s *nstest.Side, name string, ip netip.Addr) []netlink.Addr {
	t.Helper()
	nl := s.Handle(t)
	l, err := nl.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	all, err := nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	return withIP(all, ip)
}

// TestRecordFollowsAddress (review 2, defects 1 and 3): stop removes the
// address in the namespace and on the link start recorded, whatever
// network_namespace says at stop and whatever the link is called now; a
// start with another network_namespace removes the previous one's address.
func TestRecordFollowsAddress(t *testing.T) {
	ip := vipOf("IPv4")
	// check_link=false: a rename takes the link down and up, which the
	// announcer's watch would report as a loss (and exit) with check_link;
	// here the monitor's reading of the record is under test.
	params := map[string]string{"ip": ip.String(), "arp_count": "1", "check_link": "false"}
	with := func(kv ...string) map[string]string { return withParams(params, kv...) }
	for _, tt := range []struct {
		name string
		// between runs after a successful start in A; it returns the
		// parameters of the next monitor and stop.
		between func(t *testing.T, f *fixture, other *nstest.Pair) map[string]string
		monitor ocf.Code
	}{
		{"stop names another namespace", func(_ *testing.T, _ *fixture, other *nstest.Pair) map[string]string {
			return with("network_namespace", other.A.Netns)
		}, ocf.NotRunning},
		{"stop names a missing namespace", func(*testing.T, *fixture, *nstest.Pair) map[string]string {
			return with("network_namespace", "vnfha-t-no-such-ns")
		}, ocf.NotRunning},
		{"stop's namespace is invalid", func(*testing.T, *fixture, *nstest.Pair) map[string]string {
			return with("network_namespace", "../x")
		}, ocf.ErrNotConfigured},
		{"started again in another namespace", func(t *testing.T, f *fixture, other *nstest.Pair) map[string]string {
			p := with("network_namespace", other.A.Netns)
			f.mustRun(t, ocf.ActionStart, p, ocf.Success)
			if got := allAddrs(t, f.A, ip); len(got) != 0 {
				t.Errorf("start in %s left %v in %s", other.A.Netns, got, f.A.Netns)
			}
			return p
		}, ocf.Success},
		{"record from before netns_path", func(t *testing.T, f *fixture, _ *nstest.Pair) map[string]string {
			r, err := readRecord(f.rscTmp, "vip-test")
			if err != nil || r == nil {
				t.Fatalf("record: %v %v", r, err)
			}
			r.NetnsPath = ""
			if err := writeRecord(f.rscTmp, "vip-test", *r); err != nil {
				t.Fatal(err)
			}
			return params
		}, ocf.Success},
		{"link renamed", func(t *testing.T, f *fixture, _ *nstest.Pair) map[string]string {
			renameLink(t, f.A, f.A.Link, "vr0")
			return params
		}, ocf.Success},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			other := nstest.NewPair(t)
			f.mustRun(t, ocf.ActionStart, params, ocf.Success)
			next := tt.between(t, f, other)
			// The recurring monitor: the one that reported a renamed
			// link as not running.
			f.mustRun(t, ocf.ActionMonitor, next, tt.monitor)
			f.mustRun(t, ocf.ActionStop, next, ocf.Success)
			for _, p := range []*nstest.Pair{f.Pair, other} {
				if got := allAddrs(t, p.A, ip); len(got) != 0 {
					t.Errorf("after stop, %s holds %v", p.A.Netns, got)
				}
			}
			if _, err := os.Stat(recordFile(f.rscTmp, "vip-test")); !os.IsNotExist(err) {
				t.Errorf("after stop, the record is still there: %v", err)
			}
			// Nothing is left that would make the next start refuse.
			f.mustRun(t, ocf.ActionStart, with("nic", ""), ocf.Success)
			f.mustRun(t, ocf.ActionStop, params, ocf.Success)
		})
	}
}

// renameLink renames link from to to in s's namespace, taking it down and
// up as the kernel requires, and waits (bounded) for its carrier.
func renameLink(t *testing.T, s *nstest.Side, from, to string) {
	t.Helper()
	nl := s.Handle(t)
	l, err := nl.LinkByName(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	if err := nl.LinkSetName(l, to); err != nil {
		t.Fatalf("rename %s to %s: %v", from, to, err)
	}
	if err := nl.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		l, err := nl.LinkByName(to)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().Flags&net.FlagRunning != 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s has no carrier after 5s", to)
}

// allAddrs lists the copies of ip on every link of s's namespace.
func allAddrs(t *testing.T, s *nstest.Side, ip netip.Addr) []netlink.Addr {
	t.Helper()
	all, err := s.Handle(t).AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	return withIP(all, ip)
}
