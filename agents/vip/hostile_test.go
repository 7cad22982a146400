package vip

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/ocf"
)

// expect is what each action must return for one configuration.
type expect struct {
	validate, probe, start, monitor, stop ocf.Code
}

var (
	// invalid is a configuration that is wrong on every node: ERR_CONFIGURED
	// from validate-all, start and monitor alike (probe included), and a
	// stop that succeeds because nothing can have been started.
	invalid = expect{ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.Success}
	// absent is a configuration that names something this node lacks:
	// ERR_ARGS from validate-all and start, so Pacemaker tries another
	// node, and "not running" from monitor.
	absent = expect{ocf.ErrArgs, ocf.NotRunning, ocf.ErrArgs, ocf.NotRunning, ocf.Success}
	// fine is a configuration that works.
	fine = expect{ocf.Success, ocf.NotRunning, ocf.Success, ocf.Success, ocf.Success}
)

// hostileCase is one configuration fed to every action.
type hostileCase struct {
	name   string
	params map[string]string // OCF_RESKEY_*; network_namespace is A's unless set
	env    map[string]string // environment that replaces the defaults
	want   expect
	reason string // what the reason of a failed validate-all or start says
}

// maxReason is what Pacemaker keeps of an exit reason.
const maxReason = 128

// TestHostileParameters feeds each configuration to every action, as
// Pacemaker would run them on a node: meta-data, validate-all, probe, start,
// recurring monitor, stop. Each must give its code with a short one-line
// reason, and a failed start and every stop must leave nothing behind: no
// address in the namespace, no announcer, no file in HA_RSCTMP.
func TestHostileParameters(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	toPasswd := filepath.Join(dir, "passwd-link")
	toNetns := filepath.Join(dir, "netns-link")
	for _, l := range [][2]string{{"/etc/passwd", toPasswd}, {filepath.Join("/run/netns", f.A.Netns), toNetns}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	// A file under /run/netns that is not a mounted namespace, as a failed
	// "ip netns add" leaves behind.
	stale := fmt.Sprintf("vnfha-t-%d-stale", os.Getpid())
	if err := os.WriteFile(filepath.Join("/run/netns", stale), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/run/netns", stale)) })

	ip := vipOf("IPv4").String()
	ns := func(v string) map[string]string {
		return map[string]string{"ip": ip, "network_namespace": v, "arp_count": "1"}
	}
	long := strings.Repeat("n", 5000)
	cases := []hostileCase{
		// Defect 1: a network_namespace that is no network namespace.
		{name: "netns /etc", params: ns("/etc"), want: invalid, reason: `network_namespace "/etc" is not a network namespace (it is a directory)`},
		{name: "netns /etc/passwd", params: ns("/etc/passwd"), want: invalid, reason: "is not a network namespace (it is a regular file)"},
		{name: "netns /dev/zero", params: ns("/dev/zero"), want: invalid, reason: "is not a network namespace (it is a character device)"},
		{name: "netns directory", params: ns(dir), want: invalid, reason: "is not a network namespace (it is a directory)"},
		{name: "netns fifo", params: ns(fifo), want: invalid, reason: "is not a network namespace (it is a fifo)"},
		{name: "netns symlink to a file", params: ns(toPasswd), want: invalid, reason: "is not a network namespace (it is a regular file)"},
		{name: "netns mount namespace", params: ns("/proc/self/ns/mnt"), want: invalid, reason: "is not a network namespace (it is a mount namespace)"},
		{name: "netns PID namespace", params: ns("/proc/self/ns/pid"), want: invalid, reason: "is not a network namespace (it is a PID namespace)"},
		{name: "netns long name", params: ns(long), want: invalid, reason: "is too long for a name (max 255 bytes)"},
		{name: "netns long path", params: ns("/" + long), want: invalid, reason: "is too long for a path (max 4095 bytes)"},
		{name: "netns long component", params: ns("/run/" + long[:300]), want: invalid, reason: "has a path component over 255 bytes"},
		// Defect 6: a name never leaves /run/netns.
		{name: "netns ../../etc", params: ns("../../etc"), want: invalid, reason: "a name must not hold '/'"},
		{name: "netns ..", params: ns(".."), want: invalid, reason: "a name must not hold '/'"},
		{name: "netns relative path", params: ns("sub/x"), want: invalid, reason: "a name must not hold '/'"},
		{name: "netns control character", params: ns("a\nb"), want: invalid, reason: "holds a control character"},
		// What this node lacks, another may have.
		{name: "netns missing name", params: ns("vnfha-none"), want: absent, reason: `network_namespace "vnfha-none" does not exist on this node`},
		{name: "netns missing path", params: ns("/nonexistent/ns"), want: absent, reason: "does not exist on this node"},
		{name: "netns through a file", params: ns("/etc/passwd/x"), want: absent, reason: "does not exist on this node"},
		{name: "netns name not mounted", params: ns(stale), want: absent, reason: "is not a network namespace on this node"},
		// And what works.
		{name: "netns by name", params: ns(f.A.Netns), want: fine},
		{name: "netns by path", params: ns(filepath.Join("/run/netns", f.A.Netns)), want: fine},
		{name: "netns by symlink", params: ns(toNetns), want: fine},
	}
	before := addrSnapshot(t, f.A)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.hostile(t, tc, before)
		})
	}
}

