package vip

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// TestOCFTester runs resource-agents' ocf-tester against the built agent,
// IPv4 and IPv6, on a throwaway namespace pair: once with the agent itself
// inside the namespace, once managing it from outside through
// network_namespace.
func TestOCFTester(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped in -short mode")
	}
	tester := ocftest.RequireTool(t, "ocf-tester")
	ocftest.RequireTool(t, "xmllint")
	nstest.RequireRoot(t)
	agent := ocftest.BuildAgent(t, name)
	p := nstest.NewPair(t)
	for _, tt := range []struct {
		name   string
		ip     string
		inside bool
	}{
		{"IPv4 inside", "198.19.255.100", true},
		{"IPv6 inside", "2001:2:0:ffff::100", true},
		{"IPv4 network_namespace", "198.19.255.101", false},
		{"IPv6 network_namespace", "2001:2:0:ffff::101", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-v", "-n", "vip1", "-o", "ip=" + tt.ip}
			if !tt.inside {
				args = append(args, "-o", "network_namespace="+p.A.Netns)
			}
			args = append(args, agent)
			var out []byte
			run := func() (err error) {
				cmd := exec.Command(tester, args...)
				cmd.Env = append(os.Environ(), "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP="+t.TempDir())
				out, err = cmd.CombinedOutput()
				return err
			}
			var err error
			if tt.inside {
				err = p.A.Do(run)
			} else {
				err = run()
			}
			if err != nil || !strings.Contains(string(out), "passed all tests") {
				t.Fatalf("ocf-tester: %v\n%s", err, out)
			}
		})
	}
}
