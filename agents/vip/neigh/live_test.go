package neigh

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/nstest"
)

// Addresses no side of the pair holds.
var (
	freeIPv4 = netip.MustParseAddr("198.19.255.99")
	freeIPv6 = netip.MustParseAddr("2001:2:0:ffff::99")
)

// openConn opens a Conn on a side's veth end, inside its namespace.
func openConn(t *testing.T, s *nstest.Side) *Conn {
	t.Helper()
	var c *Conn
	if err := s.Do(func() (err error) { c, err = Open(s.Index); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProbeLive(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	conn := openConn(t, p.A)
	const wait = 600 * time.Millisecond
	tests := []struct {
		name  string
		ip    netip.Addr
		count int
		want  net.HardwareAddr
	}{
		{"held IPv4", p.B.Addr4.Addr(), 3, p.B.HW},
		{"held IPv6", p.B.Addr6.Addr(), 3, p.B.HW},
		{"held IPv4 one probe", p.B.Addr4.Addr(), 1, p.B.HW},
		{"held IPv6 one probe", p.B.Addr6.Addr(), 1, p.B.HW},
		{"free IPv4", freeIPv4, 3, nil},
		{"free IPv6", freeIPv6, 3, nil},
		{"free IPv6 one probe", freeIPv6, 1, nil},
		// Our own address: the kernel does not answer itself, and what
		// we send is not seen.
		{"own IPv4", p.A.Addr4.Addr(), 2, nil},
		{"own IPv6", p.A.Addr6.Addr(), 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			start := time.Now()
			got, err := conn.Probe(context.Background(), tt.ip, p.A.HW, tt.count, wait)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Probe(%s) = %s, want %s", tt.ip, got, tt.want)
			}
			if tt.want != nil && took >= wait {
				t.Errorf("took %v to find the holder; want it at the first answer", took)
			}
			if tt.want == nil && (took < wait || took > wait+500*time.Millisecond) {
				t.Errorf("took %v, want about %v", took, wait)
			}
			if n := runtime.NumGoroutine(); n > goroutines {
				t.Errorf("%d goroutines after Probe, %d before", n, goroutines)
			}
		})
	}
}

// TestProbeCount checks, from B, that Probe sends count probes spread
// evenly over wait, the first at once.
func TestProbeCount(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	conn := openConn(t, p.A)
	snif := openSniffer(t, p.B)
	const wait = 900 * time.Millisecond
	tests := []struct {
		ip    netip.Addr
		count int
	}{
		{freeIPv4, 1},
		{freeIPv4, 3},
		{freeIPv6, 3},
	}
	for _, tt := range tests {
		snif.drain(t)
		seen := make(chan []time.Duration, 1)
		start := time.Now()
		go func() {
			seen <- snif.times(start, start.Add(wait+200*time.Millisecond), func(f Frame, src net.HardwareAddr) bool {
				return bytes.Equal(src, p.A.HW) && f.TargetIP == tt.ip
			})
		}()
		if _, err := conn.Probe(context.Background(), tt.ip, p.A.HW, tt.count, wait); err != nil {
			t.Fatal(err)
		}
		got := <-seen
		if len(got) != tt.count {
			t.Errorf("%s: probes at %v, want %d", tt.ip, got, tt.count)
			continue
		}
		for i, at := range got {
			want := wait * time.Duration(i) / time.Duration(tt.count)
			if d := at - want; d < -20*time.Millisecond || d > 150*time.Millisecond {
				t.Errorf("%s: probe %d at %v, want about %v", tt.ip, i+1, at, want)
			}
		}
	}
}

// times returns when, after start, the sniffer saw frames want accepts,
// until the deadline. It runs beside the code under test, so it reports
// failure by returning nothing.
func (s *sniffer) times(start, deadline time.Time, want func(Frame, net.HardwareAddr) bool) []time.Duration {
	if err := s.pc.SetReadDeadline(deadline); err != nil {
		return nil
	}
	var at []time.Duration
	buf := make([]byte, 1<<14)
	for {
		n, _, err := s.pc.ReadFrom(buf)
		if err != nil {
			return at
		}
		if f, src, err := parse(buf[:n]); err == nil && want(f, src) {
			at = append(at, time.Since(start))
		}
	}
}

// TestProbeSimultaneous has B probe for a free address while A probes for
// it: A must take B's probe for a conflict (RFC 5227 section 2.1.1, RFC 4862
// section 5.4.3). B's probe is sent raw, once A surely listens: a real
// prober stops at the first conflict, so two real Probes find each other
// only if their first probes cross.
func TestProbeSimultaneous(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	connA, connB := openConn(t, p.A), openConn(t, p.B)
	for _, ip := range []netip.Addr{freeIPv4, freeIPv6} {
		t.Run(ip.String(), func(t *testing.T) {
			probe, err := probeFrame(ip, p.B.HW)
			if err != nil {
				t.Fatal(err)
			}
			sent := make(chan error, 1)
			time.AfterFunc(200*time.Millisecond, func() { sent <- connB.Send([][]byte{probe}) })
			got, err := connA.Probe(context.Background(), ip, p.A.HW, 3, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, p.B.HW) {
				t.Errorf("A found %s, want B's %s", got, p.B.HW)
			}
		})
	}
}

func TestProbeContext(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	conn := openConn(t, p.A)
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			got, err := conn.Probe(ctx, freeIPv4, p.A.HW, 3, 10*time.Second)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("Probe = %s, %v; want %v", got, err, tt.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v after the context ended at 200ms", took)
			}
		})
	}
	// The Conn is usable after an interrupted Probe.
	got, err := conn.Probe(context.Background(), p.B.Addr4.Addr(), p.A.HW, 1, time.Second)
	if err != nil || !bytes.Equal(got, p.B.HW) {
		t.Errorf("Probe after cancel = %s, %v; want %s", got, err, p.B.HW)
	}
}

