package vip

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/internal/sniff"
	"github.com/vnfha/vnfha/ocf"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// helperFails is a file that, in the parent directory of HA_RSCTMP, makes
// the announcer helper this test binary runs exit at once without a word,
// as a broken or killed helper would. (The helper gets an empty
// environment; its pid file, on its command line, says where HA_RSCTMP is.)
const helperFails = "helper-fails"

// TestMain lets this test binary stand in for vnfha-agent when start runs
// /proc/self/exe as the announcer helper.
func TestMain(m *testing.M) {
	if len(os.Args) > 3 && os.Args[1] == ocf.HelperArg && os.Args[2] == name {
		if i := slices.Index(os.Args, "--pidfile"); i > 0 && i+1 < len(os.Args) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(os.Args[i+1])), helperFails)); err == nil {
				os.Exit(1)
			}
		}
		os.Exit(Agent.Helper(os.Args[3])(os.Args[4:]))
	}
	os.Exit(m.Run())
}

// fixture is a throwaway namespace pair: the agent manages addresses on
// A's link through network_namespace; B is the rest of the LAN.
type fixture struct {
	*nstest.Pair
	rscTmp string
	// calls is where the stand-in crm_resource records its arguments,
	// one call a line: the reports of the announcer's watch.
	calls string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	nstest.RequireRoot(t)
	f := &fixture{Pair: nstest.NewPair(t), rscTmp: t.TempDir()}
	// A stand-in for crm_resource that records its arguments: no
	// controller answers in a throwaway namespace, so the report always
	// falls back to it (the lab's tests use the real one).
	dir := t.TempDir()
	f.calls = filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "crm_resource")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >> "+f.calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := crmResourceBin
	crmResourceBin = bin
	t.Cleanup(func() { crmResourceBin = old })
	// The announcer lives until stop: end those a test left (it
	// stopped nothing, or failed first), before the namespaces go.
	t.Cleanup(func() { f.killAnnouncers(t) })
	return f
}

// killAnnouncers kills the announcers of this fixture and waits, a few
// seconds at most, until they are gone.
func (f *fixture) killAnnouncers(t *testing.T) {
	t.Helper()
	for _, pid := range f.announcers(t) {
		if id, err := procid.Of(pid); err == nil {
			_ = id.Signal(unix.SIGKILL)
			if !id.WaitExit(5 * time.Second) {
				t.Errorf("announcer %d survived SIGKILL", pid)
			}
		}
	}
}

// reports returns the calls of the stand-in crm_resource so far.
func (f *fixture) reports(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.calls)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// vipOf returns the test's virtual IP in the pair's network of that family.
func vipOf(family string) netip.Addr {
	if family == "IPv6" {
		return netip.MustParseAddr("2001:2:0:ffff::100")
	}
	return netip.MustParseAddr("198.19.255.100")
}

// run performs one action in-process, as Pacemaker would run it, with the
// agent's network_namespace set to A.
// A "probe" key in params makes a monitor a probe (interval 0).
func (f *fixture) run(t *testing.T, action string, params map[string]string) (ocf.Code, string) {
	t.Helper()
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE":        "vip-test",
		"HA_RSCTMP":                    f.rscTmp,
		"OCF_RESKEY_CRM_meta_timeout":  "20000",
		"OCF_RESKEY_network_namespace": f.A.Netns,
		"OCF_RESKEY_CRM_meta_interval": "0",
	}
	if action == ocf.ActionMonitor && params["probe"] == "" {
		env["OCF_RESKEY_CRM_meta_interval"] = "10000"
	}
	for k, v := range params {
		if k != "probe" {
			env["OCF_RESKEY_"+k] = v
		}
	}
	var stdout, stderr bytes.Buffer
	code := Agent.Run(context.Background(), []string{action}, ocf.MapLookup(env), &stdout, &stderr)
	return code, stderr.String()
}

