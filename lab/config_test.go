package lab

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/testenv"
)

// The lab e2e test is where corosync judges corosync.conf: "corosync -t"
// refuses a file whose nodelist lacks the local host.

func testState(nodes int) *state {
	s := &state{Name: "t", Slot: 3, Fencing: true}
	for i := 1; i <= nodes; i++ {
		s.Nodes = append(s.Nodes, NodeName(i))
	}
	return s
}

func TestCorosyncConf(t *testing.T) {
	tests := []struct {
		nodes   int
		tokenMs int64 // the state's; 0 is a lab recorded before Options.Token
		want    []string
		notWant []string
	}{
		{3, 0, []string{"cluster_name: t", "\ttoken: 1000\n", "ring0_addr: 198.18.3.3", "name: node3", "nodeid: 3"}, []string{"two_node"}},
		{2, 0, []string{"two_node: 1", "ring0_addr: 198.18.3.2"}, []string{"node3"}},
		{3, 1000, []string{"\ttoken: 1000\n"}, nil},
		// The faster profile of BenchmarkVIPPowerLoss; only the token
		// changes: consensus stays corosync's own 1.2 × token.
		{3, 300, []string{"\ttoken: 300\n"}, []string{"token: 1000", "consensus", "token_coefficient"}},
		{2, 2500, []string{"\ttoken: 2500\n", "two_node: 1"}, []string{"token: 1000"}},
	}
	for _, tt := range tests {
		st := testState(tt.nodes)
		st.TokenMs = tt.tokenMs
		conf, err := corosyncConf(st)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(conf, w) {
				t.Errorf("%d nodes: corosync.conf lacks %q:\n%s", tt.nodes, w, conf)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(conf, w) {
				t.Errorf("%d nodes: corosync.conf has %q", tt.nodes, w)
			}
		}
	}
}

func TestSeedCIBValidates(t *testing.T) {
	for _, bin := range []string{"cibadmin", "crm_verify"} {
		testenv.Tool(t, bin)
	}
	for _, fencing := range []bool{true, false} {
		s := testState(3)
		s.Fencing = fencing
		cib, err := seedCIB(context.Background(), s, "/run/vnfha-lab")
		if err != nil {
			t.Fatal(err)
		}
		// crm_verify checks the CIB against Pacemaker's schema and its
		// configuration rules (it complains about stonith without a device).
		f := filepath.Join(t.TempDir(), "cib.xml")
		os.WriteFile(f, cib, 0o600)
		if out, err := exec.Command("crm_verify", "--xml-file", f).CombinedOutput(); err != nil {
			t.Errorf("fencing=%v: crm_verify rejects the seed CIB: %v\n%s\n%s", fencing, err, out, cib)
		}
		for _, w := range []string{`name="dc-deadtime"`, `name="stonith-enabled" value="` + map[bool]string{true: "true", false: "false"}[fencing]} {
			if !strings.Contains(string(cib), w) {
				t.Errorf("fencing=%v: seed CIB lacks %s", fencing, w)
			}
		}
		if got := strings.Contains(string(cib), `type="fence_vnfha_lab"`); got != fencing {
			t.Errorf("fencing=%v: fence device present=%v", fencing, got)
		}
	}
}

