package haproxytest

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/testenv"
)

// TestLBConfigLoads: what LB writes is a configuration the real HAProxy
// 2.6 accepts (haproxy -c), for IPv4 and IPv6, with and without servers.
func TestLBConfigLoads(t *testing.T) {
	bin := testenv.Tool(t, "haproxy")
	for _, tc := range []struct {
		name string
		addr netip.Addr
		o    LBOptions
		want []string
	}{
		{"empty pool", netip.MustParseAddr("198.18.0.201"), LBOptions{},
			[]string{"bind 198.18.0.201:8080", "stats socket ipv4@198.18.0.201:9999 level admin", "stats socket unix@admin.sock",
				"balance roundrobin", "option httpchk GET /health", "option redispatch", "retries 3"}},
		{"IPv6", netip.MustParseAddr("2001:2::201"), LBOptions{FrontendPort: 80, AdminPort: 9000},
			[]string{"bind 2001:2::201:80", "stats socket ipv6@2001:2::201:9000 level admin"}},
		{"servers with HAProxy's checks", netip.MustParseAddr("127.0.0.1"), LBOptions{
			Servers: []Server{{"node1", netip.MustParseAddrPort("198.18.0.1:8080")}, {"node2", netip.MustParseAddrPort("[2001:2::2]:8080")}},
			Check:   Check{Inter: time.Second, Fall: 2, Rise: 2}},
			[]string{"server node1 198.18.0.1:8080 check inter 1000ms fall 2 rise 2", "server node2 2001:2::2:8080 check inter"}},
		{"servers with HAProxy's default checks", netip.MustParseAddr("127.0.0.1"), LBOptions{
			Servers: []Server{{"s.1_a-b", netip.MustParseAddrPort("127.0.0.1:1")}}},
			[]string{"server s.1_a-b 127.0.0.1:1 check\n"}},
		{"its own log", netip.MustParseAddr("127.0.0.1"), LBOptions{Log: true},
			[]string{"log stderr format rfc5424 local0\n", "log global\n", "option dontlog-normal\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LB(tc.addr, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(c.Text, w) {
					t.Errorf("config lacks %q:\n%s", w, c.Text)
				}
			}
			for _, never := range []string{"chroot", "user ", "daemon"} {
				if strings.Contains(c.Text, never) {
					t.Errorf("config holds %q, which needs Debian's unit", never)
				}
			}
			dir := t.TempDir()
			f := filepath.Join(dir, "haproxy.cfg")
			if err := os.WriteFile(f, []byte(c.Text), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-c", "-f", f)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("haproxy -c refuses it: %v\n%s\n%s", err, out, c.Text)
			}
		})
	}
}

func TestLBRefuses(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.1")
	ok := netip.MustParseAddrPort("127.0.0.1:8081")
	for _, tc := range []struct {
		name string
		addr netip.Addr
		o    LBOptions
		err  string
	}{
		{"no address", netip.Addr{}, LBOptions{}, "no address"},
		{"same ports", a, LBOptions{FrontendPort: 9999}, "both on port 9999"},
		{"server name with a space", a, LBOptions{Servers: []Server{{"a b", ok}}}, "server name"},
		{"server name with a newline", a, LBOptions{Servers: []Server{{"a\n    stats socket /tmp/x", ok}}}, "server name"},
		{"empty server name", a, LBOptions{Servers: []Server{{"", ok}}}, "server name"},
		{"long server name", a, LBOptions{Servers: []Server{{strings.Repeat("a", 5000), ok}}}, "server name"},
		{"server twice", a, LBOptions{Servers: []Server{{"a", ok}, {"a", ok}}}, "given twice"},
		{"server without port", a, LBOptions{Servers: []Server{{"a", netip.AddrPortFrom(a, 0)}}}, "want an IP address and a port"},
		{"server without address", a, LBOptions{Servers: []Server{{"a", netip.AddrPort{}}}}, "want an IP address and a port"},
		{"negative fall", a, LBOptions{Check: Check{Fall: -1}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LB(tc.addr, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("LB = %v, want an error with %q", err, tc.err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("a message of %d bytes", len(err.Error()))
			}
		})
	}
}
