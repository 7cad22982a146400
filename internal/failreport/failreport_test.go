package failreport

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/internal/qbipc"
)

func TestReportNative(t *testing.T) {
	full := Report{Instance: "app", Node: "node1", Provider: "vnfha", Type: "vnfc", FeatureSet: "3.16.1"}
	tests := []struct {
		name   string
		change func(*Report)
		want   bool
	}{
		{"Pacemaker 2.1", func(*Report) {}, true},
		{"run by hand: no feature set", func(r *Report) { r.FeatureSet = "" }, false},
		{"a feature set this client was not written for", func(r *Report) { r.FeatureSet = "4.0.0" }, false},
		{"no node", func(r *Report) { r.Node = "" }, false},
		{"no type", func(r *Report) { r.Type = "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := full
			tt.change(&r)
			if got := r.Native(); got != tt.want {
				t.Errorf("Native() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReportFallsBack: with all the controller's IPC needs but no
// controller to answer (a fresh network namespace has no crmd socket), the
// failure goes out through crm_resource, and the log says why.
func TestReportFallsBack(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewPair(t).A
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "crm_resource")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Report{Instance: "app", Node: "node1", Provider: "vnfha", Type: "vnfc", FeatureSet: "3.16.1", CrmResource: bin}
	var logged []string
	var how string
	err := ns.Do(func() error {
		var err error
		how, err = r.Send(func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) })
		return err
	})
	if err != nil || how != "crm_resource" {
		t.Fatalf("send = %q, %v; want crm_resource", how, err)
	}
	got, _ := os.ReadFile(calls)
	if strings.TrimSpace(string(got)) != "--fail --resource app --node node1" {
		t.Errorf("crm_resource called with %q", got)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "controller's IPC") || !strings.Contains(logged[0], "crmd") {
		t.Errorf("log %q does not say why the IPC was not used", logged)
	}
}

func TestFailCountRise(t *testing.T) {
	tests := []struct {
		featureSet string
		lo, hi     int
	}{
		{"3.16.1", 1, 2}, // Pacemaker 2.1.5, the lab's
		{"3.15.0", 1, 2}, // 2.1.4
		{"3.0.14", 1, 2}, // 1.1.18
		{"3.16", 1, 2},
		{"3.17.4", 1, 1}, // 2.1.6, the first with the fix
		// Development trees between 2.1.5 and 2.1.6: the fix came in
		// under 3.17.0 and is in no tree of 3.17.0 to 3.17.2.
		{"3.17.0", 1, 2},
		{"3.17.2", 1, 2},
		{"3.17.3", 1, 2},
		{"3.17", 1, 2},
		{"3.18.0", 1, 1}, // 2.1.7
		{"3.19.6", 1, 1}, // 2.1.11
		{"3.20.0", 1, 1}, // 3.0.0
		{"4.0.0", 1, 1},
		{"10.1", 1, 1}, // compared as numbers, not as text
		{"", 0, 0},
		{"3", 0, 0},
		{"3.x.1", 0, 0},
		{"-3.16", 0, 0},
		{"3.-16", 0, 0},
		{"abc", 0, 0},
		// Numbers as Pacemaker writes them, nothing else.
		{"+3.16.1", 0, 0},
		{"3.+16.1", 0, 0},
		{" 3.16.1", 0, 0},
		{"3.16.1 ", 0, 0},
		{"3.16.1.0", 0, 0},
		{"3..1", 0, 0},
		{"3.16.", 0, 0},
		{"99999999999999999999.1", 0, 0},
	}
	for _, tt := range tests {
		if lo, hi := FailCountRise(tt.featureSet); lo != tt.lo || hi != tt.hi {
			t.Errorf("FailCountRise(%q) = %d, %d; want %d, %d", tt.featureSet, lo, hi, tt.lo, tt.hi)
		}
	}
}

// logger records what a helper would log.
type logger struct{ info, warn, err []string }

func (l *logger) Infof(f string, a ...any)  { l.info = append(l.info, fmt.Sprintf(f, a...)) }
func (l *logger) Warnf(f string, a ...any)  { l.warn = append(l.warn, fmt.Sprintf(f, a...)) }
func (l *logger) Errorf(f string, a ...any) { l.err = append(l.err, fmt.Sprintf(f, a...)) }

// TestTellSaysTheRise: the line a report leaves in the node's log says by
// how much the fail count rises, from the DC's feature set in the report.
func TestTellSaysTheRise(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewPair(t).A
	bin := filepath.Join(t.TempDir(), "crm_resource")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ featureSet, want string }{
		{"3.16.1", "through crm_resource; Pacemaker before 2.1.6 adds 2 to the fail count for it, or 1 when its two increments race"},
		{"3.17.4", "through crm_resource; fail count +1"},
		{"", "through crm_resource"},
	}
	for _, tt := range tests {
		r := Report{Instance: "app", Node: "node1", Provider: "vnfha", Type: "vnfc", FeatureSet: tt.featureSet, CrmResource: bin}
		var l logger
		if err := ns.Do(func() error { r.Tell(&l); return nil }); err != nil {
			t.Fatal(err)
		}
		want := "reported the failure of app on node1 to Pacemaker " + tt.want
		if len(l.info) != 1 || l.info[0] != want || len(l.err) != 0 {
			t.Errorf("feature set %q: logged %q, errors %q; want %q", tt.featureSet, l.info, l.err, want)
		}
	}
}

// TestRecordedReport holds FailCountRise to what Pacemaker 2.1.5 did with
// one report (testdata/README.md): the status section recorded after it
// holds one injected failure, asyncmon with interval 0 from outside the
// cluster (transition -1), and a fail count within FailCountRise of the
// feature set that failure was recorded with; and the DC's log of a
// report whose two increments raced shows the count rise by 1 only.
func TestRecordedReport(t *testing.T) {
	doc := etree.NewDocument()
	if err := doc.ReadFromFile("testdata/one-report-2.1.5.status.xml"); err != nil {
		t.Fatal(err)
	}
	node := doc.FindElement("//node_state[@uname='node2']")
	if node == nil {
		t.Fatal("no node_state of node2")
	}
	var injected []*etree.Element
	for _, op := range node.FindElements(".//lrm_resource[@id='app']/lrm_rsc_op") {
		if op.SelectAttrValue("operation", "") == "asyncmon" {
			injected = append(injected, op)
		}
	}
	if len(injected) != 1 {
		t.Fatalf("%d asyncmon entries, want the one last_failure of one report", len(injected))
	}
	op := injected[0]
	if id, interval := op.SelectAttrValue("id", ""), op.SelectAttrValue("interval", ""); id != "app_last_failure_0" || interval != "0" {
		t.Errorf("the injected failure is %s with interval %s, want app_last_failure_0 with 0", id, interval)
	}
	if key := strings.Split(op.SelectAttrValue("transition-key", ""), ":"); len(key) != 4 || key[1] != "-1" {
		t.Errorf("transition key %v: not from outside the cluster (transition -1)", key)
	}
	count := node.FindElement(".//transient_attributes//nvpair[@name='fail-count-app#asyncmon_0']")
	if count == nil {
		t.Fatal("no fail count")
	}
	fs := op.SelectAttrValue("crm_feature_set", "")
	lo, hi := FailCountRise(fs)
	got, err := strconv.Atoi(count.SelectAttrValue("value", ""))
	if err != nil || got != hi {
		t.Errorf("fail count after one report %d (%v); FailCountRise(%q) says at most %d", got, err, fs, hi)
	}

	// The raced report: the controller asked for two increments, the
	// attribute manager expanded both from the same value.
	log, err := os.ReadFile("testdata/one-report-2.1.5-raced.dc.log")
	if err != nil {
		t.Fatal(err)
	}
	asked := strings.Count(string(log), "Updating failcount for app on node2 after failed asyncmon")
	set := regexp.MustCompile(`Setting fail-count-app#asyncmon_0\[node2\]: (\d+) -> (\d+)`).FindAllStringSubmatch(string(log), -1)
	if asked != 2 || len(set) != 1 {
		t.Fatalf("the raced log asks %d increments and sets the count %d times, want 2 and 1", asked, len(set))
	}
	from, _ := strconv.Atoi(set[0][1])
	to, _ := strconv.Atoi(set[0][2])
	if to-from != lo {
		t.Errorf("the raced report raised the count by %d (%d -> %d); FailCountRise(%q) says at least %d", to-from, from, to, fs, lo)
	}
}

// squatterEnv tells TestSquatterHelper which abstract name to hold.
const squatterEnv = "FAILREPORT_SQUATTER"

// TestReportToImpostor: when the controller's socket name is held by a
// process of another user (nobody here: any local user can bind an
// abstract name while Pacemaker is down), the report is refused and no
// crm_resource is run either: the controller is not running, and
// crm_resource's libqb would open, truncate and may unlink, as root, the
// files that process names before Pacemaker checks who it is.
func TestReportToImpostor(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewPair(t).A
	cmd := exec.Command("ip", "netns", "exec", ns.Netns, os.Args[0], "-test.run=^TestSquatterHelper$")
	cmd.Env = append(os.Environ(), squatterEnv+"=crmd")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "listening\n" {
		t.Fatalf("the squatter did not listen: %q %v", line, err)
	}

	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "crm_resource")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Report{Instance: "app", Node: "node1", Provider: "vnfha", Type: "vnfc", FeatureSet: "3.16.1", CrmResource: bin}
	var how string
	err = ns.Do(func() error {
		var err error
		how, err = r.Send(func(string, ...any) {})
		return err
	})
	if !errors.Is(err, qbipc.ErrNotAuthentic) || how != "" {
		t.Errorf("send = %q, %v; want it refused as not Pacemaker's", how, err)
	}
	if got, _ := os.ReadFile(calls); len(got) != 0 {
		t.Errorf("crm_resource was run (%q) to talk to the impostor", got)
	}
}

// TestSquatterHelper holds an abstract socket name as nobody, as a local
// user would, until it is killed. It does nothing elsewhere.
func TestSquatterHelper(t *testing.T) {
	name := os.Getenv(squatterEnv)
	if name == "" {
		t.Skip("helper of TestReportToImpostor")
	}
	const nobody = 65534
	if err := syscall.Setgroups(nil); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setgid(nobody); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setuid(nobody); err != nil {
		t.Fatal(err)
	}
	// libqb's form of the address: the whole of sun_path is the name.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@" + name + strings.Repeat("\x00", 107-len(name)), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Stdout.WriteString("listening\n")
	time.Sleep(time.Minute)
}