func TestCheckHost(t *testing.T) {
	found := func(string) (string, error) { return "/usr/sbin/x", nil }
	tests := []struct {
		name string
		euid int
		look func(string) (string, error)
		want string
	}{
		{"ok", 0, found, ""},
		{"not root", 1000, found, "needs root"},
		{"no pacemaker", 0, func(b string) (string, error) {
			if b == "pacemakerd" {
				return "", errors.New("not found")
			}
			return "/usr/sbin/" + b, nil
		}, "pacemakerd is not installed; install it with: apt-get install -y pacemaker"},
	}
	for _, tt := range tests {
		err := checkHost(tt.euid, tt.look)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		opts Options
		err  string
	}{
		{Options{Binary: "/x/vnfha"}, ""},
		{Options{Name: "Lab", Binary: "/x/vnfha"}, "lab name"},
		{Options{Name: "averyveryverylongname", Binary: "/x/vnfha"}, "lab name"},
		{Options{Nodes: 17, Binary: "/x/vnfha"}, "want 1 to 16"},
		{Options{Hosts: []string{"lb1", "lb2"}, Binary: "/x/vnfha"}, ""},
		{Options{Hosts: []string{"lb1", "node1"}, Binary: "/x/vnfha"}, `host name "node1" is the lab's own`},
		{Options{Hosts: []string{"lb1", "lb1"}, Binary: "/x/vnfha"}, `host "lb1" given twice`},
		{Options{Hosts: make([]string, 17), Binary: "/x/vnfha"}, "want at most 16"},
		// Host names are checked before anything else of the machine, so
		// a wrong one is said even where the lab could not run.
		{Options{Hosts: []string{"LB1"}}, "host name"},
		{Options{Token: 300 * time.Millisecond, Binary: "/x/vnfha"}, ""},
		{Options{Token: 50 * time.Millisecond, Binary: "/x/vnfha"}, "at least 100ms"},
		{Options{Token: 1500 * time.Microsecond, Binary: "/x/vnfha"}, "whole milliseconds"},
		{Options{Token: 300*time.Millisecond + time.Microsecond, Binary: "/x/vnfha"}, "whole milliseconds"},
		{Options{Token: -time.Second, Binary: "/x/vnfha"}, "at least 100ms"},
	}
	for _, tt := range tests {
		o, err := tt.opts.withDefaults()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: got %v, want %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.opts, err)
			continue
		}
		if o.Name != DefaultName || o.Nodes != 3 || o.StateRoot != DefaultStateRoot {
			t.Errorf("defaults not applied: %+v", o)
		}
		if want := cmp.Or(tt.opts.Token, DefaultToken); o.Token != want {
			t.Errorf("%+v: token %s, want %s", tt.opts, o.Token, want)
		}
	}
}

func TestAddressing(t *testing.T) {
	tests := []struct {
		slot, host  int
		want, want6 string
	}{
		{0, 1, "198.18.0.1/24", "2001:2::1/64"},
		{255, 200, "198.18.255.200/24", "2001:2:0:ff::200/64"},
		{256, 2, "198.19.0.2/24", "2001:2:0:100::2/64"},
		{511, 13, "198.19.255.13/24", "2001:2:0:1ff::13/64"},
	}
	for _, tt := range tests {
		if got := hostAddr(tt.slot, tt.host).String(); got != tt.want {
			t.Errorf("hostAddr(%d, %d) = %s, want %s", tt.slot, tt.host, got, tt.want)
		}
		if got := hostAddr6(tt.slot, tt.host).String(); got != tt.want6 {
			t.Errorf("hostAddr6(%d, %d) = %s, want %s", tt.slot, tt.host, got, tt.want6)
		}
		if !subnet(tt.slot).Contains(hostAddr(tt.slot, tt.host).Addr()) || !subnet6(tt.slot).Contains(hostAddr6(tt.slot, tt.host).Addr()) {
			t.Errorf("slot %d host %d: address outside the lab's subnets", tt.slot, tt.host)
		}
	}
}

func TestFreeSlot(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"a", "b"} {
		p := paths{root, name}
		os.MkdirAll(p.dir(), 0o755)
		if err := writeState(p, &state{Name: name, Slot: i}); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := freeSlot(root, "c"); err != nil || s != 2 {
		t.Errorf("freeSlot = %d, %v; want 2", s, err)
	}
	// A lab's own slot does not count against it.
	if s, err := freeSlot(root, "a"); err != nil || s != 0 {
		t.Errorf("freeSlot for a = %d, %v; want 0", s, err)
	}
}

