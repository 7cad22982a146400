package vip

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/netnsrun"
	"github.com/vnfha/vnfha/ocf"
)

// host is the network the resource lives in: a netlink handle in the
// resource's network namespace (the agent's own unless network_namespace is
// set). Every method is one or two netlink requests; none forks.
type host struct {
	nl *netlink.Handle
	ns netns.NsHandle // netns.None() for the agent's own namespace
}

// openHost opens the network namespace r names (see nsRef.open) and a
// netlink handle in it.
func openHost(r nsRef) (*host, error) {
	ns, err := r.open()
	if err != nil {
		return nil, err
	}
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		if ns.IsOpen() {
			ns.Close()
		}
		return nil, ocf.Generic("open netlink in network namespace %s: %w", ocf.Quote(r.value), err)
	}
	return &host{nl: nl, ns: ns}, nil
}

func (h *host) Close() {
	h.nl.Close()
	if h.ns.IsOpen() {
		h.ns.Close()
	}
}

// do runs f on a thread inside the resource's network namespace, for what
// netlink handles cannot do: opening a packet socket.
func (h *host) do(f func() error) error {
	if !h.ns.IsOpen() {
		return f()
	}
	return netnsrun.Run(h.ns, f)
}

func family(ip netip.Addr) int {
	if ip.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// routes lists the main table's unicast routes of ip's family.
func (h *host) routes(ip netip.Addr) ([]route, error) {
	links, err := h.nl.LinkList()
	if err != nil {
		return nil, ocf.Generic("list links: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	rs, err := h.nl.RouteListFiltered(family(ip), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, ocf.Generic("list routes: %w", err)
	}
	var out []route
	for _, r := range rs {
		if r.Dst == nil || r.Type != unix.RTN_UNICAST || names[r.LinkIndex] == "" {
			continue
		}
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue
		}
		out = append(out, route{dst: dst, nic: names[r.LinkIndex], metric: r.Priority, onLink: r.Gw == nil && len(r.MultiPath) == 0})
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits).Masked(), true
}

// link returns the interface named nic. A missing interface is ErrArgs:
// it may exist on other nodes.
func (h *host) link(nic string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(nic)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, ocf.Errorf(ocf.ErrArgs, "nic %s does not exist on this node", nic)
		}
		return nil, ocf.Generic("find nic %s: %w", nic, err)
	}
	return l, nil
}

// downLinks names (at most three of) the links that are administratively
// down, for a message that would otherwise only say "no route".
func (h *host) downLinks() []string {
	links, err := h.nl.LinkList()
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range links {
		if a := l.Attrs(); a.Flags&(net.FlagUp|net.FlagLoopback) == 0 && len(out) < 3 {
			out = append(out, a.Name)
		}
	}
	return out
}

// held is ip as configured on one link.
type held struct {
	addr netlink.Addr
	link netlink.Link
}

func (a held) dadFailed() bool  { return a.addr.Flags&unix.IFA_F_DADFAILED != 0 }
func (a held) tentative() bool  { return a.addr.Flags&unix.IFA_F_TENTATIVE != 0 }
func (a held) linkName() string { return a.link.Attrs().Name }

// bits is the address's prefix length.
func (a held) bits() int {
	if a.addr.IPNet == nil {
		return -1
	}
	n, _ := a.addr.Mask.Size()
	return n
}

// linkUp reports whether the link is up with a carrier (IFF_UP and
// IFF_RUNNING): an address on a link without one reaches nobody.
func (a held) linkUp() bool {
	f := a.link.Attrs().Flags
	return f&net.FlagUp != 0 && f&net.FlagRunning != 0
}

// find returns every link that holds ip. It is normally at most one; stop
// removes them all.
func (h *host) find(ip netip.Addr) ([]held, error) {
	addrs, err := h.nl.AddrList(nil, family(ip))
	if err != nil {
		return nil, ocf.Generic("list addresses: %w", err)
	}
	var out []held
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); !ok || got.Unmap() != ip {
			continue
		}
		l, err := h.nl.LinkByIndex(a.LinkIndex)
		if err != nil {
			return nil, ocf.Generic("find link %d of %s: %w", a.LinkIndex, ip, err)
		}
		out = append(out, held{addr: a, link: l})
	}
	return out, nil
}

// want is the address start configures.
func (c *config) want(nic string, bits int) (*netlink.Addr, error) {
	label, err := c.fullLabel(nic)
	if err != nil {
		return nil, err
	}
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: c.ip.AsSlice(), Mask: net.CIDRMask(bits, c.ip.BitLen())},
		Label: label,
	}
	if c.ip.Is6() && c.nodad {
		a.Flags |= unix.IFA_F_NODAD
	}
	if c.noprefixroute {
		a.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if !c.preferredLft.forever {
		a.PreferedLft = int(c.preferredLft.secs)
		a.ValidLft = int(^uint32(0)) // forever: only the preferred lifetime is ours to set
	}
	return a, nil
}

// add configures a on link, or updates it in place if it is there already.
func (h *host) add(link netlink.Link, a *netlink.Addr) error {
	if err := h.nl.AddrReplace(link, a); err != nil {
		return ocf.Generic("add %s to %s: %w", a.IPNet, link.Attrs().Name, err)
	}
	return nil
}

func (h *host) del(a held) error {
	if err := h.nl.AddrDel(a.link, &a.addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return ocf.Generic("remove %s from %s: %w", a.addr.IPNet, a.linkName(), err)
	}
	return nil
}

// waitDAD waits for the kernel's duplicate address detection of ip on link
// to end, from the address events the kernel sends: subscribe first, then
// look, so that no change falls between the two.
func (h *host) waitDAD(ctx context.Context, link netlink.Link, ip netip.Addr) error {
	updates := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	opts := netlink.AddrSubscribeOptions{}
	if h.ns.IsOpen() {
		opts.Namespace = &h.ns
	}
	if err := netlink.AddrSubscribeWithOptions(updates, done, opts); err != nil {
		return ocf.Generic("watch addresses: %w", err)
	}
	idx := link.Attrs().Index
	for {
		hs, err := h.find(ip)
		if err != nil {
			return err
		}
		var mine *held
		for i := range hs {
			if hs[i].link.Attrs().Index == idx {
				mine = &hs[i]
			}
		}
		switch {
		case mine == nil:
			return ocf.Generic("%s vanished from %s during duplicate address detection", ip, link.Attrs().Name)
		case mine.dadFailed():
			return ocf.Generic("duplicate address detection failed: another host on %s holds %s", link.Attrs().Name, ip)
		case !mine.tentative():
			return nil
		}
		select {
		case <-updates:
		case <-ctx.Done():
			return ocf.Generic("duplicate address detection of %s on %s did not finish before the timeout", ip, link.Attrs().Name)
		}
	}
}
