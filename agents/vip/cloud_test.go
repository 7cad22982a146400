package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/internal/sniff"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf"
)

// TestCloudFilterDiagnosis checks what the notes ("Running on OpenStack and
// other clouds") tell an operator to look at when a cloud's port security
// drops the virtual IP. B's end of the link gets the filter Neutron puts on
// a VM's port without an allowed address pair: every frame that speaks
// for the virtual IP (ARP with it as sender, IPv4 from it) is dropped on
// its way out of the node. Then: the monitor says running; the client's
// neighbour entry for the virtual IP never resolves while the node's own
// address does; the node hears the client's requests and replies to them.
// Allowing the address (removing the filter) makes the client's next
// attempt reach it, with nothing restarted.
func TestCloudFilterDiagnosis(t *testing.T) {
	f := newFixture(t)
	nft := testenv.Tool(t, "nft")
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "1"}

	// The port filter: a netdev ingress chain on B's veth sees what A
	// sends before B's stack does, as the cloud's switch would.
	portFilter(t, nft, f.B.Netns, f.B.Link, "add table netdev port",
		fmt.Sprintf("add chain netdev port security { type filter hook ingress device %s priority 0; }", f.B.Link),
		fmt.Sprintf("add rule netdev port security arp saddr ip %s drop", ip),
		fmt.Sprintf("add rule netdev port security ip saddr %s drop", ip))

	onA := sniff.Start(t, f.A.Do, f.A.Index, f.A.Link)
	f.mustRun(t, ocf.ActionStart, params, ocf.Success)
	defer f.mustRun(t, ocf.ActionStop, params, ocf.Success)

	if code, out := f.run(t, ocf.ActionMonitor, params); code != ocf.Success {
		t.Fatalf("monitor = %v, want 0: the node holds the address; a filter outside is not the monitor's to see\n%s", code, out)
	}

	// The client: a connection to the virtual IP gets no answer, and its
	// neighbour entry stays unresolved; the node's own address resolves.
	tried := time.Now()
	if err := dialFromB(f, ip); !errors.Is(err, errTimeout) {
		t.Fatalf("a connection to %s through the filter: %v, want a time-out", ip, err)
	}
	if state, mac := neighbour(t, f.B, ip); state&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
		t.Errorf("B's neighbour entry for %s is %s (%v), want INCOMPLETE or FAILED", ip, neighState(state), mac)
	}
	if err := dialFromB(f, f.A.Addr4.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("a connection to the node's own address %s: %v, want refused (reached)", f.A.Addr4.Addr(), err)
	}
	if state, mac := neighbour(t, f.B, f.A.Addr4.Addr()); state&netlink.NUD_REACHABLE == 0 || mac.String() != f.A.HW.String() {
		t.Errorf("B's neighbour entry for the node's own address is %s at %v, want REACHABLE at %v", neighState(state), mac, f.A.HW)
	}
	// The node's side: the requests arrive, the replies leave.
	var asked, replied bool
	for _, c := range onA.Since(tried) {
		asked = asked || (c.Kind == neigh.ARPRequest && c.TargetIP == ip && c.SrcHW.String() == f.B.HW.String())
		replied = replied || (c.Kind == neigh.ARPReply && c.SenderIP == ip && c.SrcHW.String() == f.A.HW.String())
	}
	if !asked || !replied {
		t.Errorf("on the node: the client's ARP request for %s seen: %v, the node's reply seen: %v; want both", ip, asked, replied)
	}

	// The address allowed: the client's next attempt reaches it.
	portFilter(t, nft, f.B.Netns, f.B.Link, "delete table netdev port")
	var err error
	for i := 0; i < 5; i++ { // the entry may still be FAILED for a moment
		if err = dialFromB(f, ip); errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("a connection to %s once allowed: %v, want refused (reached)", ip, err)
	}
	if _, mac := neighbour(t, f.B, ip); mac.String() != f.A.HW.String() {
		t.Errorf("B finds %s at %v once allowed, want the node's %v", ip, mac, f.A.HW)
	}
}

// portFilter runs nft commands in netns; the rules go with the namespace.
func portFilter(t *testing.T, nft, netns, link string, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		out, err := exec.Command("ip", append([]string{"netns", "exec", netns, nft}, strings.Fields(c)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %s on %s: %v: %s", c, link, err, out)
		}
	}
}

var errTimeout = errors.New("timed out")

// dialFromB opens a TCP connection from B to ip on a port nobody listens
// on: refused means the address was reached; a time-out, that nothing
// answered.
func dialFromB(f *fixture, ip netip.Addr) error {
	return f.B.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(ip, 9).String(), time.Second)
		if err == nil {
			c.Close()
			return errors.New("connected: something listens on port 9")
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errTimeout
		}
		return err
	})
}

func neighState(s int) string {
	if s == 0 {
		return "absent"
	}
	names := []struct {
		bit  int
		name string
	}{{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"}}
	var out []string
	for _, n := range names {
		if s&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, "|")
}