func TestCheckHostName(t *testing.T) {
	for _, tc := range []struct {
		name, err string
	}{
		{"lb1", ""},
		{"vnfm", ""},
		{"a", ""},
		{"abcdefghijklmno", ""}, // 15: the longest link name
		{"abcdefghijklmnop", "want 1-15 characters"},
		{"", "want 1-15 characters"},
		{"lb-1", "want 1-15 characters"}, // vnfha-a-lb-1 is also lab a-lb's host 1
		{"Lb1", "want 1-15 characters"},
		{"1lb", "want 1-15 characters"},
		{"lb1.example", "want 1-15 characters"},
		{"../x", "want 1-15 characters"},
		{"lb 1", "want 1-15 characters"},
		{"node1", "is the lab's own"},
		{"node99", "is the lab's own"},
		{"nodes", "is the lab's own"},
		{"client", "is the lab's own"},
		{"sw", "is the lab's own"},
		{"lo", "is the lab's own"},
		{"br0", "is the lab's own"},
		{"br1", "is the lab's own"},
		{strings.Repeat("x", 5000), "want 1-15 characters"},
	} {
		err := CheckHostName(tc.name)
		if tc.err == "" {
			if err != nil {
				t.Errorf("CheckHostName(%q): %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckHostName(%.20q) = %v, want %q", tc.name, err, tc.err)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("CheckHostName(%.20q): a message of %d bytes", tc.name, len(err.Error()))
		}
	}
}

// TestHostAddresses: hosts take .201.. and ::201.. in the order given,
// clear of the nodes, the client and the tests' VIPs (.100-.199), and a
// member that is none of the lab's is named in the error.
func TestHostAddresses(t *testing.T) {
	s := &state{Name: "x", Slot: 3, Nodes: []string{"node1", "node2"}, Hosts: []string{"lb1", "lb2"}}
	seen := map[netip.Addr]string{}
	for _, tc := range []struct{ member, v4, v6 string }{
		{"node1", "198.18.3.1/24", "2001:2:0:3::1/64"},
		{"node2", "198.18.3.2/24", "2001:2:0:3::2/64"},
		{"client", "198.18.3.200/24", "2001:2:0:3::200/64"},
		{"lb1", "198.18.3.201/24", "2001:2:0:3::201/64"},
		{"lb2", "198.18.3.202/24", "2001:2:0:3::202/64"},
	} {
		a, err := s.addrs(tc.member)
		if err != nil {
			t.Fatalf("addrs(%s): %v", tc.member, err)
		}
		if a[0].String() != tc.v4 || a[1].String() != tc.v6 {
			t.Errorf("addrs(%s) = %v, want %s %s", tc.member, a, tc.v4, tc.v6)
		}
		if other, dup := seen[a[0].Addr()]; dup {
			t.Errorf("%s and %s share %s", tc.member, other, a[0])
		}
		seen[a[0].Addr()] = tc.member
	}
	// The last host of the largest lab stays below the broadcast address
	// and clear of the VIPs.
	last := hostAddr(0, firstHostID+MaxHosts-1).Addr().As4()[3]
	if last != 216 || firstHostID <= 199 {
		t.Errorf("hosts end at .%d; want .216, above the VIPs' .100-.199", last)
	}
	if _, err := s.addrs("lb3"); err == nil || !strings.Contains(err.Error(), "hosts: lb1, lb2") {
		t.Errorf("addrs(lb3) = %v, want an error naming the hosts", err)
	}
	if s.isNode("lb1") || !s.isHost("lb1") || s.isHost("node1") || s.isHost(ClientName) {
		t.Error("isNode/isHost mix hosts and nodes")
	}
}

// TestStateRefusesBadHosts: a state file whose hosts are not valid names
// (edited by hand, or by a tool gone wrong) is refused, since the names
// become namespace paths.
func TestStateRefusesBadHosts(t *testing.T) {
	root := t.TempDir()
	p := paths{root, "x"}
	if err := os.MkdirAll(p.dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, hosts := range [][]string{{"../../etc"}, {"node1"}, {"lb1", "lb1"}} {
		if err := writeState(p, &state{Name: "x", Nodes: []string{"node1"}, Hosts: hosts}); err != nil {
			t.Fatal(err)
		}
		if _, err := readState(p); err == nil || !strings.Contains(err.Error(), "lab state") {
			t.Errorf("hosts %q: readState = %v, want a refusal", hosts, err)
		}
	}
	if err := writeState(p, &state{Name: "x", Nodes: []string{"node1"}, Hosts: []string{"lb1"}}); err != nil {
		t.Fatal(err)
	}
	if s, err := readState(p); err != nil || !slices.Equal(s.Hosts, []string{"lb1"}) {
		t.Errorf("readState = %+v, %v", s, err)
	}
}

func TestMemberRE(t *testing.T) {
	for member, want := range map[string]bool{"node1": true, "node12": true, "client": true, "sw": true, "lb1": true, "vnfm": true,
		"b-node1": false, "b-lb1": false, "sw-node1": false, "": false, "Lb1": false} {
		if got := memberRE.MatchString(member); got != want {
			t.Errorf("memberRE(%q) = %v, want %v", member, got, want)
		}
	}
}