// withParams is a copy of base with the key-value pairs kv set.
func withParams(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (f *fixture) mustRun(t *testing.T, action string, params map[string]string, want ocf.Code) string {
	t.Helper()
	code, stderr := f.run(t, action, params)
	if code != want {
		t.Fatalf("%s %v = %v, want %v\n%s", action, params, code, want, stderr)
	}
	return stderr
}

// addrsOn lists ip as configured on s's link.
func addrsOn(t *testing.T, s *nstest.Side, ip netip.Addr) []netlink.Addr {
	t.Helper()
	nl := s.Handle(t)
	l, err := nl.LinkByIndex(s.Index)
	if err != nil {
		t.Fatal(err)
	}
	all, err := nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	return withIP(all, ip)
}

// withIP keeps the addresses of all that are ip.
func withIP(all []netlink.Addr, ip netip.Addr) []netlink.Addr {
	var out []netlink.Addr
	for _, a := range all {
		if a.IP.Equal(ip.AsSlice()) {
			out = append(out, a)
		}
	}
	return out
}

// staleNeighbour makes s believe ip is at a MAC nobody has, the state a LAN
// is in right after a failover.
func staleNeighbour(t *testing.T, s *nstest.Side, ip netip.Addr) {
	t.Helper()
	n := &netlink.Neigh{LinkIndex: s.Index, IP: ip.AsSlice(), State: netlink.NUD_STALE, HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}}
	if err := s.Handle(t).NeighSet(n); err != nil {
		t.Fatalf("set neighbour %s in %s: %v", ip, s.Netns, err)
	}
}

func neighbourMAC(t *testing.T, s *nstest.Side, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	_, mac := neighbour(t, s, ip)
	return mac
}

// neighbour returns s's neighbour entry for ip: its NUD state bits (0 when
// there is none) and MAC.
func neighbour(t *testing.T, s *nstest.Side, ip netip.Addr) (int, net.HardwareAddr) {
	t.Helper()
	ns, err := s.Handle(t).NeighList(s.Index, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.IP.Equal(ip.AsSlice()) {
			return n.State, n.HardwareAddr
		}
	}
	return 0, nil
}

// announcementsOf counts the gratuitous announcements of ip that s saw.
func announcementsOf(caps []sniff.Capture, ip netip.Addr, from net.HardwareAddr) int {
	n := 0
	for _, c := range caps {
		if c.Gratuitous && c.TargetIP == ip && bytes.Equal(c.SrcHW, from) {
			n++
		}
	}
	return n
}

func TestStartMonitorStop(t *testing.T) {
	for _, family := range []string{"IPv4", "IPv6"} {
		t.Run(family, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf(family)
			params := map[string]string{"ip": ip.String(), "arp_count": "1"}

			f.mustRun(t, ocf.ActionMonitor, params, ocf.NotRunning)
			staleNeighbour(t, f.B, ip)
			f.mustRun(t, ocf.ActionStart, params, ocf.Success)

			got := addrsOn(t, f.A, ip)
			if len(got) != 1 {
				t.Fatalf("after start, %s holds %v", f.A.Link, got)
			}
			wantBits := f.A.Addr4.Bits()
			if family == "IPv6" {
				wantBits = f.A.Addr6.Bits()
				if got[0].Flags&unix.IFA_F_NODAD == 0 {
					t.Errorf("IPv6 address added without IFA_F_NODAD (nodad defaults to true): flags %#x", got[0].Flags)
				}
			}
			if bits, _ := got[0].Mask.Size(); bits != wantBits {
				t.Errorf("prefix length %d, want %d from the connected route", bits, wantBits)
			}
			// The one announcement went out before start returned, and B,
			// which had a stale entry, moved it to A.
			if mac := neighbourMAC(t, f.B, ip); !bytes.Equal(mac, f.A.HW) {
				t.Errorf("B's neighbour entry for %s is %v, want A's %v", ip, mac, f.A.HW)
			}
			f.mustRun(t, ocf.ActionMonitor, params, ocf.Success)

			// Start again is a no-op success; the address is not doubled.
			f.mustRun(t, ocf.ActionStart, params, ocf.Success)
			if got := addrsOn(t, f.A, ip); len(got) != 1 {
				t.Errorf("after a second start, %v", got)
			}

			f.mustRun(t, ocf.ActionStop, params, ocf.Success)
			if got := addrsOn(t, f.A, ip); len(got) != 0 {
				t.Errorf("after stop, %s still holds %v", f.A.Link, got)
			}
			f.mustRun(t, ocf.ActionMonitor, params, ocf.NotRunning)
			f.mustRun(t, ocf.ActionStop, params, ocf.Success)
		})
	}
}

