package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/internal/sniff"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestVIPWatchReportsLoss is issue 10's point 2 in a real cluster: the
// VIP's address removed by hand ("ip addr del") on its node is recorded by
// Pacemaker as a failure at once, through the announcer's watch, and the
// VIP is recovered. The monitor runs every 120 s and the test gives the
// failure 30 s after the removal: only the watch can record it, and the
// failure is the injected asyncmon operation, not a monitor's. It also
// shows point 3's refresh from the lab's client: with arp_refresh=1s, the
// client hears the VIP announced every second while it is held.
func TestVIPWatchReportsLoss(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2})
	ctx := labtest.Context(t)
	v4, _ := vipAddrs(l)
	clientIf, _ := linkOf(t, l, lab.ClientName)
	sn := sniff.Start(t, func(f func() error) error { return l.InNetns(lab.ClientName, f) }, clientIf, "eth0")

	pcs(t, l, []string{"resource", "create", "wvip", "ocf:vnfha:vip", "ip=" + v4.String(), "cidr_netmask=24",
		"arp_count=1", "arp_refresh=1s", "op", "monitor", "interval=120s"})
	c := crmwrap.New(l.Runner("node1"))
	node := waitVIP(t, l, c, "wvip", "")
	// The start and its first monitor are over: the next monitor is
	// 120 s away.
	waitIdle(t, l)
	mac := macOf(t, l, node)

	// Point 3: refreshes, from the node that holds it, a second apart.
	since := time.Now()
	labtest.Eventually(t, 20*time.Second, 100*time.Millisecond, "three refreshes of "+v4.String()+" at the client", func() (bool, string) {
		n := 0
		for _, c := range sn.Since(since) {
			if c.Gratuitous && c.TargetIP == v4 && bytes.Equal(c.SrcHW, mac) {
				n++
			}
		}
		// arp_mode=both: a request and a reply each round.
		return n >= 6, fmt.Sprintf("%d frames", n)
	})

	if out, err := l.Exec(ctx, node, "ip", "addr", "del", v4.String()+"/24", "dev", "eth0"); err != nil {
		t.Fatalf("ip addr del: %v\n%s", err, out)
	}
	removed := time.Now()
	var failure crmmon.Failure
	labtest.Eventually(t, 30*time.Second, 20*time.Millisecond, "the loss of wvip on "+node+" recorded", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, f := range failuresOf(st, "wvip", node) {
			failure = f
			return true, ""
		}
		return false, fmt.Sprintf("failures %+v", st.Failures)
	})
	t.Logf("failure recorded within %s of the removal (crm_mon polled every 20 ms): %+v", time.Since(removed).Round(time.Millisecond), failure)
	// A monitor's failure would be "monitor"; the watch's report is
	// injected as Pacemaker's asyncmon.
	if failure.Task != "asyncmon" {
		t.Errorf("the failure is %q's, want the injected asyncmon: %+v", failure.Task, failure)
	}

	// Recovered: Pacemaker stopped and started it (here, on the same
	// node: the failure count is below migration-threshold), and the
	// address is back on a node's eth0.
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "wvip recovered", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		on := ""
		for _, i := range st.Instances() {
			if i.ID == "wvip" && i.Active && !i.Failed && i.Pending == "" && len(i.Nodes) == 1 {
				on = i.Nodes[0].Name
			}
		}
		if on == "" {
			return false, fmt.Sprintf("instances %+v", st.Instances())
		}
		held, err := holds(l, on, v4)
		return err == nil && held, fmt.Sprintf("active on %s, address held: %v %v", on, held, err)
	})

	// The node's log says what was lost and how it was reported: the
	// controller's IPC, not the crm_resource fallback.
	for _, want := range []string{
		"vip(wvip)",
		"ERROR: " + v4.String() + " was removed from eth0",
		"reported the failure of wvip on " + node + " to Pacemaker through the controller's IPC",
	} {
		out, _ := l.Exec(ctx, node, "grep", "-F", want, "/var/log/pacemaker/pacemaker.log")
		if !strings.Contains(string(out), want) {
			t.Errorf("the node's log lacks %q", want)
		}
	}
	out, _ := l.Exec(ctx, node, "grep", "-F", "vip(wvip)", "/var/log/pacemaker/pacemaker.log")
	t.Logf("%s's log:\n%s", node, out)
	pcs(t, l, []string{"resource", "delete", "wvip"})
}

