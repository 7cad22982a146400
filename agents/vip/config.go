package vip

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/ocf"
)

// config is the agent's parameters, checked and converted. Parsing needs
// nothing from the node, so monitor and stop can use it without the route
// lookup that start and validate-all do.
type config struct {
	ip            netip.Addr
	bits          int // prefix length from cidr_netmask; -1 when not given
	nic           string
	label         string
	arpCount      int
	arpInterval   time.Duration
	arpMode       neigh.Mode
	preferredLft  lifetime
	nodad         bool
	noprefixroute bool
	checkLink     bool
	conflictCheck bool
	conflictWait  time.Duration
	netns         nsRef
	// arpRefresh is the period of the announcements sent while the
	// address is held; 0 for none.
	arpRefresh time.Duration
	// fastFail: the watcher reports a loss of the address to Pacemaker
	// at once (watch.go).
	fastFail bool
}

// announcer reports whether start leaves an announcer running until stop:
// there is something for it to do (watch, announce or refresh).
func (c *config) announcer() bool {
	return c.fastFail || c.arpCount > 0 || c.arpRefresh > 0
}

// lifetime is preferred_lft: seconds, or forever.
type lifetime struct {
	forever bool
	secs    uint32
}

// maxIfName is IFNAMSIZ less the terminating NUL: the longest interface
// name, and the longest address label, Linux accepts.
const maxIfName = 15

// Bounds of arp_refresh, when it is not 0 (off). Below a second it would
// be a flood, not a refresh: neighbour caches and switches keep an entry
// for tens of seconds to minutes. Above an hour it refreshes nothing that
// ages; and "arp_refresh=30000" meant as milliseconds (a bare number is
// seconds) is refused instead of read as eight hours.
const (
	minArpRefresh = time.Second
	maxArpRefresh = time.Hour
)

// maxArpCount bounds arp_count so that a typo cannot keep the announcer
// running for hours.
const maxArpCount = 100

func parseConfig(p ocf.Params) (*config, error) {
	c := &config{
		nic:           p.String("nic"),
		label:         p.String("label"),
		nodad:         p.Bool("nodad"),
		noprefixroute: p.Bool("noprefixroute"),
		checkLink:     p.Bool("check_link"),
		conflictCheck: p.Bool("conflict_check"),
		conflictWait:  p.Duration("conflict_wait"),
		arpRefresh:    p.Duration("arp_refresh"),
		fastFail:      p.Bool("fast_fail"),
	}
	var err error
	if c.ip, err = parseIP(p.String("ip")); err != nil {
		return nil, err
	}
	if c.netns, err = parseNetns(p.String("network_namespace")); err != nil {
		return nil, err
	}
	if c.bits, err = parseNetmask(p.String("cidr_netmask"), c.ip); err != nil {
		return nil, err
	}
	if c.nic != "" {
		if err := checkNic(c.nic); err != nil {
			return nil, err
		}
	}
	if c.label != "" {
		if c.ip.Is6() {
			return nil, ocf.NotConfigured("label %s: Linux labels only IPv4 addresses; remove label for %s", ocf.Quote(c.label), c.ip)
		}
		// The kernel stores "<nic>:<label>" in IFNAMSIZ bytes; the nic is
		// known only after findif, so the whole is checked again at start.
		if strings.ContainsFunc(c.label, isSpaceOrControl) || strings.Contains(c.label, "/") {
			return nil, ocf.NotConfigured("label %s holds a space, a control character or '/'", ocf.Quote(c.label))
		}
		if len(c.label)+2 > maxIfName {
			return nil, ocf.NotConfigured("label %s is too long: nic:label must fit in %d characters", ocf.Quote(c.label), maxIfName)
		}
	}
	n := p.Int("arp_count")
	if n < 0 || n > maxArpCount {
		return nil, ocf.NotConfigured("arp_count %d is out of range 0..%d", n, maxArpCount)
	}
	c.arpCount = int(n)
	ms := p.Int("arp_interval")
	if ms < 1 || ms > 60000 {
		return nil, ocf.NotConfigured("arp_interval %d ms is out of range 1..60000", ms)
	}
	c.arpInterval = time.Duration(ms) * time.Millisecond
	if c.arpMode, err = neigh.ParseMode(p.String("arp_mode")); err != nil {
		// ParseMode's error quotes the whole value.
		return nil, ocf.NotConfigured("arp_mode %s is not request, reply or both", ocf.Quote(p.String("arp_mode")))
	}
	if c.preferredLft, err = parseLifetime(p.String("preferred_lft")); err != nil {
		return nil, err
	}
	if c.conflictWait <= 0 || c.conflictWait > 10*time.Second {
		return nil, ocf.NotConfigured("conflict_wait %s is out of range (0, 10s]", c.conflictWait)
	}
	if c.arpRefresh != 0 && (c.arpRefresh < minArpRefresh || c.arpRefresh > maxArpRefresh) {
		// Said as parsed, with the rule that explains "30000" becoming
		// 8h20m0s.
		return nil, ocf.NotConfigured("arp_refresh %s is out of range: 0 (off) or 1s to 1h; a bare number is seconds", c.arpRefresh)
	}
	return c, nil
}

func parseIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, ocf.NotConfigured("ip is required")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, ocf.NotConfigured("ip %s is not an IPv4 or IPv6 address", ocf.Quote(s))
	}
	if a.Zone() != "" {
		return netip.Addr{}, ocf.NotConfigured("ip %s: give the interface as nic, not as a zone", ocf.Quote(s))
	}
	a = a.Unmap()
	switch {
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, ocf.NotConfigured("ip %s cannot be assigned to an interface", a)
	case a.IsLoopback():
		return netip.Addr{}, ocf.NotConfigured("ip %s is a loopback address; a virtual IP must be reachable from other hosts", a)
	}
	return a, nil
}

// parseNetmask accepts a prefix length, or for IPv4 a dotted-quad mask as
// IPaddr2 does. It returns -1 when s is empty.
func parseNetmask(s string, ip netip.Addr) (int, error) {
	if s == "" {
		return -1, nil
	}
	if ip.Is4() && strings.Count(s, ".") == 3 {
		m, err := netip.ParseAddr(s)
		if err != nil || !m.Is4() {
			return 0, ocf.NotConfigured("cidr_netmask %s is not a prefix length or a dotted-quad mask", ocf.Quote(s))
		}
		bits := 0
		v := m.As4()
		u := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		for u&(1<<31) != 0 {
			bits++
			u <<= 1
		}
		if u != 0 || bits == 0 {
			return 0, ocf.NotConfigured("cidr_netmask %s is not a contiguous mask", s)
		}
		return bits, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		mask := " or a dotted-quad mask"
		if ip.Is6() {
			mask = ""
		}
		return 0, ocf.NotConfigured("cidr_netmask %s is not a prefix length (1..%d)%s", ocf.Quote(s), ip.BitLen(), mask)
	}
	if n < 1 || n > ip.BitLen() {
		return 0, ocf.NotConfigured("cidr_netmask %d is out of range 1..%d for %s", n, ip.BitLen(), ip)
	}
	return n, nil
}

func parseLifetime(s string) (lifetime, error) {
	if s == "" || s == "forever" {
		return lifetime{forever: true}, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0xffffffff {
		return lifetime{}, ocf.NotConfigured("preferred_lft %s is not a number of seconds below 4294967295 or forever", ocf.Quote(s))
	}
	return lifetime{secs: uint32(n)}, nil
}

// checkNic checks nic as Linux checks an interface name (dev_valid_name),
// and refuses control characters and the loopback interface besides.
func checkNic(s string) error {
	switch {
	case s == "lo":
		return ocf.NotConfigured("nic lo is the loopback interface: an address there is reachable from no other host")
	case strings.Contains(s, ":"):
		// IPaddr2 took "eth0:1" as an alias; Linux has no alias
		// interfaces, only labels on addresses.
		return ocf.NotConfigured("nic %s: an alias (nic:label) is no interface; set nic to the interface and label to the rest", ocf.Quote(s))
	case len(s) > maxIfName:
		return ocf.NotConfigured("nic %s is longer than an interface name (%d bytes)", ocf.Quote(s), maxIfName)
	case s == "." || s == ".." || strings.Contains(s, "/") || strings.ContainsFunc(s, isSpaceOrControl):
		return ocf.NotConfigured("nic %s is not an interface name: no '/', space or control character, not '.' or '..'", ocf.Quote(s))
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r == ' ' || isControl(r) || unicode.IsSpace(r) }

// fullLabel is the IFA_LABEL the kernel wants: the interface name, a colon
// and the label.
func (c *config) fullLabel(nic string) (string, error) {
	if c.label == "" {
		return "", nil
	}
	l := nic + ":" + c.label
	if len(l) > maxIfName {
		return "", ocf.NotConfigured("label %s: %s is longer than %d characters", ocf.Quote(c.label), ocf.Quote(l), maxIfName)
	}
	return l, nil
}