// TestAnnouncer: start returns with the announcer still at work, which
// sends the other arp_count - 1 rounds; stop ends it.
func TestAnnouncer(t *testing.T) {
	for _, tt := range []struct {
		family, mode string
		perRound     int
	}{
		{"IPv4", "both", 2},
		{"IPv4", "request", 1},
		{"IPv4", "reply", 1},
		{"IPv6", "both", 1},
	} {
		t.Run(tt.family+"/"+tt.mode, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf(tt.family)
			sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
			const count = 4
			params := map[string]string{"ip": ip.String(), "arp_count": strconv.Itoa(count), "arp_interval": "100", "arp_mode": tt.mode}
			f.mustRun(t, ocf.ActionStart, params, ocf.Success)
			id := announcerOf(t, f.rscTmp, "vip-test")
			if !id.Alive() {
				t.Fatalf("announcer %v is not running after start", id)
			}
			want := count * tt.perRound
			deadline := time.Now().Add(10 * time.Second)
			for announcementsOf(sn.Frames(), ip, f.A.HW) < want && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := announcementsOf(sn.Frames(), ip, f.A.HW); n != want {
				t.Fatalf("B saw %d announcements of %s, want %d (%d rounds of %d)", n, ip, want, count, tt.perRound)
			}
			f.mustRun(t, ocf.ActionStop, params, ocf.Success)
		})
	}

	t.Run("stop cancels pending announcements", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv4")
		sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
		params := map[string]string{"ip": ip.String(), "arp_count": "50", "arp_interval": "100"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		id := announcerOf(t, f.rscTmp, "vip-test")
		f.mustRun(t, ocf.ActionStop, params, ocf.Success)
		stopped := time.Now()
		if _, err := os.Stat(pidFile(f.rscTmp, "vip-test")); !os.IsNotExist(err) {
			t.Errorf("pid file left after stop: %v", err)
		}
		// Wait out several intervals: nothing more may come.
		time.Sleep(500 * time.Millisecond)
		if n := announcementsOf(sn.Since(stopped), ip, f.A.HW); n != 0 {
			t.Errorf("%d announcements after stop", n)
		}
		if id.Alive() {
			t.Errorf("announcer %v survived stop", id)
		}
	})

	t.Run("a new start replaces the announcer", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv4")
		params := map[string]string{"ip": ip.String(), "arp_count": "50", "arp_interval": "100"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		first := announcerOf(t, f.rscTmp, "vip-test")
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		second := announcerOf(t, f.rscTmp, "vip-test")
		if first == second || first.Alive() {
			t.Errorf("first announcer %d still running beside %d", first, second)
		}
		f.mustRun(t, ocf.ActionStop, params, ocf.Success)
	})
}

// announcerOf reads the announcer's identity from the pid file of
// instance.
func announcerOf(t *testing.T, rscTmp, instance string) procid.ID {
	t.Helper()
	b, err := os.ReadFile(pidFile(rscTmp, instance))
	if err != nil {
		t.Fatalf("announcer pid file: %v", err)
	}
	var id procid.ID
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatalf("announcer pid file %q: %v", b, err)
	}
	return id
}