func TestProbeErrors(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	conn := openConn(t, p.A)
	tests := []struct {
		name  string
		ip    netip.Addr
		hw    net.HardwareAddr
		count int
	}{
		{"no probes", freeIPv4, p.A.HW, 0},
		{"no address", netip.Addr{}, p.A.HW, 1},
		{"bad MAC", freeIPv4, p.A.HW[:4], 1},
	}
	for _, tt := range tests {
		if _, err := conn.Probe(context.Background(), tt.ip, tt.hw, tt.count, time.Second); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := Open(1 << 30); err == nil {
		t.Error("Open of a missing interface: no error")
	}
}

// TestAnnouncementLive checks that an announcement from A makes B's kernel
// replace the MAC of an entry it already has, for each mode and for each
// way of sending: Send, SendFile, and a child process that inherited File.
func TestAnnouncementLive(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	conn := openConn(t, p.A)
	hb := p.B.Handle(t)
	stale := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	vip4 := netip.MustParseAddr("198.19.255.10")
	vip6 := netip.MustParseAddr("2001:2:0:ffff::10")

	file, err := conn.File()
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	senders := []struct {
		name string
		send func(frames [][]byte) error
	}{
		{"Send", conn.Send},
		{"SendFile", func(frames [][]byte) error { return SendFile(file, frames) }},
		{"write", func(frames [][]byte) error {
			for _, f := range frames {
				if _, err := unix.Write(int(file.Fd()), f); err != nil {
					return err
				}
			}
			return nil
		}},
		{"child", func(frames [][]byte) error { return sendFromChild(file, frames) }},
	}
	cases := []struct {
		ip   netip.Addr
		mode Mode
	}{
		{vip4, ModeBoth},
		{vip4, ModeRequest},
		{vip4, ModeReply},
		{vip6, ModeBoth},
	}
	for _, s := range senders {
		for _, c := range cases {
			name := s.name + "/" + c.ip.String()
			if c.ip.Is4() {
				name += "/" + c.mode.String()
			}
			t.Run(name, func(t *testing.T) {
				// B learnt the address with a wrong MAC just now. Linux
				// ignores a changed MAC within locktime (1 s) of the last
				// update unless the ARP packet is gratuitous, so this also
				// checks that B's kernel takes ours for gratuitous: no
				// waiting past locktime here on purpose.
				setNeigh(t, hb, p.B.Index, c.ip, stale)
				frames, err := Announcement(c.ip, p.A.HW, c.mode)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.send(frames); err != nil {
					t.Fatal(err)
				}
				waitNeigh(t, hb, p.B.Index, c.ip, p.A.HW)
			})
		}
	}
}

// setNeigh makes a side's kernel hold ip at hw, as a stale entry learnt
// earlier.
func setNeigh(t *testing.T, h *netlink.Handle, index int, ip netip.Addr, hw net.HardwareAddr) {
	t.Helper()
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	err := h.NeighSet(&netlink.Neigh{
		LinkIndex: index, Family: family, State: netlink.NUD_STALE,
		IP: ip.AsSlice(), HardwareAddr: hw,
	})
	if err != nil {
		t.Fatalf("set neighbour %s: %v", ip, err)
	}
	waitNeigh(t, h, index, ip, hw)
}

// waitNeigh waits up to 2 s for the kernel's entry for ip to hold hw.
func waitNeigh(t *testing.T, h *netlink.Handle, index int, ip netip.Addr, hw net.HardwareAddr) {
	t.Helper()
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	var last []netlink.Neigh
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		entries, err := h.NeighList(index, family)
		if err != nil {
			t.Fatal(err)
		}
		last = entries
		for _, e := range entries {
			if a, _ := netip.AddrFromSlice(e.IP); a.Unmap() == ip && bytes.Equal(e.HardwareAddr, hw) {
				return
			}
		}
	}
	t.Errorf("neighbour %s never became %s; entries: %v", ip, hw, last)
}

// childEnv carries, hex-encoded and comma-separated, the frames the child
// writes to its inherited descriptor 3.
const childEnv = "VNFHA_NEIGH_TEST_CHILD_FRAMES"

// sendFromChild runs this test binary as a child that writes frames to the
// socket it inherits, as the agent's announcer does.
func sendFromChild(f *os.File, frames [][]byte) error {
	var enc []string
	for _, fr := range frames {
		enc = append(enc, hex.EncodeToString(fr))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildWrite$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(enc, ","))
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	if !strings.Contains(string(out), "wrote") {
		return errors.New("child did not run: " + string(out))
	}
	return nil
}

// TestChildWrite is the child of sendFromChild; it does nothing in a
// normal run.
func TestChildWrite(t *testing.T) {
	env := os.Getenv(childEnv)
	if env == "" {
		t.Skip("only runs as the child of TestAnnouncementLive")
	}
	for _, h := range strings.Split(env, ",") {
		f, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		// Plain write(2), as a child that knows nothing of this package.
		if _, err := unix.Write(3, f); err != nil {
			t.Fatalf("write to fd 3: %v", err)
		}
	}
	os.Stdout.WriteString("wrote\n")
}
