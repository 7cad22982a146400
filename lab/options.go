// Package lab runs a real multi-node Pacemaker/Corosync cluster on one Linux
// machine. Each node is a set of namespaces (network, PID, mount, UTS, IPC)
// with a PID 1 of its own (the vnfha binary in "lab init" mode) that starts
// corosync and pacemakerd, reaps orphans and answers the lab's fence agent.
// The nodes hang off a Linux bridge that lives in a namespace of its own, so
// nothing is added to the root namespace. Addresses come from 198.18.0.0/15.
//
// The CLI (vnfha lab ...) and the end-to-end tests share this package.
package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// Options says what lab to build.
type Options struct {
	// Name tells labs apart; several labs with different names coexist.
	// Default "lab". 1-12 characters of [a-z0-9-], starting with a letter.
	Name string
	// Nodes is the number of cluster nodes, named node1..nodeN. Default 3.
	Nodes int
	// Hosts are machines on the lab's network that are not cluster nodes,
	// such as load balancers or a VNFM: each is a network namespace of
	// its own on the lab's switch, like the client (see docs/lab.md,
	// "Hosts"). Their order gives their addresses. At most MaxHosts, each
	// a valid host name (see CheckHostName).
	Hosts []string
	// Binary is the vnfha CLI binary. Every node runs it as its PID 1, and
	// the lab's fence agent is a link to it. Default: the running
	// executable, if it is named vnfha.
	Binary string
	// AgentDir, if set, holds the vnfha OCF agents under test (links named
	// after the agents). Every node sees it as
	// /usr/lib/ocf/resource.d/vnfha, so Pacemaker runs the code under test.
	// Default: ../lib/ocf/resource.d/vnfha next to Binary, the layout of
	// `make build`, if it exists.
	AgentDir string
	// NoFencing runs the cluster with stonith-enabled=false and no fence
	// device. The default is real fencing.
	NoFencing bool
	// Token is corosync's totem token: how long a node waits for the
	// token before it declares it lost. Default DefaultToken. A smaller
	// one notices a lost node sooner (docs/operations.md, "Failover
	// speed"); it is rendered in whole ms, at least 100 ms. With 3 nodes
	// or more, corosync adds token_coefficient (650 ms) per node beyond
	// two, and consensus is 1.2 × that.
	Token time.Duration
	// Timeout bounds how long Up waits for quorum and a DC. Default 60s.
	Timeout time.Duration
	// StateRoot holds the state of all labs. Default /run/vnfha-lab.
	StateRoot string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// DefaultToken is the lab's corosync token: what the figures of
// docs/lab.md were measured with.
const DefaultToken = time.Second

// minToken is the smallest token the lab renders: below it, a loaded
// 2-core machine loses the token without any fault.
const minToken = 100 * time.Millisecond

// DefaultName is the name of a lab when none is given.
const DefaultName = "lab"

// DefaultStateRoot is where labs keep their state. It is a tmpfs on every
// modern distribution, so a reboot clears it along with the namespaces.
const DefaultStateRoot = "/run/vnfha-lab"

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)

// locate checks a lab's name and state root, "" meaning the default, and
// returns the lab's paths. A lab's name becomes a directory, namespace
// and link names: it is refused unless it is short and plain (so never
// holds "/" or ".."). The state root must be an absolute path other than
// "/" (labs are removed by name under it); it is cleaned, so
// /run/../etc is /etc.
func locate(name, stateRoot string) (paths, error) {
	if name == "" {
		name = DefaultName
	}
	if !nameRE.MatchString(name) {
		return paths{}, fmt.Errorf("lab name %s: want 1-12 characters of a-z, 0-9 and -, starting with a letter", quote(name))
	}
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	if !filepath.IsAbs(stateRoot) {
		return paths{}, fmt.Errorf("state root %s: want an absolute path", quote(stateRoot))
	}
	stateRoot = filepath.Clean(stateRoot)
	if stateRoot == "/" {
		return paths{}, errors.New("state root /: want a directory of the labs' own, such as " + DefaultStateRoot)
	}
	return paths{stateRoot, name}, nil
}

// quote quotes a name or path given by a user, at most a few bytes of
// it (ocf.Quote): messages stay short whatever was given.
func quote(s string) string { return ocf.Quote(s) }