// TestVIPReannouncesAfterLinkFlap is point 3's other half in a real
// cluster: the link of the node holding the VIP goes down and up (a
// switch-port flap, 300 ms, shorter than corosync's token), and the lab's
// client hears a fresh burst of announcements from that node after the
// link is back, without arp_refresh. check_link=false: with it, the flap
// would be reported as a loss instead.
func TestVIPReannouncesAfterLinkFlap(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2})
	ctx := labtest.Context(t)
	v4, _ := vipAddrs(l)
	clientIf, _ := linkOf(t, l, lab.ClientName)
	sn := sniff.Start(t, func(f func() error) error { return l.InNetns(lab.ClientName, f) }, clientIf, "eth0")

	pcs(t, l, []string{"resource", "create", "fvip", "ocf:vnfha:vip", "ip=" + v4.String(), "cidr_netmask=24",
		"arp_count=3", "arp_interval=100", "check_link=false", "op", "monitor", "interval=10s"})
	c := crmwrap.New(l.Runner("node1"))
	node := waitVIP(t, l, c, "fvip", "")
	waitIdle(t, l)
	mac := macOf(t, l, node)
	announced := func(since time.Time) int {
		n := 0
		for _, c := range sn.Since(since) {
			if c.Gratuitous && c.TargetIP == v4 && bytes.Equal(c.SrcHW, mac) {
				n++
			}
		}
		return n
	}
	// Start's burst is over: nothing more comes without a flap.
	quiet := time.Now()
	time.Sleep(time.Second)
	if n := announced(quiet); n != 0 {
		t.Fatalf("%d announcements of %s with no flap and no arp_refresh", n, v4)
	}

	if out, err := l.Exec(ctx, node, "sh", "-c", "ip link set eth0 down && sleep 0.3 && ip link set eth0 up"); err != nil {
		t.Fatalf("flap eth0 on %s: %v\n%s", node, err, out)
	}
	up := time.Now()
	// arp_mode=both: a request and a reply each round, arp_count rounds.
	labtest.Eventually(t, 10*time.Second, 50*time.Millisecond, "a burst of "+v4.String()+" after the flap", func() (bool, string) {
		n := announced(up)
		return n >= 6, fmt.Sprintf("%d frames", n)
	})
	// Nothing was reported: the resource has no failure, and still runs
	// where it ran.
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fs := failuresOf(st, "fvip", node); len(fs) != 0 {
		t.Errorf("a flap with check_link=false recorded failures: %+v", fs)
	}
	if on := waitVIP(t, l, c, "fvip", ""); on != node {
		t.Errorf("fvip moved from %s to %s", node, on)
	}
	pcs(t, l, []string{"resource", "delete", "fvip"})
}

// waitVIP waits until rsc runs on a node other than avoid, with no action
// pending, and returns that node.
func waitVIP(t *testing.T, l *lab.Lab, c *crmwrap.Client, rsc, avoid string) string {
	t.Helper()
	ctx := labtest.Context(t)
	var on string
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, rsc+" started", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		on = activeOn(st, rsc)
		return on != "" && on != avoid, fmt.Sprintf("on %q; failures %+v", on, st.Failures)
	})
	return on
}

// holds reports whether member's eth0 has ip.
func holds(l *lab.Lab, member string, ip netip.Addr) (bool, error) {
	held := false
	err := l.InNetns(member, func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range as {
			held = held || a.IP.Equal(ip.AsSlice())
		}
		return nil
	})
	return held, err
}
