package nstest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestPair checks what NewPair promises, and that its cleanup leaves the
// test's own namespace as it found it.
func TestPair(t *testing.T) {
	RequireRoot(t)
	before := RootLinks(t)
	var names []string
	t.Run("pair", func(t *testing.T) {
		p := NewPair(t)
		names = []string{p.A.Netns, p.B.Netns}
		for _, s := range []*Side{p.A, p.B} {
			for _, n := range names {
				if _, err := os.Stat(filepath.Join(netnsDir, n)); err != nil {
					t.Errorf("netns %s: %v", n, err)
				}
			}
			checkSide(t, s)
		}
		if p.A.HW.String() == p.B.HW.String() {
			t.Errorf("both sides have HW %s", p.A.HW)
		}
		for _, network := range []string{"tcp4", "tcp6"} {
			t.Run(network, func(t *testing.T) { checkTCP(t, p, network) })
		}
	})
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(netnsDir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netns %s still there after cleanup (stat: %v)", n, err)
		}
	}
	if after := RootLinks(t); !slices.Equal(before, after) {
		t.Errorf("links of the root namespace changed:\nbefore %v\nafter  %v", before, after)
	}
}

// checkSide checks a side's link, addresses and its lo from inside its
// namespace.
func checkSide(t *testing.T, s *Side) {
	t.Helper()
	h := s.Handle(t)
	l, err := h.LinkByName(s.Link)
	if err != nil {
		t.Fatalf("%s: %v", s.Netns, err)
	}
	if got := l.Attrs().Index; got != s.Index {
		t.Errorf("%s: index %d, Side says %d", s.Netns, got, s.Index)
	}
	if got := l.Attrs().HardwareAddr.String(); got != s.HW.String() {
		t.Errorf("%s: HW %s, Side says %s", s.Netns, got, s.HW)
	}
	if l.Attrs().OperState != netlink.OperUp {
		t.Errorf("%s: %s is %v", s.Netns, s.Link, l.Attrs().OperState)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("%s: %v", s.Netns, err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s: lo is down", s.Netns)
	}
	tests := []struct {
		family int
		want   netip.Prefix
		nodad  bool
	}{
		{netlink.FAMILY_V4, s.Addr4, false},
		{netlink.FAMILY_V6, s.Addr6, true},
	}
	for _, tt := range tests {
		addrs, err := h.AddrList(l, tt.family)
		if err != nil {
			t.Fatalf("%s: %v", s.Netns, err)
		}
		found := false
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			bits, _ := a.Mask.Size()
			if netip.PrefixFrom(ip.Unmap(), bits) != tt.want {
				continue
			}
			found = true
			if tt.nodad && a.Flags&unix.IFA_F_NODAD == 0 {
				t.Errorf("%s: %s lacks IFA_F_NODAD (flags %#x)", s.Netns, tt.want, a.Flags)
			}
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				t.Errorf("%s: %s is tentative", s.Netns, tt.want)
			}
		}
		if !found {
			t.Errorf("%s: %s missing from %s (have %v)", s.Netns, tt.want, s.Link, addrs)
		}
	}
}

// checkTCP connects from A to B over one family, both sockets opened in
// their namespaces, and echoes a line.
func checkTCP(t *testing.T, p *Pair, network string) {
	t.Helper()
	addrB := p.B.Addr4.Addr()
	if network == "tcp6" {
		addrB = p.B.Addr6.Addr()
	}
	var ln net.Listener
	err := p.B.Do(func() (err error) {
		ln, err = net.Listen(network, netip.AddrPortFrom(addrB, 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		served <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c net.Conn
	err = p.A.Do(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	if want := p.A.Addr4.Addr(); network == "tcp4" && local != want {
		t.Errorf("connection from %s, want %s", local, want)
	}
	if want := p.A.Addr6.Addr(); network == "tcp6" && local != want {
		t.Errorf("connection from %s, want %s", local, want)
	}
	const msg = "hello\n"
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Errorf("echo %q, want %q", buf, msg)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Errorf("server: %v", err)
	}
}

// TestDo checks that Do really switches namespaces, gives back f's error
// and panic, and leaves the caller where it was.
func TestDo(t *testing.T) {
	RequireRoot(t)
	p := NewPair(t)
	inode := func() (uint64, error) {
		var st unix.Stat_t
		err := unix.Stat("/proc/thread-self/ns/net", &st)
		return st.Ino, err
	}
	self, err := inode()
	if err != nil {
		t.Fatal(err)
	}
	var inA, inB uint64
	if err := p.A.Do(func() (err error) { inA, err = inode(); return err }); err != nil {
		t.Fatal(err)
	}
	if err := p.B.Do(func() (err error) { inB, err = inode(); return err }); err != nil {
		t.Fatal(err)
	}
	if inA == self || inB == self || inA == inB {
		t.Errorf("namespaces: self %d, A %d, B %d; want three different", self, inA, inB)
	}
	sentinel := errors.New("sentinel")
	if err := p.A.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want f's error", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want f's panic", v)
			}
		}()
		_ = p.A.Do(func() error { panic("boom") })
	}()
	if now, err := inode(); err != nil || now != self {
		t.Errorf("caller now in netns %d (%v), want %d", now, err, self)
	}
}