// withDefaults fills in the defaults and checks what cannot work.
func (o Options) withDefaults() (Options, error) {
	p, err := locate(o.Name, o.StateRoot)
	if err != nil {
		return o, err
	}
	o.Name, o.StateRoot = p.name, p.root
	if err := checkHosts(o.Hosts); err != nil {
		return o, err
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("lab timeout %s: want a positive duration", o.Timeout)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Token == 0 {
		o.Token = DefaultToken
	}
	if o.Token < minToken || o.Token%time.Millisecond != 0 {
		return o, fmt.Errorf("corosync token %s: want whole milliseconds, at least %s", o.Token, minToken)
	}
	if o.Nodes < 1 || o.Nodes > 16 {
		return o, fmt.Errorf("lab with %d nodes: want 1 to 16", o.Nodes)
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil || filepath.Base(exe) != "vnfha" {
			return o, fmt.Errorf("lab needs the vnfha binary: set Options.Binary")
		}
		o.Binary = exe
	}
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return o, fmt.Errorf("vnfha binary: %w", err)
	}
	o.Binary = bin
	if o.AgentDir == "" {
		d := filepath.Join(filepath.Dir(o.Binary), "..", "lib", "ocf", "resource.d", "vnfha")
		if _, err := os.Stat(d); err == nil {
			o.AgentDir = filepath.Clean(d)
		}
	}
	return o, nil
}

// NodeName is the name of node i (1-based).
func NodeName(i int) string { return fmt.Sprintf("node%d", i) }

// ClientName is the namespace that plays an outside user of the cluster.
const ClientName = "client"

// Addressing. Each lab gets one /24 of 198.18.0.0/15, the RFC 2544
// benchmarking range, so that several labs can coexist: lab slot s uses
// 198.18.s.0/24 for s < 256 and 198.19.(s-256).0/24 above. Node i is .i
// (.1-.16), the client .200, and host j of Options.Hosts (1-based, in the
// order given) .(200+j): .201-.216, next to the client, since both stand
// outside the cluster. Tests take their VIPs from .100-.199, which
// nothing of the lab's own ever uses. IPv6 mirrors it in 2001:2::/48, the
// RFC 5180 benchmarking range: lab slot s is 2001:2:0:s::/64 (s in hex),
// node i ::i, the client ::200, host j ::20j (hex digits of the decimal
// host number, so that both families read alike).
const (
	maxSlots     = 512
	clientHostID = 200
	firstHostID  = 201
)

// MaxHosts is the most hosts a lab takes (Options.Hosts).
const MaxHosts = 16

// hostNameRE is what a host name may be: a DNS label, less the hyphen and
// at most 15 characters. The name becomes the namespace vnfha-LAB-NAME,
// and lab names may hold hyphens: with one in a host name, host "b-lb1"
// of lab "a" and host "lb1" of lab "a-b" would be the same namespace, and
// down would take one lab's namespaces for the other's. 15 characters is
// the longest link name Linux takes: the switch's end of the host's link
// is named after it.
var hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,14}$`)

// reservedRE matches the names a host cannot take: those of the lab's
// nodes (node*, even beyond the number a lab has, so that a host never
// reads as a node), the client, the switch's namespace (sw) and its links
// (lo, br0, br1, ...).
var reservedRE = regexp.MustCompile(`^(node.*|client|sw|lo|br[0-9]*)$`)

// CheckHostName says why name cannot be a lab host's, or returns nil.
func CheckHostName(name string) error {
	if !hostNameRE.MatchString(name) {
		return fmt.Errorf("host name %s: want 1-15 characters of a-z and 0-9, starting with a letter", quote(name))
	}
	if reservedRE.MatchString(name) {
		return fmt.Errorf("host name %s is the lab's own (nodes are node1..nodeN, and client, sw, lo and br* are taken): choose another, such as lb1", quote(name))
	}
	return nil
}

func checkHosts(hosts []string) error {
	if len(hosts) > MaxHosts {
		return fmt.Errorf("lab with %d hosts: want at most %d", len(hosts), MaxHosts)
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if err := CheckHostName(h); err != nil {
			return err
		}
		if seen[h] {
			return fmt.Errorf("host %s given twice", quote(h))
		}
		seen[h] = true
	}
	return nil
}

func subnet(slot int) netip.Prefix {
	b := [4]byte{198, 18, byte(slot), 0}
	if slot >= 256 {
		b[1], b[2] = 19, byte(slot-256)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

func hostAddr(slot, host int) netip.Prefix {
	a := subnet(slot).Addr().As4()
	a[3] = byte(host)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24)
}

func subnet6(slot int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0x02, 0, 0, byte(slot >> 8), byte(slot)}), 64)
}

func hostAddr6(slot, host int) netip.Prefix {
	a := subnet6(slot).Addr().As16()
	// host < 1000, so its decimal digits fit the last group read as hex.
	h := host%10 + host/10%10<<4 + host/100%10<<8
	a[14], a[15] = byte(h>>8), byte(h)
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}
