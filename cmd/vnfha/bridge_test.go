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
	base := "cluster: lab\nhaproxy: [{name: lb1, admin: tcp://198.18.1.101:9999}]\nservices: [{name: web, resource: web-clone, backend: be, port: 80}]\n"
	secret := write("webhook.secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"example", []string{"bridge", "--check-config", "--config", "../../examples/bridge.yaml"}, exitOK, "valid (2 HAProxy, 1 services, 0 event sinks)", ""},
		{"unknown key", []string{"bridge", "--check-config", "-c", write("typo.yaml", "haproxy: []\nresynk: 5s\n")}, exitError, "", `line 2: unknown key "resynk"`},
		{"bad value", []string{"bridge", "--check-config", "-c", write("dur.yaml", "resync: 5\n")}, exitError, "", "line 1: \"5\" is not a duration"},
		{"missing file", []string{"bridge", "--check-config", "-c", filepath.Join(dir, "nope.yaml")}, exitError, "", "no such file"},
		{"webhook", []string{"bridge", "--check-config", "-c", write("hook.yaml", base+"webhooks: [{name: ops, url: https://198.18.9.1/h, secret_file: "+secret+"}]\n")}, exitOK, "1 event sinks", ""},
		// The files are read: a missing secret is found before the
		// bridge starts, named by its key.
		{"webhook secret missing", []string{"bridge", "--check-config", "-c", write("nosecret.yaml", base+"webhooks: [{name: ops, url: https://198.18.9.1/h, secret_file: "+filepath.Join(dir, "none")+"}]\n")}, exitError, "", "webhooks[0] (ops)"},
		{"webhook in clear", []string{"bridge", "--check-config", "-c", write("clear.yaml", base+"webhooks: [{name: ops, url: http://198.18.9.1/h, secret_file: "+secret+"}]\n")}, exitError, "", "allow_http"},
		{"vnfm secret missing", []string{"bridge", "--check-config", "-c", write("vnfm.yaml", base+"vnfm: {api_root: https://198.18.9.1:9890, token_url: https://198.18.9.1:9890/token, client_id: vnfha, client_secret_file: "+filepath.Join(dir, "none")+"}\n")}, exitError, "", "vnfm (vnfm)"},
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
