package vip

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/ocf"
)

// params parses env as Pacemaker would hand it to the agent.
func params(t testing.TB, env map[string]string) ocf.Params {
	t.Helper()
	m := map[string]string{}
	for k, v := range env {
		m["OCF_RESKEY_"+k] = v
	}
	p, err := Agent.ParseParams(ocf.MapLookup(m))
	if err != nil {
		t.Fatalf("parse %v: %v", env, err)
	}
	return p
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(*config) bool
		code    ocf.Code // 0: no error
		errText string
	}{
		{"defaults", map[string]string{"ip": "198.18.0.100"}, func(c *config) bool {
			return c.ip == netip.MustParseAddr("198.18.0.100") && c.bits == -1 && c.arpCount == 5 &&
				c.arpInterval == 200*time.Millisecond && c.arpMode == neigh.ModeBoth && c.nodad && c.checkLink &&
				c.conflictCheck && c.conflictWait == 15*time.Millisecond && c.preferredLft.forever &&
				c.arpRefresh == 0 && c.fastFail
		}, 0, ""},
		{"arp_refresh", map[string]string{"ip": "198.18.0.100", "arp_refresh": "30s"}, func(c *config) bool { return c.arpRefresh == 30*time.Second }, 0, ""},
		{"arp_refresh shortest", map[string]string{"ip": "198.18.0.100", "arp_refresh": "1s"}, func(c *config) bool { return c.arpRefresh == time.Second }, 0, ""},
		{"arp_refresh longest", map[string]string{"ip": "198.18.0.100", "arp_refresh": "1h"}, func(c *config) bool { return c.arpRefresh == time.Hour }, 0, ""},
		{"arp_refresh off", map[string]string{"ip": "198.18.0.100", "arp_refresh": "0s"}, func(c *config) bool { return c.arpRefresh == 0 }, 0, ""},
		{"fast_fail off", map[string]string{"ip": "198.18.0.100", "fast_fail": "false"}, func(c *config) bool { return !c.fastFail }, 0, ""},
		{"ipv6 with prefix", map[string]string{"ip": "2001:2::100", "cidr_netmask": "64", "preferred_lft": "0"}, func(c *config) bool {
			return c.ip.Is6() && c.bits == 64 && !c.preferredLft.forever && c.preferredLft.secs == 0
		}, 0, ""},
		{"ipv4-mapped is IPv4", map[string]string{"ip": "::ffff:198.18.0.5"}, func(c *config) bool { return c.ip.Is4() }, 0, ""},
		{"dotted quad", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "255.255.255.0"}, func(c *config) bool { return c.bits == 24 }, 0, ""},
		{"host mask", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "32"}, func(c *config) bool { return c.bits == 32 }, 0, ""},
		{"modes", map[string]string{"ip": "198.18.0.100", "arp_mode": "reply"}, func(c *config) bool { return c.arpMode == neigh.ModeReply }, 0, ""},
		{"label", map[string]string{"ip": "198.18.0.100", "label": "vip"}, func(c *config) bool { return c.label == "vip" }, 0, ""},

		{"arp_refresh a flood", map[string]string{"ip": "198.18.0.100", "arp_refresh": "500ms"}, nil, ocf.ErrNotConfigured, "arp_refresh 500ms is out of range: 0 (off) or 1s to 1h; a bare number is seconds"},
		{"arp_refresh meant as ms", map[string]string{"ip": "198.18.0.100", "arp_refresh": "30000"}, nil, ocf.ErrNotConfigured, "arp_refresh 8h20m0s is out of range: 0 (off) or 1s to 1h; a bare number is seconds"},
		{"arp_refresh over an hour", map[string]string{"ip": "198.18.0.100", "arp_refresh": "61min"}, nil, ocf.ErrNotConfigured, "arp_refresh 1h1m0s is out of range"},
		{"not an address", map[string]string{"ip": "198.18.0"}, nil, ocf.ErrNotConfigured, "not an IPv4 or IPv6 address"},
		{"hostname", map[string]string{"ip": "vip.example"}, nil, ocf.ErrNotConfigured, "not an IPv4 or IPv6 address"},
		{"zone", map[string]string{"ip": "fe80::1%eth0"}, nil, ocf.ErrNotConfigured, "as nic"},
		{"unspecified", map[string]string{"ip": "0.0.0.0"}, nil, ocf.ErrNotConfigured, "cannot be assigned"},
		{"multicast", map[string]string{"ip": "ff02::1"}, nil, ocf.ErrNotConfigured, "cannot be assigned"},
		{"broadcast", map[string]string{"ip": "255.255.255.255"}, nil, ocf.ErrNotConfigured, "cannot be assigned"},
		{"loopback", map[string]string{"ip": "127.0.0.2"}, nil, ocf.ErrNotConfigured, "loopback"},
		{"netmask 0", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "0"}, nil, ocf.ErrNotConfigured, "out of range 1..32"},
		{"netmask 33", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "33"}, nil, ocf.ErrNotConfigured, "out of range 1..32"},
		{"netmask 129", map[string]string{"ip": "2001:2::1", "cidr_netmask": "129"}, nil, ocf.ErrNotConfigured, "out of range 1..128"},
		{"netmask text", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "/24"}, nil, ocf.ErrNotConfigured, `cidr_netmask "/24" is not a prefix length (1..32) or a dotted-quad mask`},
		{"netmask junk", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "24 "}, nil, ocf.ErrNotConfigured, "is not a prefix length"},
		{"netmask overflow", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "99999999999999999999"}, nil, ocf.ErrNotConfigured, "is not a prefix length"},
		{"netmask negative", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "-24"}, nil, ocf.ErrNotConfigured, "out of range 1..32"},
		{"holey mask", map[string]string{"ip": "198.18.0.100", "cidr_netmask": "255.0.255.0"}, nil, ocf.ErrNotConfigured, "not a contiguous mask"},
		{"dotted mask for v6", map[string]string{"ip": "2001:2::1", "cidr_netmask": "255.255.255.0"}, nil, ocf.ErrNotConfigured, `cidr_netmask "255.255.255.0" is not a prefix length (1..128)`},
		{"bad nic", map[string]string{"ip": "198.18.0.100", "nic": "eth0:1"}, nil, ocf.ErrNotConfigured, "an alias (nic:label) is no interface"},
		{"nic lo", map[string]string{"ip": "198.18.0.100", "nic": "lo"}, nil, ocf.ErrNotConfigured, "nic lo is the loopback interface"},
		{"nic with slash", map[string]string{"ip": "198.18.0.100", "nic": "../eth0"}, nil, ocf.ErrNotConfigured, "is not an interface name"},
		{"nic with control", map[string]string{"ip": "198.18.0.100", "nic": "eth\x1b0"}, nil, ocf.ErrNotConfigured, `nic "eth\x1b0" is not an interface name`},
		{"nic dot", map[string]string{"ip": "198.18.0.100", "nic": ".."}, nil, ocf.ErrNotConfigured, "is not an interface name"},
		{"long nic", map[string]string{"ip": "198.18.0.100", "nic": "averyveryverylongname"}, nil, ocf.ErrNotConfigured, "is longer than an interface name (15 bytes)"},
		{"label on v6", map[string]string{"ip": "2001:2::1", "label": "x"}, nil, ocf.ErrNotConfigured, "only IPv4"},
		{"long label", map[string]string{"ip": "198.18.0.100", "label": "abcdefghijklmn"}, nil, ocf.ErrNotConfigured, "too long"},
		{"label with space", map[string]string{"ip": "198.18.0.100", "label": "a b"}, nil, ocf.ErrNotConfigured, "holds a space"},
		{"huge label quoted short", map[string]string{"ip": "198.18.0.100", "label": strings.Repeat("L", 5000)}, nil, ocf.ErrNotConfigured, "(5000 bytes) is too long"},
		{"huge ip quoted short", map[string]string{"ip": strings.Repeat("1", 5000)}, nil, ocf.ErrNotConfigured, "(5000 bytes) is not an IPv4"},
		{"huge arp_mode quoted short", map[string]string{"ip": "198.18.0.100", "arp_mode": strings.Repeat("m", 5000)}, nil, ocf.ErrNotConfigured, "(5000 bytes) is not request, reply or both"},
		{"arp_count", map[string]string{"ip": "198.18.0.100", "arp_count": "101"}, nil, ocf.ErrNotConfigured, "arp_count"},
		{"arp_interval", map[string]string{"ip": "198.18.0.100", "arp_interval": "0"}, nil, ocf.ErrNotConfigured, "arp_interval"},
		{"arp_mode", map[string]string{"ip": "198.18.0.100", "arp_mode": "gratuitous"}, nil, ocf.ErrNotConfigured, "arp_mode"},
		{"preferred_lft", map[string]string{"ip": "2001:2::1", "preferred_lft": "-1"}, nil, ocf.ErrNotConfigured, "preferred_lft"},
		{"conflict_wait", map[string]string{"ip": "198.18.0.100", "conflict_wait": "1min"}, nil, ocf.ErrNotConfigured, "conflict_wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(params(t, tt.env))
			code, reason := ocf.Result(err)
			if code != tt.code || !strings.Contains(reason, tt.errText) {
				if len(reason) > 200 {
					reason = reason[:200] + "..."
				}
				t.Fatalf("parseConfig(%v) = %v (%q), want %v containing %q", tt.env, code, reason, tt.code, tt.errText)
			}
			if err == nil && !tt.check(c) {
				t.Errorf("parseConfig(%v) = %+v", tt.env, c)
			}
		})
	}
}

