package vip

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vnfha/vnfha/ocf"
)

// route is the part of a kernel route that choosing an interface needs.
type route struct {
	dst    netip.Prefix
	nic    string
	metric int
	// onLink is true for a route with no gateway: its destination is on
	// the link itself, which is where a virtual IP can live.
	onLink bool
}

// findIf picks the interface and prefix length for ip from the main
// routing table, as IPaddr2's findif does: among the routes without a
// gateway whose destination contains ip, the longest prefix wins and then
// the lowest metric. If nic is given only its routes count; if bits is not
// -1 the route must contain all of ip/bits (a /32 VIP inside a connected
// /24 is fine), and bits is kept. Two different interfaces tied on both is
// ambiguous: the operator must say which with nic. Start skips this when
// both nic and cidr_netmask are given.
//
// The result's error is ErrArgs when this node has no matching route (the
// resource cannot run here, but may elsewhere) and ErrNotConfigured when
// the match is ambiguous.
func findIf(routes []route, ip netip.Addr, nic string, bits int) (string, int, error) {
	var cand []route
	for _, r := range routes {
		if !r.onLink || r.dst.Bits() == 0 || r.dst.Addr().Is4() != ip.Is4() || !r.dst.Contains(ip) {
			continue
		}
		if nic != "" && r.nic != nic {
			continue
		}
		if bits >= 0 && r.dst.Bits() > bits {
			continue
		}
		cand = append(cand, r)
	}
	if len(cand) == 0 {
		what := "an interface"
		if nic != "" {
			what = "interface " + nic
		}
		if bits >= 0 {
			return "", 0, ocf.Errorf(ocf.ErrArgs, "no route on %s of this node matches %s/%d; set nic and cidr_netmask, or add the network", what, ip, bits)
		}
		return "", 0, ocf.Errorf(ocf.ErrArgs, "no route on %s of this node contains %s, so its netmask is unknown; set cidr_netmask (and nic), or add the network", what, ip)
	}
	slices.SortStableFunc(cand, func(a, b route) int {
		if a.dst.Bits() != b.dst.Bits() {
			return b.dst.Bits() - a.dst.Bits()
		}
		return a.metric - b.metric
	})
	best := cand[0]
	var tied []string
	for _, r := range cand {
		if r.dst.Bits() == best.dst.Bits() && r.metric == best.metric && r.nic != best.nic && !slices.Contains(tied, r.nic) {
			tied = append(tied, r.nic)
		}
	}
	if len(tied) > 0 {
		return "", 0, ocf.NotConfigured("%s matches %s on %s equally well; set nic to choose", ip, best.dst, strings.Join(append([]string{best.nic}, tied...), ", "))
	}
	if bits < 0 {
		bits = best.dst.Bits()
	}
	return best.nic, bits, nil
}