// TestConflict: another host holds the address. Start must refuse, say who
// holds it, and add nothing.
func TestConflict(t *testing.T) {
	for _, family := range []string{"IPv4", "IPv6"} {
		t.Run(family, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf(family)
			holdOnB(t, f, ip)
			code, stderr := f.run(t, ocf.ActionStart, map[string]string{"ip": ip.String()})
			if code != ocf.ErrGeneric || !strings.Contains(stderr, "ocf-exit-reason:another host ("+f.B.HW.String()+") already holds "+ip.String()) {
				t.Errorf("start = %v, want ErrGeneric naming B's MAC\n%s", code, stderr)
			}
			if got := addrsOn(t, f.A, ip); len(got) != 0 {
				t.Errorf("start added %v despite the conflict", got)
			}
		})
	}

	t.Run("IPv6 kernel DAD", func(t *testing.T) {
		// With our probe off and the kernel's DAD on, the kernel finds the
		// duplicate; start reports it and removes the dead address.
		f := newFixture(t)
		ip := vipOf("IPv6")
		holdOnB(t, f, ip)
		code, stderr := f.run(t, ocf.ActionStart, map[string]string{"ip": ip.String(), "conflict_check": "false", "nodad": "false"})
		if code != ocf.ErrGeneric || !strings.Contains(stderr, "duplicate address detection failed") {
			t.Errorf("start = %v, want ErrGeneric for DAD\n%s", code, stderr)
		}
		if got := addrsOn(t, f.A, ip); len(got) != 0 {
			t.Errorf("start left %v behind", got)
		}
	})

	t.Run("IPv6 kernel DAD passes", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv6")
		params := map[string]string{"ip": ip.String(), "nodad": "false", "arp_count": "1"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		got := addrsOn(t, f.A, ip)
		if len(got) != 1 || got[0].Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_NODAD) != 0 {
			t.Errorf("after start with kernel DAD: %+v", got)
		}
		f.mustRun(t, ocf.ActionStop, params, ocf.Success)
	})

	t.Run("IPv6 DAD failure seen by monitor", func(t *testing.T) {
		// An address the kernel marked dadfailed is listed but dead. The
		// resource's own address gets there when the kernel runs DAD
		// again (a link that comes back up) while another host holds it:
		// start it, then have the kernel re-run DAD on it with B holding.
		f := newFixture(t)
		ip := vipOf("IPv6")
		f.mustRun(t, ocf.ActionStart, map[string]string{"ip": ip.String(), "arp_count": "1"}, ocf.Success)
		holdOnB(t, f, ip)
		nl := f.A.Handle(t)
		l, _ := nl.LinkByIndex(f.A.Index)
		a, _ := netlink.ParseAddr(ip.String() + "/64")
		if err := nl.AddrDel(l, a); err != nil {
			t.Fatal(err)
		}
		if err := nl.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if got := addrsOn(t, f.A, ip); len(got) == 1 && got[0].Flags&unix.IFA_F_DADFAILED != 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		code, stderr := f.run(t, ocf.ActionMonitor, map[string]string{"ip": ip.String()})
		if code != ocf.ErrGeneric || !strings.Contains(stderr, "failed duplicate address detection") {
			t.Errorf("monitor = %v, want ErrGeneric for dadfailed\n%s", code, stderr)
		}
		// Once the other holder has gone, start replaces the dead copy.
		bl, _ := f.B.Handle(t).LinkByIndex(f.B.Index)
		ba, _ := netlink.ParseAddr(ip.String() + "/64")
		if err := f.B.Handle(t).AddrDel(bl, ba); err != nil {
			t.Fatal(err)
		}
		params := map[string]string{"ip": ip.String(), "arp_count": "1"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		f.mustRun(t, ocf.ActionMonitor, params, ocf.Success)
		if got := addrsOn(t, f.A, ip); len(got) != 1 || got[0].Flags&unix.IFA_F_DADFAILED != 0 {
			t.Errorf("after start: %+v", got)
		}
	})
}

func holdOnB(t *testing.T, f *fixture, ip netip.Addr) {
	t.Helper()
	nl := f.B.Handle(t)
	l, err := nl.LinkByIndex(f.B.Index)
	if err != nil {
		t.Fatal(err)
	}
	bits := 24
	if ip.Is6() {
		bits = 64
	}
	a, _ := netlink.ParseAddr(netip.PrefixFrom(ip, bits).String())
	a.Flags = unix.IFA_F_NODAD
	if err := nl.AddrAdd(l, a); err != nil {
		t.Fatalf("hold %s on B: %v", ip, err)
	}
}

func TestCheckLink(t *testing.T) {
	f := newFixture(t)
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "1"}
	f.mustRun(t, ocf.ActionStart, params, ocf.Success)
	// B's end going down takes A's carrier away, as a pulled cable would.
	nl := f.B.Handle(t)
	l, _ := nl.LinkByIndex(f.B.Index)
	if err := nl.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	code, stderr := f.run(t, ocf.ActionMonitor, params)
	if code != ocf.ErrGeneric || !strings.Contains(stderr, "is down or has no carrier") {
		t.Errorf("monitor without carrier = %v\n%s", code, stderr)
	}
	// Without the link check the address alone counts. The announcer
	// that start left watches the link as start's check_link=true asked:
	// it may already have reported the loss and ended, which monitor
	// rightly shows as degraded (it is not restarted); nothing else.
	params["check_link"] = "false"
	code, stderr = f.run(t, ocf.ActionMonitor, params)
	switch {
	case code == ocf.Success:
	case code == ocf.Degraded && strings.Contains(stderr, "announcer watching"):
	default:
		t.Errorf("monitor with check_link=false and no carrier = %v, want success (or degraded: the announcer gone)\n%s", code, stderr)
	}
}

