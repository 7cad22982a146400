package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/netnsrun"
)

// Bridges of the switch. Every member starts on mainBridge; partition moves
// the ports of the minority to sideBridge, which has no path to the main one.
const (
	mainBridge = "br0"
	sideBridge = "br1"
	// memberIf is the name of each member's own end of its link.
	memberIf = "eth0"
)

const netnsDir = "/run/netns"

// shareNetnsDir makes /run/netns a mount point with shared propagation,
// as `ip netns add` does before it adds a namespace. Without it, the first
// `ip netns add` run on the machine after a lab is up binds /run/netns onto
// itself, on top of the lab's namespace mounts: they are then hidden under
// the new mount, umount by path fails (EINVAL), `lab down` cannot delete
// the namespaces, and they outlive the lab. Idempotent; a second lab, or
// ip netns, then finds a shared mount point and leaves it alone.
func shareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", netnsDir, err)
	}
	// EINVAL: not a mount point yet. Make it one, then shared.
	if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", netnsDir, err)
	}
	if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", netnsDir, err)
	}
	return nil
}

// ensureNetns returns a handle to the named network namespace, creating it
// if needed. Creating one switches the calling thread, so the thread is
// locked and switched back.
func ensureNetns(name string) (netns.NsHandle, error) {
	if h, err := netns.GetFromName(name); err == nil {
		return h, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return netns.None(), fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// This thread is in the wrong namespace now; never let the runtime
		// reuse it.
		panic(fmt.Sprintf("restore netns after creating %s: %v", name, serr))
	}
	if err != nil {
		return netns.None(), fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}

func deleteNetns(name string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := netns.DeleteNamed(name); err != nil {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// withHandle runs f with a netlink handle inside the named namespace.
func withHandle(nsName string, f func(*netlink.Handle) error) error {
	ns, err := netns.GetFromName(nsName)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsName, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsName, err)
	}
	defer h.Close()
	return f(h)
}

// setupSwitch makes the switch namespace with its two bridges, idempotently.
func setupSwitch(lab string) error {
	ns := netnsName(lab, switchName)
	h, err := ensureNetns(ns)
	if err != nil {
		return err
	}
	h.Close()
	return withHandle(ns, func(nl *netlink.Handle) error {
		if err := linkUp(nl, "lo"); err != nil {
			return err
		}
		for _, name := range []string{mainBridge, sideBridge} {
			if _, err := nl.LinkByName(name); err != nil {
				br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
				if err := nl.LinkAdd(br); err != nil {
					return fmt.Errorf("add bridge %s in %s: %w", name, ns, err)
				}
			}
			if err := linkUp(nl, name); err != nil {
				return err
			}
		}
		return nil
	})
}

func linkUp(nl *netlink.Handle, name string) error {
	l, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// plug connects a member's namespace to the switch: a veth pair with the
// member's end named eth0 and holding addrs, the switch's end named after
// the member and enslaved to the main bridge. It is a no-op if the link
// already exists.
func plug(lab, member string, addrs []netip.Prefix) error {
	memberNS, err := ensureNetns(netnsName(lab, member))
	if err != nil {
		return err
	}
	defer memberNS.Close()
	err = withHandle(netnsName(lab, switchName), func(nl *netlink.Handle) error {
		if _, err := nl.LinkByName(member); err == nil {
			return nil
		}
		br, err := nl.LinkByName(mainBridge)
		if err != nil {
			return fmt.Errorf("find bridge %s: %w", mainBridge, err)
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: member, MasterIndex: br.Attrs().Index},
			PeerName:      memberIf,
			PeerNamespace: netlink.NsFd(int(memberNS)),
		}
		if err := nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("add link for %s: %w", member, err)
		}
		return linkUp(nl, member)
	})
	if err != nil {
		return err
	}
	return withHandle(netnsName(lab, member), func(nl *netlink.Handle) error {
		if err := linkUp(nl, "lo"); err != nil {
			return err
		}
		return configureMemberIf(nl, addrs)
	})
}

// configureMemberIf gives eth0 exactly its lab addresses (dropping any
// other global address, such as a VIP that survived a reboot; link-local
// IPv6 stays) and sets it up. IPv6 addresses skip duplicate address
// detection: the lab owns its prefix, and DAD would hold them tentative for
// a second after every boot.
func configureMemberIf(nl *netlink.Handle, addrs []netip.Prefix) error {
	l, err := nl.LinkByName(memberIf)
	if err != nil {
		return fmt.Errorf("find %s: %w", memberIf, err)
	}
	var want []netlink.Addr
	for _, p := range addrs {
		a, err := netlink.ParseAddr(p.String())
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		if p.Addr().Is6() {
			a.Flags |= unix.IFA_F_NODAD
		}
		want = append(want, *a)
	}
	have, err := nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", memberIf, err)
	}
	for _, a := range have {
		if a.Scope != int(netlink.SCOPE_UNIVERSE) || slices.ContainsFunc(want, a.Equal) {
			continue
		}
		if err := nl.AddrDel(l, &a); err != nil {
			return fmt.Errorf("remove %s from %s: %w", a.IPNet, memberIf, err)
		}
	}
	for _, a := range want {
		if err := nl.AddrReplace(l, &a); err != nil {
			return fmt.Errorf("add %s to %s: %w", a.IPNet, memberIf, err)
		}
	}
	return nl.LinkSetUp(l)
}

// unplug removes a member's link; deleting the switch end deletes the pair.
func unplug(lab, member string) error {
	return withHandle(netnsName(lab, switchName), func(nl *netlink.Handle) error {
		l, err := nl.LinkByName(member)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return fmt.Errorf("find link of %s: %w", member, err)
		}
		if err := nl.LinkDel(l); err != nil {
			return fmt.Errorf("delete link of %s: %w", member, err)
		}
		return nil
	})
}

// setSide puts the switch ports of members on a bridge.
func setSide(lab string, members []string, bridge string) error {
	return withHandle(netnsName(lab, switchName), func(nl *netlink.Handle) error {
		br, err := nl.LinkByName(bridge)
		if err != nil {
			return fmt.Errorf("find bridge %s: %w", bridge, err)
		}
		for _, m := range members {
			l, err := nl.LinkByName(m)
			if err != nil {
				// A powered-off node has no link; it joins the side when
				// it starts again, on the main bridge.
				continue
			}
			if err := nl.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
				return fmt.Errorf("move %s to %s: %w", m, bridge, err)
			}
		}
		return nil
	})
}

// InNetns runs f on a thread switched into a lab member's network
// namespace. A socket f opens belongs to that namespace for its whole life,
// so tests can play the client or a node in-process: sniff its link, read
// its neighbour table, listen or dial. f must not start goroutines that
// expect the namespace (see netnsrun.Run).
func (l *Lab) InNetns(member string, f func() error) error {
	if err := l.checkMember(member); err != nil {
		return err
	}
	target, err := netns.GetFromName(netnsName(l.st.Name, member))
	if err != nil {
		return fmt.Errorf("open netns of %s: %w", member, err)
	}
	defer target.Close()
	return netnsrun.Run(target, f)
}

// Listen opens a listener inside a lab member's network namespace.
func (l *Lab) Listen(member, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := l.InNetns(member, func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// Dial connects from inside a lab member's network namespace.
func (l *Lab) Dial(ctx context.Context, member, network, address string) (net.Conn, error) {
	var c net.Conn
	err := l.InNetns(member, func() (err error) {
		// The socket is created before DialContext returns or blocks, on
		// this thread.
		c, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	return c, err
}
