package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/internal/sniff"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// vipAddrs returns the lab's test VIPs: host .100 of each family.
func vipAddrs(l *lab.Lab) (v4, v6 netip.Addr) {
	a4 := l.Subnet().Addr().As4()
	a4[3] = 100
	a6 := l.Subnet6().Addr().As16()
	a6[14] = 0x01 // ::100: the lab writes host numbers' decimal digits
	return netip.AddrFrom4(a4), netip.AddrFrom16(a6)
}

// TestVIPFailover is the vip agent's acceptance in a real cluster: pcs
// accepts it, a group of an IPv4 VIP, an IPv6 VIP and a web server serves
// the client, and when the active node is killed the group moves and the
// client's neighbour table follows the gratuitous announcement, not a
// request of its own.
func TestVIPFailover(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	v4, v6 := vipAddrs(l)

	out, err := l.Exec(ctx, "node1", "pcs", "resource", "describe", "ocf:vnfha:vip")
	if err != nil {
		t.Fatalf("pcs resource describe: %v\n%s", err, out)
	}
	for _, want := range []string{"ocf:vnfha:vip", "ip (required)", "cidr_netmask", "conflict_check", "network_namespace"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pcs resource describe lacks %q:\n%s", want, out)
		}
	}
	for _, create := range [][]string{
		{"pcs", "resource", "create", "vip4", "ocf:vnfha:vip", "ip=" + v4.String(), "op", "monitor", "interval=1s", "--group", "web"},
		{"pcs", "resource", "create", "vip6", "ocf:vnfha:vip", "ip=" + v6.String(), "op", "monitor", "interval=1s", "--group", "web"},
		// python3 comes with pcs. Bound to ::, it serves both VIPs; the
		// group keeps it with them.
		{"pcs", "resource", "create", "httpd", "ocf:heartbeat:anything", "binfile=/usr/bin/python3",
			"cmdline_options=-m http.server --bind :: --directory /usr/share/doc 8080", "op", "monitor", "interval=1s", "--group", "web"},
	} {
		if out, err := l.Exec(ctx, "node1", create...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(create, " "), err, out)
		}
	}
	active := waitGroup(t, l, "node1", "")

	urls := []string{"http://" + netip.AddrPortFrom(v4, 8080).String() + "/", "http://" + netip.AddrPortFrom(v6, 8080).String() + "/"}
	get := clientGetter(l)
	for _, u := range urls {
		labtest.Eventually(t, 20*time.Second, 200*time.Millisecond, "client reaches "+u, func() (bool, string) {
			err := get(ctx, u)
			return err == nil, fmt.Sprint(err)
		})
	}
	clientIf, clientMAC := linkOf(t, l, lab.ClientName)
	oldMAC := macOf(t, l, active)
	for _, ip := range []netip.Addr{v4, v6} {
		if got := clientNeighbour(t, l, clientIf, ip); !bytes.Equal(got, oldMAC) {
			t.Fatalf("client's neighbour entry for %s is %v before the failover, want %s's %v", ip, got, active, oldMAC)
		}
	}

	// The client keeps using the service through the failover.
	sn := sniff.Start(t, func(f func() error) error { return l.InNetns(lab.ClientName, f) }, clientIf, "eth0")
	loopCtx, stopLoop := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		tries []error
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 600; i++ { // 2 minutes at most
			for _, u := range urls {
				err := get(loopCtx, u)
				mu.Lock()
				tries = append(tries, err)
				mu.Unlock()
			}
			select {
			case <-loopCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	killed := time.Now()
	if err := l.Kill(active); err != nil {
		t.Fatal(err)
	}
	survivor := "node1"
	if active == "node1" {
		survivor = "node2"
	}
	moved := waitGroup(t, l, survivor, active)
	for _, u := range urls {
		labtest.Eventually(t, 30*time.Second, 200*time.Millisecond, "client reaches "+u+" on "+moved, func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			n := len(tries)
			return n >= 2 && tries[n-1] == nil && tries[n-2] == nil, fmt.Sprintf("last tries: %v", tries[max(0, n-4):])
		})
	}
	stopLoop()
	wg.Wait()
	t.Logf("group moved from %s to %s; the client's %d requests resumed", active, moved, len(tries))

	newMAC := macOf(t, l, moved)
	caps := sn.Since(killed)
	for _, ip := range []netip.Addr{v4, v6} {
		if got := clientNeighbour(t, l, clientIf, ip); !bytes.Equal(got, newMAC) {
			t.Errorf("client's neighbour entry for %s is %v after the failover, want %s's %v", ip, got, moved, newMAC)
		}
		var announced time.Time
		for _, c := range caps {
			if c.Gratuitous && c.TargetIP == ip && bytes.Equal(c.SrcHW, newMAC) {
				announced = c.At
				break
			}
		}
		if announced.IsZero() {
			t.Errorf("no gratuitous announcement of %s from %s seen by the client", ip, moved)
			continue
		}
		// Had the client resolved the address itself, it would have asked
		// the whole link (broadcast ARP, or multicast solicitation); its
		// unicast probes go to the old MAC and cannot teach it the new one.
		for _, c := range caps {
			if c.At.Before(announced) && bytes.Equal(c.SrcHW, clientMAC) && c.TargetIP == ip && isResolution(c.Frame) {
				t.Errorf("the client asked the link for %s at %s, before the announcement at %s: %+v",
					ip, c.At.Format(time.StampMilli), announced.Format(time.StampMilli), c.Frame)
			}
		}
		t.Logf("%s: announced by %s %.2fs after the kill", ip, moved, announced.Sub(killed).Seconds())

		// The rest come from the announcer, which must outlive the start
		// that Pacemaker ran: arp_count (5) rounds, each a gratuitous
		// request and reply for IPv4 (arp_mode=both), one NA for IPv6.
		want := 5
		if ip.Is4() {
			want = 10
		}
		labtest.Eventually(t, 10*time.Second, 100*time.Millisecond, fmt.Sprintf("%d announcements of %s from %s", want, ip, moved), func() (bool, string) {
			n := 0
			for _, c := range sn.Since(killed) {
				if c.Gratuitous && c.TargetIP == ip && bytes.Equal(c.SrcHW, newMAC) {
					n++
				}
			}
			return n >= want, fmt.Sprintf("%d seen", n)
		})
	}
}

