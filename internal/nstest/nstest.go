// Package nstest gives tests throwaway network namespaces: two of them
// joined by a veth pair, with addresses of both families, removed by
// t.Cleanup even when the test fails. Nothing is added to the namespace the
// test runs in.
package nstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vnfha/vnfha/internal/netnsrun"
	"github.com/vnfha/vnfha/internal/testenv"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces are bind-mounted, as
// `ip netns` does, so a failed test's leftovers can be seen and removed
// with the usual tools.
const netnsDir = "/run/netns"

// LinkName is the name of each side's end of the veth pair. Both ends have
// the same name: they live in different namespaces.
const LinkName = "veth0"

// The addresses of the pair. They are from the benchmarking ranges (RFC 2544
// and RFC 5180), which no real network routes, so a test that leaks a frame
// cannot reach anything.
var (
	addr4A = netip.MustParsePrefix("198.19.255.1/24")
	addr4B = netip.MustParsePrefix("198.19.255.2/24")
	addr6A = netip.MustParsePrefix("2001:2:0:ffff::1/64")
	addr6B = netip.MustParsePrefix("2001:2:0:ffff::2/64")
)

// The MAC addresses of the pair: fixed, locally administered, so frames
// recorded in one run compare equal with those of the next.
var (
	hwA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	hwB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// seq makes namespace names unique within the test binary; the pid makes
// them unique between binaries that run at once (go test runs packages in
// parallel).
var seq atomic.Uint32

// Pair is two throwaway network namespaces joined by a veth pair.
type Pair struct{ A, B *Side }

// Side is one namespace of a Pair and its end of the veth pair.
type Side struct {
	// Netns is the namespace's name under /run/netns.
	Netns string
	// Link is the name of the veth end in this namespace (LinkName).
	Link string
	// Index is the veth end's interface index in this namespace.
	Index int
	// HW is the veth end's MAC address: 02:00:00:00:00:0a on A and
	// 02:00:00:00:00:0b on B.
	HW net.HardwareAddr
	// Addr4 is the IPv4 address on the veth end: 198.19.255.1/24 on A,
	// 198.19.255.2/24 on B.
	Addr4 netip.Prefix
	// Addr6 is the IPv6 address on the veth end: 2001:2:0:ffff::1/64 on A,
	// 2001:2:0:ffff::2/64 on B. It is added with IFA_F_NODAD, so it is
	// usable at once rather than after duplicate address detection.
	Addr6 netip.Prefix
}

// RequireRoot skips a test that needs root, or fails it when CI=true: CI
// runs as root, so a skip there would hide a broken set-up.
func RequireRoot(t testing.TB) {
	t.Helper()
	testenv.Root(t)
}

// NewPair makes two network namespaces with lo up and joined by a veth pair
// that is up and addressed on both sides, and returns once both ends have a
// carrier. t.Cleanup deletes both namespaces, which deletes the veth pair
// with them. It needs root (see RequireRoot) and fails the test on error.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	n := seq.Add(1)
	p := &Pair{
		A: &Side{
			Netns: fmt.Sprintf("vnfha-t-%d-%da", os.Getpid(), n),
			Link:  LinkName, HW: hwA, Addr4: addr4A, Addr6: addr6A,
		},
		B: &Side{
			Netns: fmt.Sprintf("vnfha-t-%d-%db", os.Getpid(), n),
			Link:  LinkName, HW: hwB, Addr4: addr4B, Addr6: addr6B,
		},
	}
	for _, s := range []*Side{p.A, p.B} {
		// Registered before the namespace exists, so that a half-made one
		// is removed too.
		t.Cleanup(func() {
			if err := deleteNetns(s.Netns); err != nil {
				t.Errorf("nstest: %v", err)
			}
		})
		if err := newNetns(s.Netns); err != nil {
			t.Fatalf("nstest: %v", err)
		}
	}
	if err := p.link(); err != nil {
		t.Fatalf("nstest: %v", err)
	}
	for _, s := range []*Side{p.A, p.B} {
		if err := s.configure(); err != nil {
			t.Fatalf("nstest: %v", err)
		}
	}
	for _, s := range []*Side{p.A, p.B} {
		if err := s.waitCarrier(5 * time.Second); err != nil {
			t.Fatalf("nstest: %v", err)
		}
	}
	return p
}