func TestFullLabel(t *testing.T) {
	c := &config{label: "vip1"}
	if l, err := c.fullLabel("eth0"); err != nil || l != "eth0:vip1" {
		t.Errorf("fullLabel = %q, %v", l, err)
	}
	if _, err := c.fullLabel("enp0s31f6abc"); err == nil {
		t.Error("fullLabel accepted a label longer than 15 characters")
	}
	if l, err := (&config{}).fullLabel("eth0"); err != nil || l != "" {
		t.Errorf("no label: %q, %v", l, err)
	}
}

// FuzzParseConfig checks that no ip, netmask or lifetime text makes the
// parser panic, and that whatever it accepts is a usable address.
func FuzzParseConfig(f *testing.F) {
	for _, s := range [][3]string{
		{"198.18.0.100", "24", "forever"}, {"2001:2::1", "64", "0"}, {"198.18.0.1", "255.255.255.0", ""},
		{"::ffff:1.2.3.4", "96", "10"}, {"fe80::1%eth0", "", ""}, {"1.2.3", "33", "x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, ip, mask, lft string) {
		a, err := parseIP(ip)
		if err != nil {
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("parseIP(%q) = %v", ip, a)
		}
		bits, err := parseNetmask(mask, a)
		if err == nil && (bits < -1 || bits == 0 || bits > a.BitLen()) {
			t.Fatalf("parseNetmask(%q, %v) = %d", mask, a, bits)
		}
		parseLifetime(lft)
	})
}
