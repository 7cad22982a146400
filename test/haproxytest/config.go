package haproxytest

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is an HAProxy configuration for a test and the addresses it
// makes HAProxy listen on. Start writes Text as haproxy.cfg in the
// HAProxy's own directory, which is also its working directory, so that a
// relative unix socket ("unix@admin.sock") lands there: one text serves
// every test and every run.
type Config struct {
	// Text is haproxy.cfg.
	Text string
	// AdminTCP is the admin socket on TCP that Text declares (level
	// admin), the one the bridge reaches from the lab's nodes; the zero
	// value if Text has none.
	AdminTCP netip.AddrPort
	// AdminUnix is the path of the admin socket on a unix socket that Text
	// declares, relative to the HAProxy's directory; "" if none. Start
	// waits until it answers.
	AdminUnix string
	// Frontend is where the frontend listens: the address clients send
	// their requests to.
	Frontend netip.AddrPort
}

// Default ports of LB's configuration.
const (
	FrontendPort = 8080
	AdminPort    = 9999
)

// Backend is the backend that LB's configuration declares, the pool the
// bridge keeps equal to the cluster's instances.
const Backend = "be_vnfc"

// Frontend is the name of LB's frontend.
const Frontend = "fe_vnfc"

// LBOptions shape LB's configuration. The zero value gives an empty pool
// on Addr:8080, with its admin socket on Addr:9999.
type LBOptions struct {
	// Log sends HAProxy's own log to stderr (the log file) in RFC 5424,
	// with microsecond timestamps: server state changes and errors, not
	// the requests that went well. The demo reads its timeline from it.
	Log bool
	// FrontendPort and AdminPort default to FrontendPort and AdminPort.
	FrontendPort, AdminPort uint16
	// Servers are static servers of the backend, each with the check
	// below: for a test of HAProxy's own checks without the bridge, such
	// as the side-by-side comparison of the acceptance.
	Servers []Server
	// Check is the health check of Servers; its zero value is HAProxy's
	// defaults (inter 2s, fall 3, rise 2).
	Check Check
}

// Server is a static server of the backend.
type Server struct {
	// Name is the server's name in the backend: 1-32 characters of
	// a-z, A-Z, 0-9, -, _ and . (what HAProxy takes, shortened).
	Name string
	// Addr is an IP literal and a port: HAProxy resolves nothing here.
	Addr netip.AddrPort
}

// Check is the timing of a server's health check.
type Check struct {
	// Inter is the interval between checks; 0 is HAProxy's default (2s).
	// HAProxy counts in milliseconds.
	Inter time.Duration
	// Fall and Rise are how many failed (passed) checks mark a server
	// DOWN (UP); 0 is HAProxy's default (3, 2).
	Fall, Rise int
}

// keywords renders the check as server keywords, always starting with
// "check".
func (c Check) keywords() string {
	s := "check"
	if c.Inter > 0 {
		s += fmt.Sprintf(" inter %dms", max(c.Inter.Milliseconds(), 1))
	}
	if c.Fall > 0 {
		s += fmt.Sprintf(" fall %d", c.Fall)
	}
	if c.Rise > 0 {
		s += fmt.Sprintf(" rise %d", c.Rise)
	}
	return s
}

// LB is the configuration the bridge's tests run: the load balancer in
// front of a clone of the test VNFC (test/vnfcd, which answers GET
// /health), listening on addr (a lab host's address, or 127.0.0.1 for
// StartLocal).
//
// The backend is what the bridge needs (docs/bridge.md): balance
// roundrobin, so that dynamic servers may be added ("add server" is
// refused on hash algorithms); an HTTP check on /health, which a dynamic
// server gets too once the bridge enables it; option redispatch and
// retries 3, so that a request to a server that just died is retried on
// another one. It has no chroot and no user: HAProxy runs as root in a lab
// host, without Debian's systemd unit and its /run/haproxy (the sockets
// are in the test's directory). hard-stop-after bounds how long an old
// worker that a client holds open lingers after a reload or a stop.
func LB(addr netip.Addr, o LBOptions) (Config, error) {
	if !addr.IsValid() {
		return Config{}, fmt.Errorf("haproxy config: no address to listen on")
	}
	addr = addr.Unmap()
	if o.FrontendPort == 0 {
		o.FrontendPort = FrontendPort
	}
	if o.AdminPort == 0 {
		o.AdminPort = AdminPort
	}
	if o.FrontendPort == o.AdminPort {
		return Config{}, fmt.Errorf("haproxy config: frontend and admin socket both on port %d", o.FrontendPort)
	}
	if o.Check.Inter < 0 || o.Check.Fall < 0 || o.Check.Rise < 0 {
		return Config{}, fmt.Errorf("haproxy config: negative check timing %+v", o.Check)
	}
	c := Config{
		AdminTCP:  netip.AddrPortFrom(addr, o.AdminPort),
		AdminUnix: "admin.sock",
		Frontend:  netip.AddrPortFrom(addr, o.FrontendPort),
	}
	logGlobal, logDefaults := "", ""
	if o.Log {
		logGlobal = "    log stderr format rfc5424 local0\n"
		logDefaults = "    log global\n    option dontlog-normal\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by haproxytest.LB for one test.
global
    stats socket unix@%s mode 600 level admin
    stats socket %s level admin
    stats timeout 30s
    hard-stop-after 5s
%s
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
    retries 3
    option redispatch
%s
frontend %s
    bind %s
    default_backend %s

backend %s
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    option redispatch
    retries 3
`, c.AdminUnix, socketAddr(c.AdminTCP), logGlobal, logDefaults, Frontend, bindAddr(c.Frontend), Backend, Backend)
	seen := map[string]bool{}
	for _, s := range o.Servers {
		if !serverNameOK(s.Name) {
			return Config{}, fmt.Errorf("haproxy config: server name %.40q: want 1-32 characters of a-z, A-Z, 0-9, -, _ and .", s.Name)
		}
		if seen[s.Name] {
			return Config{}, fmt.Errorf("haproxy config: server %s given twice", s.Name)
		}
		seen[s.Name] = true
		if !s.Addr.IsValid() || s.Addr.Port() == 0 {
			return Config{}, fmt.Errorf("haproxy config: server %s: want an IP address and a port, got %s", s.Name, s.Addr)
		}
		fmt.Fprintf(&b, "    server %s %s %s\n", s.Name, bindAddr(s.Addr), o.Check.keywords())
	}
	c.Text = b.String()
	return c, nil
}

// socketAddr is a TCP address as a "stats socket" takes it.
func socketAddr(a netip.AddrPort) string {
	if a.Addr().Is4() {
		return "ipv4@" + a.String()
	}
	return "ipv6@" + bindAddr(a)
}

// bindAddr is an address as "bind" and "server" take it: HAProxy reads the
// port after the last colon, and takes no brackets around an IPv6 address.
func bindAddr(a netip.AddrPort) string {
	return fmt.Sprintf("%s:%d", a.Addr(), a.Port())
}

func serverNameOK(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
