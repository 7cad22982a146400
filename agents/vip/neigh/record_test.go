package neigh

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/nstest"
)

var record = flag.Bool("record", false, "record the kernel's frames into testdata/ (root): go test ./agents/vip/neigh -run TestRecord -record")

// Addresses and MACs the recorder adds to B, beside nstest's.
var (
	// recordDADAddr is added to B without IFA_F_NODAD, so B's kernel
	// probes for it.
	recordDADAddr = netip.MustParsePrefix("2001:2:0:ffff::20/64")
	// recordNewHW is the MAC B takes last, so that arp_notify and
	// ndisc_notify announce its addresses.
	recordNewHW = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c}
)

// TestRecord records, from a sniffer in A, how the Linux kernel in B
// speaks ARP and neighbour discovery, as the fixtures TestFixtures reads.
// The pair's addresses and MACs are fixed, so a new recording differs from
// the old only in what the kernel changed (and in the DAD nonce).
func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("records fixtures only with -record")
	}
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	a, b := p.A, p.B
	snif := openSniffer(t, a)
	var conn *Conn
	if err := a.Do(func() (err error) { conn, err = Open(a.Index); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hb := b.Handle(t)
	linkB, err := hb.LinkByIndex(b.Index)
	if err != nil {
		t.Fatal(err)
	}

	fromB := func(f Frame, ethSrc net.HardwareAddr) bool { return bytes.Equal(ethSrc, b.HW) }
	steps := []struct {
		name    string
		trigger func() error
		want    func(f Frame, ethSrc net.HardwareAddr) bool
	}{
		{
			// B resolves A: who-has A tell B.
			name:    "arp-request",
			trigger: func() error { return sendUDP(b, a.Addr4.Addr()) },
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == ARPRequest && f.TargetIP == a.Addr4.Addr()
			},
		},
		{
			// A resolves B; B answers by unicast.
			name:    "arp-reply",
			trigger: func() error { return sendUDP(a, b.Addr4.Addr()) },
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == ARPReply && f.SenderIP == b.Addr4.Addr()
			},
		},
		{
			name:    "ns",
			trigger: func() error { return sendUDP(b, a.Addr6.Addr()) },
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == NeighborSolicitation && f.TargetIP == a.Addr6.Addr()
			},
		},
		{
			name:    "na-solicited",
			trigger: func() error { return sendUDP(a, b.Addr6.Addr()) },
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == NeighborAdvertisement && f.TargetIP == b.Addr6.Addr()
			},
		},
		{
			// A probes for B's address the way Probe does.
			name:    "arp-reply-to-probe",
			trigger: func() error { return sendProbe(conn, b.Addr4.Addr(), a.HW) },
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == ARPReply && f.SenderIP == b.Addr4.Addr()
			},
		},
		{
			name:    "na-reply-to-dad",
			trigger: func() error { return sendProbe(conn, b.Addr6.Addr(), a.HW) },
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == NeighborAdvertisement && f.TargetIP == b.Addr6.Addr()
			},
		},
		{
			// B's own duplicate address detection.
			name: "ns-dad",
			trigger: func() error {
				return hb.AddrAdd(linkB, &netlink.Addr{IPNet: ipNet(recordDADAddr)})
			},
			want: func(f Frame, src net.HardwareAddr) bool {
				return fromB(f, src) && f.Kind == NeighborSolicitation && f.TargetIP == recordDADAddr.Addr()
			},
		},
		{
			// A new MAC with arp_notify and ndisc_notify on: the kernel
			// announces B's addresses by itself.
			name: "arp-notify",
			trigger: func() error {
				if err := b.Do(func() error {
					if err := writeSysctl("net/ipv4/conf/"+b.Link+"/arp_notify", "1"); err != nil {
						return err
					}
					return writeSysctl("net/ipv6/conf/"+b.Link+"/ndisc_notify", "1")
				}); err != nil {
					return err
				}
				return hb.LinkSetHardwareAddr(linkB, recordNewHW)
			},
			want: func(f Frame, src net.HardwareAddr) bool {
				return bytes.Equal(src, recordNewHW) && f.Kind == ARPRequest && f.Gratuitous && f.SenderIP == b.Addr4.Addr()
			},
		},
		{
			// Sent by the same change as arp-notify.
			name: "ndisc-notify",
			want: func(f Frame, src net.HardwareAddr) bool {
				return bytes.Equal(src, recordNewHW) && f.Kind == NeighborAdvertisement && f.TargetIP == b.Addr6.Addr()
			},
		},
	}
	ha := a.Handle(t)
	for _, s := range steps {
		if s.trigger != nil {
			// Each step starts from empty caches, so that the kernels
			// resolve afresh rather than use what an earlier step taught
			// them, and from an empty sniffer queue.
			flushNeigh(t, ha, a.Index)
			flushNeigh(t, hb, b.Index)
			snif.drain(t)
			if err := s.trigger(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		frame := snif.await(t, s.want)
		if frame == nil {
			t.Errorf("%s: no such frame from B", s.name)
			continue
		}
		path := filepath.Join("testdata", s.name+".bin")
		if err := os.WriteFile(path, frame, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: % x", path, frame)
	}
}

// sniffer reads every frame on A's link, with no filter, so that the
// recording does not depend on Conn's.
type sniffer struct{ pc *packet.Conn }

func openSniffer(t *testing.T, s *nstest.Side) *sniffer {
	t.Helper()
	var pc *packet.Conn
	err := s.Do(func() (err error) {
		pc, err = packet.Listen(&net.Interface{Index: s.Index}, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &sniffer{pc}
}

// await returns the first frame want accepts within 3 s, the longest
// Linux delays its duplicate address detection.
func (s *sniffer) await(t *testing.T, want func(Frame, net.HardwareAddr) bool) []byte {
	t.Helper()
	if err := s.pc.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<14)
	for {
		n, _, err := s.pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		f, src, err := parse(buf[:n])
		if err == nil && want(f, src) {
			return bytes.Clone(buf[:n])
		}
	}
}

// drain drops what the sniffer has queued.
func (s *sniffer) drain(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<14)
	for {
		if err := s.pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.pc.ReadFrom(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// flushNeigh deletes every neighbour entry of one link.
func flushNeigh(t *testing.T, h *netlink.Handle, index int) {
	t.Helper()
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		entries, err := h.NeighList(index, family)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := h.NeighDel(&e); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Fatalf("delete neighbour %s: %v", e.IP, err)
			}
		}
	}
}

// sendUDP sends a datagram from s to ip's discard port, which makes s's
// kernel resolve ip first.
func sendUDP(s *nstest.Side, ip netip.Addr) error {
	return s.Do(func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(ip, 9).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
}

func sendProbe(c *Conn, ip netip.Addr, hw net.HardwareAddr) error {
	f, err := probeFrame(ip, hw)
	if err != nil {
		return err
	}
	return c.Send([][]byte{f})
}

// writeSysctl writes a sysctl of the calling thread's network namespace.
func writeSysctl(name, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", name), []byte(value), 0o644)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