// isResolution reports whether a frame from the client asks the whole link
// who holds an address.
func isResolution(f neigh.Frame) bool {
	switch f.Kind {
	case neigh.ARPRequest:
		return bytes.Equal(f.DstHW, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	case neigh.NeighborSolicitation:
		return len(f.DstHW) == 6 && f.DstHW[0] == 0x33 && f.DstHW[1] == 0x33
	}
	return false
}

// waitGroup waits until every resource of the group web runs on one node
// other than avoid, as seen from node from, and returns that node.
func waitGroup(t *testing.T, l *lab.Lab, from, avoid string) string {
	t.Helper()
	ctx := labtest.Context(t)
	c := crmwrap.New(l.Runner(from))
	var on string
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "group web started", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		nodes := map[string]int{}
		for _, i := range st.Instances() {
			if i.Group == "web" && i.Active && i.Role == "Started" && len(i.Nodes) == 1 {
				nodes[i.Nodes[0].Name]++
			}
		}
		for n, count := range nodes {
			if count == 3 && n != avoid {
				on = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("started per node: %v; failures: %+v", nodes, st.Failures)
	})
	return on
}

// clientGetter returns a function that fetches a URL from the client
// namespace, with a short timeout and no connection reuse, as a new user
// would.
func clientGetter(l *lab.Lab) func(ctx context.Context, url string) error {
	get := clientFetcher(l)
	return func(ctx context.Context, url string) error {
		_, err := get(ctx, url)
		return err
	}
}

// clientFetcher is clientGetter returning the body of a 200 answer (at
// most 64 KiB of it).
func clientFetcher(l *lab.Lab) func(ctx context.Context, url string) (string, error) {
	hc := &http.Client{
		Timeout: time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return l.Dial(ctx, lab.ClientName, network, addr)
			},
		},
	}
	return func(ctx context.Context, url string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return string(b), err
	}
}

// linkOf returns the index and MAC of a lab member's eth0.
func linkOf(t *testing.T, l *lab.Lab, member string) (int, net.HardwareAddr) {
	t.Helper()
	var idx int
	var mac net.HardwareAddr
	err := l.InNetns(member, func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		idx, mac = link.Attrs().Index, link.Attrs().HardwareAddr
		return nil
	})
	if err != nil {
		t.Fatalf("eth0 of %s: %v", member, err)
	}
	return idx, mac
}

func macOf(t *testing.T, l *lab.Lab, member string) net.HardwareAddr {
	t.Helper()
	_, mac := linkOf(t, l, member)
	return mac
}

// clientNeighbour returns the MAC the client's neighbour table holds for ip.
func clientNeighbour(t *testing.T, l *lab.Lab, ifindex int, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	err := l.InNetns(lab.ClientName, func() error {
		ns, err := netlink.NeighList(ifindex, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.IP.Equal(ip.AsSlice()) {
				mac = n.HardwareAddr
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client neighbours: %v", err)
	}
	return mac
}

// TestVIPConflict: an address some other host already holds is never
// taken: start fails on every node with a reason that names the holder.
func TestVIPConflict(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2})
	ctx := labtest.Context(t)
	v4, v6 := vipAddrs(l)
	_, clientMAC := linkOf(t, l, lab.ClientName)
	err := l.InNetns(lab.ClientName, func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, p := range []string{v4.String() + "/24", v6.String() + "/64"} {
			a, _ := netlink.ParseAddr(p)
			// Held, not tentative: a tentative IPv6 address answers no
			// probe (and would itself fail DAD on ours).
			a.Flags = unix.IFA_F_NODAD
			if err := netlink.AddrAdd(link, a); err != nil {
				return fmt.Errorf("add %s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client takes the VIPs: %v", err)
	}
	for _, rsc := range []struct{ id, ip string }{{"vip4", v4.String()}, {"vip6", v6.String()}} {
		if out, err := l.Exec(ctx, "node1", "pcs", "resource", "create", rsc.id, "ocf:vnfha:vip", "ip="+rsc.ip); err != nil {
			t.Fatalf("create %s: %v\n%s", rsc.id, err, out)
		}
	}
	c := crmwrap.New(l.Runner("node1"))
	labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "start refused on both nodes for both VIPs", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		refused := 0
		for _, f := range st.Failures {
			if strings.Contains(f.OpKey, "_start_") && f.ExitStatus == "error" &&
				strings.Contains(f.ExitReason, "another host ("+clientMAC.String()+") already holds") {
				refused++
			}
		}
		for _, i := range st.Instances() {
			if (i.ID == "vip4" || i.ID == "vip6") && i.Active {
				return false, fmt.Sprintf("%s is active on %v despite the conflict", i.ID, i.NodeNames())
			}
		}
		return refused == 4, fmt.Sprintf("%d refusals: %+v", refused, st.Failures)
	})
}