// hostile runs every action for tc and checks codes, reasons and leftovers.
func (f *fixture) hostile(t *testing.T, tc hostileCase, before []string) {
	t.Helper()
	if code, _ := f.runEnv(t, ocf.ActionMetaData, false, tc); code != ocf.Success {
		t.Errorf("meta-data = %v, want success", code)
	}
	reasons := map[string]string{}
	for _, step := range []struct {
		action string
		probe  bool
		want   ocf.Code
	}{
		{ocf.ActionValidateAll, false, tc.want.validate},
		{ocf.ActionMonitor, true, tc.want.probe},
		{ocf.ActionStart, false, tc.want.start},
		{ocf.ActionMonitor, false, tc.want.monitor},
		{ocf.ActionStop, false, tc.want.stop},
	} {
		label := step.action
		if step.probe {
			label = "probe"
		}
		code, reason := f.runEnv(t, step.action, step.probe, tc)
		if code != step.want {
			t.Errorf("%s = %d (%v), want %d (%v); reason %q", label, int(code), code, int(step.want), step.want, reason)
		}
		reasons[label] = reason
		if step.want.IsFailure() && tc.reason != "" && !strings.Contains(reason, tc.reason) {
			t.Errorf("%s reason %q does not say %q", label, reason, tc.reason)
		}
		if label == ocf.ActionStart && code != ocf.Success || label == ocf.ActionStop {
			f.checkNothingLeft(t, label, before)
		}
	}
	// One misconfiguration, one answer: the same reason from each action
	// that refuses it.
	if tc.want == invalid {
		for _, l := range []string{"probe", ocf.ActionStart, ocf.ActionMonitor} {
			if reasons[l] != reasons[ocf.ActionValidateAll] {
				t.Errorf("%s says %q, validate-all %q", l, reasons[l], reasons[ocf.ActionValidateAll])
			}
		}
	}
}

// runEnv runs one action in-process with tc's parameters and environment
// and returns its code and its exit reason, after checking that the agent
// wrote at most one reason, on one line, no longer than Pacemaker keeps.
// It fails the test rather than hang if the action blocks (an open of a
// fifo would).
func (f *fixture) runEnv(t *testing.T, action string, probe bool, tc hostileCase) (ocf.Code, string) {
	t.Helper()
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE":        "vip-test",
		"HA_RSCTMP":                    f.rscTmp,
		"OCF_RESKEY_CRM_meta_timeout":  "20000",
		"OCF_RESKEY_network_namespace": f.A.Netns,
		"OCF_RESKEY_CRM_meta_interval": "10000",
	}
	if probe || action != ocf.ActionMonitor {
		env["OCF_RESKEY_CRM_meta_interval"] = "0"
	}
	for k, v := range tc.params {
		env["OCF_RESKEY_"+k] = v
	}
	for k, v := range tc.env {
		env[k] = v
	}
	type result struct {
		code   ocf.Code
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := Agent.Run(context.Background(), []string{action}, ocf.MapLookup(env), &stdout, &stderr)
		done <- result{code, stderr.String()}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return within 30s", action)
	}
	var reasons []string
	for _, line := range strings.SplitAfter(r.stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "ocf-exit-reason:"); ok {
			if !strings.HasSuffix(rest, "\n") {
				t.Errorf("%s: exit reason not ended by a newline: %q", action, line)
			}
			reasons = append(reasons, strings.TrimSuffix(rest, "\n"))
		}
	}
	if len(reasons) > 1 {
		t.Errorf("%s wrote %d exit reasons: %q", action, len(reasons), reasons)
	}
	reason := strings.Join(reasons, "")
	if len(reason) > maxReason {
		t.Errorf("%s: exit reason of %d bytes, Pacemaker keeps %d: %q", action, len(reason), maxReason, reason)
	}
	if strings.ContainsFunc(reason, unicode.IsControl) {
		t.Errorf("%s: exit reason holds a control character: %q", action, reason)
	}
	return r.code, reason
}

// addrSnapshot lists every address on every link of s's namespace.
func addrSnapshot(t *testing.T, s *nstest.Side) []string {
	t.Helper()
	as, err := s.Handle(t).AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%d %s", a.LinkIndex, a.IPNet))
	}
	slices.Sort(out)
	return out
}

// checkNothingLeft fails the test if A's namespace has an address it did
// not have before, an announcer of this fixture runs, or HA_RSCTMP holds a
// file.
func (f *fixture) checkNothingLeft(t *testing.T, after string, before []string) {
	t.Helper()
	if now := addrSnapshot(t, f.A); !slices.Equal(now, before) {
		t.Errorf("after %s, %s has addresses %v, had %v", after, f.A.Netns, now, before)
	}
	if pids := f.announcers(t); len(pids) > 0 {
		t.Errorf("after %s, announcers %v still run", after, pids)
	}
	ents, err := os.ReadDir(f.rscTmp)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("after %s, HA_RSCTMP holds %s", after, e.Name())
	}
}

// announcers lists the announcer processes started with this fixture's
// HA_RSCTMP: their command line names it. Others may run at the same time
// (other tests, a lab on this machine).
func (f *fixture) announcers(t *testing.T) []int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(b, []byte("\x00"+ocf.HelperArg+"\x00"+name+"\x00")) && bytes.Contains(b, []byte(f.rscTmp)) {
			var pid int
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			out = append(out, pid)
		}
	}
	return out
}
