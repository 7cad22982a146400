package lab

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
		want    []string
		notWant []string
	}{
		{3, []string{"cluster_name: t", "token: 1000", "ring0_addr: 198.18.3.3", "name: node3", "nodeid: 3"}, []string{"two_node"}},
		{2, []string{"two_node: 1", "ring0_addr: 198.18.3.2"}, []string{"node3"}},
	}
	for _, tt := range tests {
		conf, err := corosyncConf(testState(tt.nodes))
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

func TestMemberRE(t *testing.T) {
	for member, want := range map[string]bool{"node1": true, "node12": true, "client": true, "sw": true, "b-node1": false, "node": false, "": false} {
		if got := memberRE.MatchString(member); got != want {
			t.Errorf("memberRE(%q) = %v, want %v", member, got, want)
		}
	}
}