func TestAddressOptions(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		params map[string]string
		check  func(netlink.Addr) bool
	}{
		{"label", map[string]string{"ip": "198.19.255.101", "label": "svc"}, func(a netlink.Addr) bool { return a.Label == f.A.Link+":svc" }},
		{"host netmask", map[string]string{"ip": "198.19.255.102", "cidr_netmask": "32", "nic": f.A.Link}, func(a netlink.Addr) bool { b, _ := a.Mask.Size(); return b == 32 }},
		{"noprefixroute", map[string]string{"ip": "2001:2:0:ffff::103", "noprefixroute": "true"}, func(a netlink.Addr) bool { return a.Flags&unix.IFA_F_NOPREFIXROUTE != 0 }},
		{"deprecated", map[string]string{"ip": "2001:2:0:ffff::104", "preferred_lft": "0"}, func(a netlink.Addr) bool { return a.Flags&unix.IFA_F_DEPRECATED != 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params["arp_count"] = "1"
			f.mustRun(t, ocf.ActionStart, tt.params, ocf.Success)
			got := addrsOn(t, f.A, netip.MustParseAddr(tt.params["ip"]))
			if len(got) != 1 || !tt.check(got[0]) {
				t.Errorf("address: %+v", got)
			}
			f.mustRun(t, ocf.ActionMonitor, tt.params, ocf.Success)
			f.mustRun(t, ocf.ActionStop, tt.params, ocf.Success)
		})
	}
}

// TestNodeLocalErrors: what this node lacks bans the resource from this
// node only (ErrArgs); a probe finds nothing running.
func TestNodeLocalErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		action string
		params map[string]string
		want   ocf.Code
		reason string
	}{
		{"absent nic", ocf.ActionStart, map[string]string{"ip": "198.19.255.100", "nic": "eth9"}, ocf.ErrArgs, "nic eth9 does not exist on this node"},
		{"no route", ocf.ActionStart, map[string]string{"ip": "192.0.2.10"}, ocf.ErrArgs, "no route on an interface of this node contains 192.0.2.10"},
		{"no route, validate", ocf.ActionValidateAll, map[string]string{"ip": "192.0.2.10"}, ocf.ErrArgs, "set cidr_netmask"},
		{"no route but nic and netmask", ocf.ActionValidateAll, map[string]string{"ip": "192.0.2.10", "nic": f.A.Link, "cidr_netmask": "32"}, ocf.Success, ""},
		{"absent namespace, probe", ocf.ActionMonitor, map[string]string{"ip": "198.19.255.100", "network_namespace": "vnfha-none", "probe": "yes"}, ocf.NotRunning, ""},
		{"bad ip", ocf.ActionStart, map[string]string{"ip": "198.19.255.300"}, ocf.ErrNotConfigured, "not an IPv4 or IPv6 address"},
		{"absent namespace", ocf.ActionStart, map[string]string{"ip": "198.19.255.100", "network_namespace": "vnfha-none"}, ocf.ErrArgs, `network_namespace "vnfha-none" does not exist on this node`},
		{"bad ip, stop", ocf.ActionStop, map[string]string{"ip": "198.19.255.300"}, ocf.Success, ""},
		{"bad arp_count, stop", ocf.ActionStop, map[string]string{"ip": "198.19.255.100", "arp_count": "-1"}, ocf.Success, ""},
		{"absent namespace, stop", ocf.ActionStop, map[string]string{"ip": "198.19.255.100", "network_namespace": "vnfha-none"}, ocf.Success, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := f.run(t, tt.action, tt.params)
			if code != tt.want || !strings.Contains(stderr, tt.reason) {
				t.Errorf("%s = %v, want %v with %q\n%s", tt.action, code, tt.want, tt.reason, stderr)
			}
		})
	}
}

// TestMonitorForksNothing runs the built agent's monitor under strace and
// checks that the only program executed is the agent itself and that no
// process (as opposed to a thread) is created: Pacemaker runs it every
// interval on every node.
func TestMonitorForksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped in -short mode")
	}
	strace := ocftest.RequireTool(t, "strace")
	f := newFixture(t)
	agent := ocftest.BuildAgent(t, name)
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "1"}
	f.mustRun(t, ocf.ActionStart, params, ocf.Success)

	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-o", trace, "-e", "trace=execve,execveat,fork,vfork,clone,clone3", "-e", "signal=none", agent, "monitor")
	cmd.Env = []string{"OCF_RESOURCE_INSTANCE=vip-test", "HA_RSCTMP=" + f.rscTmp, "OCF_RESKEY_CRM_meta_interval=10000",
		"OCF_RESKEY_ip=" + ip.String(), "OCF_RESKEY_network_namespace=" + f.A.Netns}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("monitor under strace: %v\n%s", err, out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	execs, procs := 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "execve("), strings.Contains(line, "execveat("):
			execs++
		case strings.Contains(line, "fork("), (strings.Contains(line, "clone(") || strings.Contains(line, "clone3(")) && !strings.Contains(line, "CLONE_THREAD"):
			procs++
		}
	}
	if execs != 1 || procs != 0 {
		t.Errorf("monitor ran %d programs (want 1, itself) and created %d processes (want 0):\n%s", execs, procs, b)
	}
}