// newNetns creates a named namespace. Creating one moves the calling
// thread into it, so this happens on a locked thread that is moved back.
func newNetns(name string) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// Keep the thread locked: the runtime ends it with this goroutine
		// (the test's), instead of lending a thread in the wrong namespace
		// to other goroutines.
		return fmt.Errorf("return from netns %s: %w", name, serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return h.Close()
}

// deleteNetns removes a named namespace, and whatever NewNamed left of it
// if it failed half-way (the file without the bind mount).
func deleteNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// withHandle runs f with a netlink handle whose socket lives in the named
// namespace.
func withHandle(name string, f func(*netlink.Handle) error) error {
	h, err := handleAt(name)
	if err != nil {
		return err
	}
	defer h.Close()
	return f(h)
}

func handleAt(name string) (*netlink.Handle, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in netns %s: %w", name, err)
	}
	return h, nil
}

// link creates the veth pair from inside A with its peer created straight
// in B, so it never appears in the test's own namespace.
func (p *Pair) link() error {
	nsB, err := netns.GetFromName(p.B.Netns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", p.B.Netns, err)
	}
	defer nsB.Close()
	return withHandle(p.A.Netns, func(h *netlink.Handle) error {
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: p.A.Link, HardwareAddr: p.A.HW},
			PeerName:         p.B.Link,
			PeerHardwareAddr: p.B.HW,
			PeerNamespace:    netlink.NsFd(int(nsB)),
		}
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth pair %s/%s: %w", p.A.Netns, p.B.Netns, err)
		}
		return nil
	})
}

// configure sets lo and the veth end up and adds the side's addresses.
func (s *Side) configure() error {
	return withHandle(s.Netns, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo in %s: %w", s.Netns, err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up in %s: %w", s.Netns, err)
		}
		l, err := h.LinkByName(s.Link)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", s.Link, s.Netns, err)
		}
		s.Index = l.Attrs().Index
		for _, p := range []netip.Prefix{s.Addr4, s.Addr6} {
			a := &netlink.Addr{IPNet: &net.IPNet{
				IP:   p.Addr().AsSlice(),
				Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
			}}
			if p.Addr().Is6() {
				a.Flags = unix.IFA_F_NODAD
			}
			if err := h.AddrAdd(l, a); err != nil {
				return fmt.Errorf("add %s to %s in %s: %w", p, s.Link, s.Netns, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up in %s: %w", s.Link, s.Netns, err)
		}
		return nil
	})
}

// waitCarrier waits until the veth end is operationally up: before that
// the kernel drops what is sent on it.
func (s *Side) waitCarrier(limit time.Duration) error {
	return withHandle(s.Netns, func(h *netlink.Handle) error {
		end := time.Now().Add(limit)
		for {
			l, err := h.LinkByIndex(s.Index)
			if err != nil {
				return fmt.Errorf("find %s in %s: %w", s.Link, s.Netns, err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				return nil
			}
			if time.Now().After(end) {
				return fmt.Errorf("%s in %s not up after %v (state %v)", s.Link, s.Netns, limit, l.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Handle returns a netlink handle whose socket lives in s's namespace, so
// every request through it acts there. It is closed at cleanup.
func (s *Side) Handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := handleAt(s.Netns)
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// Do runs f on an OS thread switched into s's namespace, and waits for it
// (see netnsrun.Run). Sockets f opens belong to that namespace for their
// whole life. f runs on a goroutine of its own, so it must report failure
// by its error, not by t.Fatal.
func (s *Side) Do(f func() error) error {
	target, err := netns.GetFromName(s.Netns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", s.Netns, err)
	}
	defer target.Close()
	return netnsrun.Run(target, f)
}

// RootLinks lists, sorted, the names of the links in the calling thread's
// network namespace: the root one for a test's own goroutines. Tests take it
// before and after to show that nothing was added there.
func RootLinks(t testing.TB) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}
