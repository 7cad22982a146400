package failreport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/nstest"
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
