package vip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/ocf"
)

func TestFindIf(t *testing.T) {
	r := func(dst, nic string, metric int, onLink bool) route {
		return route{dst: netip.MustParsePrefix(dst), nic: nic, metric: metric, onLink: onLink}
	}
	// A node with a lab network on eth0, a wider management network on
	// eth1, a default route, and IPv6 on both.
	routes := []route{
		r("0.0.0.0/0", "eth1", 0, false),
		r("198.18.0.0/24", "eth0", 0, true),
		r("198.18.0.0/16", "eth1", 0, true),
		r("10.1.0.0/16", "eth2", 100, true),
		r("10.1.0.0/16", "eth3", 50, true),
		r("10.2.0.0/16", "eth2", 0, true),
		r("10.2.0.0/16", "eth3", 0, true),
		r("10.3.0.0/16", "eth4", 0, false), // via a gateway
		r("2001:2::/64", "eth0", 256, true),
		r("fe80::/64", "eth0", 256, true),
		r("fe80::/64", "eth1", 256, true),
	}
	tests := []struct {
		name     string
		ip       string
		nic      string
		bits     int
		wantNic  string
		wantBits int
		code     ocf.Code
		errText  string
	}{
		{"longest prefix wins", "198.18.0.100", "", -1, "eth0", 24, 0, ""},
		{"wider network", "198.18.5.1", "", -1, "eth1", 16, 0, ""},
		{"nic narrows the choice", "198.18.0.100", "eth1", -1, "eth1", 16, 0, ""},
		{"netmask kept, route contains it", "198.18.0.100", "", 32, "eth0", 32, 0, ""},
		{"netmask wider than the route", "198.18.0.100", "", 20, "eth1", 20, 0, ""},
		{"lowest metric breaks a tie", "10.1.2.3", "", -1, "eth3", 16, 0, ""},
		{"ipv6", "2001:2::100", "", -1, "eth0", 64, 0, ""},
		{"ambiguous", "10.2.0.9", "", -1, "", 0, ocf.ErrNotConfigured, "eth2, eth3 equally well; set nic"},
		{"ambiguous link-local", "fe80::99", "", -1, "", 0, ocf.ErrNotConfigured, "set nic"},
		{"link-local with nic", "fe80::99", "eth1", -1, "eth1", 64, 0, ""},
		{"default route does not count", "192.0.2.1", "", -1, "", 0, ocf.ErrArgs, "no route on an interface of this node contains 192.0.2.1"},
		{"gateway route does not count", "10.3.0.1", "", -1, "", 0, ocf.ErrArgs, "no route"},
		{"nic without the network", "10.2.0.9", "eth0", -1, "", 0, ocf.ErrArgs, "no route on interface eth0"},
		{"family must match", "2001:2::1:1", "eth1", -1, "", 0, ocf.ErrArgs, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic, bits, err := findIf(routes, netip.MustParseAddr(tt.ip), tt.nic, tt.bits)
			code, reason := ocf.Result(err)
			if code != tt.code || !strings.Contains(reason, tt.errText) {
				t.Fatalf("findIf(%s) error = %v %q, want %v containing %q", tt.ip, code, reason, tt.code, tt.errText)
			}
			if nic != tt.wantNic || bits != tt.wantBits {
				t.Errorf("findIf(%s) = %s/%d, want %s/%d", tt.ip, nic, bits, tt.wantNic, tt.wantBits)
			}
		})
	}
}
