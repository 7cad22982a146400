package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBridgeCheckConfig: --check-config exits 0 on a valid file and
// non-zero with the key and line on a bad one, without starting anything.
func TestBridgeCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"example", []string{"bridge", "--check-config", "--config", "../../examples/bridge.yaml"}, exitOK, "valid (2 HAProxy, 1 services)", ""},
		{"unknown key", []string{"bridge", "--check-config", "-c", write("typo.yaml", "haproxy: []\nresynk: 5s\n")}, exitError, "", `line 2: unknown key "resynk"`},
		{"bad value", []string{"bridge", "--check-config", "-c", write("dur.yaml", "resync: 5\n")}, exitError, "", "line 1: \"5\" is not a duration"},
		{"missing file", []string{"bridge", "--check-config", "-c", filepath.Join(dir, "nope.yaml")}, exitError, "", "no such file"},
		{"extra argument", []string{"bridge", "run"}, exitUsage, "", `unexpected argument "run"`},
		{"watch-cib bad resync", []string{"bridge", "watch-cib", "--resync", "1ms"}, exitUsage, "", "at least 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}.run(tt.args)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errb.String(), tt.code, tt.out, tt.err)
			}
		})
	}
}
