package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimalConfig = `
haproxy:
  - name: lb1
    admin: tcp://198.18.1.101:9999
services:
  - name: web
    resource: web-clone
    backend: be_vnfc
    port: 8080
`

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"resync", c.Resync.Duration, DefaultResync},
		{"listen", *c.Listen, DefaultListen},
		{"prefix", c.ServerPrefix, DefaultPrefix},
		{"address attribute", c.AddressAttribute, DefaultAddressAttr},
		{"lb timeout", c.HAProxy[0].Timeout.Duration, DefaultLBTimeout},
		{"drain", s.DrainTimeout.Duration, DefaultDrainTimeout},
		{"inter", s.Check.Inter.Duration, DefaultInter},
		{"rise", s.Check.Rise, DefaultRise},
		{"fall", s.Check.Fall, DefaultFall},
		{"weight", *s.Check.Weight, DefaultWeight},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"empty", "", []string{"empty"}},
		{"unknown top key", minimalConfig + "resynk: 5s\n", []string{"line 10", `unknown key "resynk"`}},
		{"unknown nested key", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    prot: 1", 1), []string{"line 10", "prot"}},
		{"bare number duration", minimalConfig + "resync: 5\n", []string{"line 10", "not a duration"}},
		{"bad duration", minimalConfig + "resync: fast\n", []string{"line 10", `"fast"`}},
		{"tiny resync", minimalConfig + "resync: 1ms\n", []string{"line 10", "resync"}},
		{"port type", strings.Replace(minimalConfig, "8080", "http", 1), []string{"line 9", "http"}},
		{"port range", strings.Replace(minimalConfig, "8080", "70000", 1), []string{"port", "70000"}},
		{"no haproxy", "services: []\n", []string{"haproxy"}},
		{"admin hostname", strings.Replace(minimalConfig, "198.18.1.101", "lb1.example", 1), []string{"line 4", "haproxy[0].admin", "tcp://IP:port"}},
		{"admin relative", strings.Replace(minimalConfig, "tcp://198.18.1.101:9999", "run/admin.sock", 1), []string{"haproxy[0].admin"}},
		{"unknown haproxy ref", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    haproxy: [lb9]", 1), []string{"line 10", `"lb9"`}},
		{"node address", minimalConfig + "node_addresses:\n  node1: node1.example\n", []string{"line 11", "node_addresses.node1"}},
		{"duplicate backend", minimalConfig + "  - name: web2\n    resource: x\n    backend: be_vnfc\n    port: 1\n", []string{"line 12", "already the backend of service web"}},
		{"two documents", minimalConfig + "---\nresync: 1s\n", []string{"more than one"}},
		{"listen", minimalConfig + "listen: localhost:1\n", []string{"line 10", "listen"}},
		{"weight", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    check: {weight: 999}", 1), []string{"line 10", "weight"}},
		{"not yaml", "haproxy: [\n", []string{"line"}},
		// The sinks and the VNFM ids.
		{"webhook without cluster", minimalConfig + "webhooks:\n  - {name: ops, url: https://198.18.9.1/h, secret_file: /etc/s}\n", []string{"cluster", "part of every event's id"}},
		{"webhook unknown key", "cluster: c\n" + minimalConfig + "webhooks:\n  - {name: ops, url: https://198.18.9.1/h, secret: x}\n", []string{"line 12", `unknown key "secret"`}},
		{"webhook no secret", "cluster: c\n" + minimalConfig + "webhooks:\n  - {name: ops, url: https://198.18.9.1/h}\n", []string{"line 12", "secret_file"}},
		{"webhook twice", "cluster: c\n" + minimalConfig + "webhooks:\n  - {name: a, url: u, secret_file: f}\n  - {name: a, url: u, secret_file: f}\n", []string{"line 13", `"a" is used twice`}},
		{"vnfm same name", "cluster: c\n" + minimalConfig + "webhooks:\n  - {name: a, url: u, secret_file: f}\nvnfm: {name: a, api_root: r, token_url: t, client_id: i}\n", []string{"line 13", "vnfm.name"}},
		{"vnfm incomplete", "cluster: c\n" + minimalConfig + "vnfm: {api_root: https://198.18.9.1:9890}\n", []string{"line 11", "token_url"}},
		{"vnfm unknown key", "cluster: c\n" + minimalConfig + "vnfm: {api_root: r, token_url: t, client_id: i, client_secret: s}\n", []string{"line 11", `unknown key "client_secret"`}},
		{"max below min backoff", minimalConfig + "delivery: {min_backoff: 2s, max_backoff: 1s}\n", []string{"line 10", "max_backoff"}},
		{"zero delivery timeout", minimalConfig + "delivery: {timeout: 0s}\n", []string{"line 10", "delivery.timeout"}},
		{"vnfc id empty", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    vnfc_instance_ids: {node1: \"\"}", 1), []string{"line 10", "heals every VNFC"}},
		{"vnfc id space", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    vnfc_instance_ids: {node1: \"a b\"}", 1), []string{"line 10", "space"}},
		{"vnf id long", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    vnf_instance_id: "+strings.Repeat("x", 256), 1), []string{"line 10", "255"}},
		{"unrecoverable tiny", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    unrecoverable_after: 10ms", 1), []string{"line 10", "unrecoverable_after"}},
		// An explicit zero is a value, not "the default": 0s of drain
		// meaning 30s would surprise whoever wrote it.
		{"zero resync", minimalConfig + "resync: 0s\n", []string{"line 10", "resync"}},
		{"zero drain", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    drain_timeout: 0s", 1), []string{"line 10", "drain_timeout"}},
		{"zero inter", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    check: {inter: 0s}", 1), []string{"line 10", "check.inter"}},
		{"zero rise", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    check: {rise: 0}", 1), []string{"line 10", "rise"}},
		{"zero timeout", strings.Replace(minimalConfig, "9999", "9999\n    timeout: 0s", 1), []string{"line 5", "timeout"}},
		// HAProxy 2.6 gives a dynamic server weight 1 when asked for 0.
		{"zero weight", strings.Replace(minimalConfig, "port: 8080", "port: 8080\n    check: {weight: 0}", 1), []string{"line 10", "weight"}},
		// Characters HAProxy refuses in a backend name: every reconcile
		// would fail while --check-config said the file was valid.
		{"backend charset", strings.Replace(minimalConfig, "be_vnfc", "be#vnfc", 1), []string{"line 8", "backend"}},
		{"backend comma", strings.Replace(minimalConfig, "be_vnfc", "be,vnfc", 1), []string{"line 8", "backend"}},
		// What HAProxy's client would dial differs from what was checked.
		{"admin query", strings.Replace(minimalConfig, "tcp://198.18.1.101:9999", "unix:///run/haproxy.sock?x=1", 1), []string{"line 4", "haproxy[0].admin"}},
		{"admin tcp path", strings.Replace(minimalConfig, "tcp://198.18.1.101:9999", "tcp://198.18.1.101:9999/", 1), []string{"line 4", "haproxy[0].admin"}},
		{"admin tcp user", strings.Replace(minimalConfig, "tcp://198.18.1.101:9999", "tcp://u@198.18.1.101:9999", 1), []string{"line 4", "haproxy[0].admin"}},
		{"resource empty", strings.Replace(minimalConfig, "resource: web-clone", "resource: \"\"", 1), []string{"line 7", "resource"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfigFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(good, []byte(minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(good); err != nil {
		t.Errorf("good file: %v", err)
	}
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(minimalConfig+"#"+strings.Repeat("x", maxConfigSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}

// The shipped example must always load.
func TestExampleConfig(t *testing.T) {
	if _, err := LoadConfig("../examples/bridge.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestAddress(t *testing.T) {
	c, err := ParseConfig([]byte(minimalConfig + "node_addresses:\n  node1: 198.18.1.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	attrs := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		node    string
		attr    map[string]string
		want    string
		wantErr string
	}{
		{"node1", map[string]string{"vnfha-address": "10.0.0.1"}, "198.18.1.1", ""}, // the config wins
		{"node2", map[string]string{"vnfha-address": " 198.18.1.2 "}, "198.18.1.2", ""},
		{"node3", map[string]string{"vnfha-address": "2001:2::3"}, "2001:2::3", ""},
		{"node4", map[string]string{"vnfha-address": "::ffff:198.18.1.4"}, "198.18.1.4", ""},
		{"node5", map[string]string{"vnfha-address": "node5.lan"}, "", "not an IP address"},
		{"node6", nil, "", "pcs node attribute node6 vnfha-address=IP"},
	}
	for _, tt := range tests {
		a, err := c.Address(tt.node, attrs(tt.attr))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.node, err, tt.wantErr)
			}
			continue
		}
		if err != nil || a.String() != tt.want {
			t.Errorf("%s: %v, %v; want %s", tt.node, a, err, tt.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(minimalConfig))
	f.Add([]byte(minimalConfig + "resync: 2s\nnode_addresses: {node1: 198.18.1.1}\n"))
	f.Add([]byte("haproxy: [{name: a, admin: /x}]\nservices: [{name: s, resource: r, backend: b, port: 1, check: {inter: 1s}}]\n"))
	f.Add([]byte("cluster: c\n" + minimalConfig + "webhooks: [{name: w, url: https://198.18.9.1/h, secret_file: /s, types: [vnfc.*]}]\n" +
		"vnfm: {api_root: https://198.18.9.1, token_url: https://198.18.9.1/t, client_id: i, additional_params: {all: false, n: [1, {a: b}]}}\n" +
		"delivery: {timeout: 5s, min_backoff: 100ms, max_backoff: 1m}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		// Whatever is accepted is complete: the bridge relies on it.
		if c.Resync.Duration <= 0 || c.Listen == nil || c.ServerPrefix == "" || len(c.HAProxy) == 0 || len(c.Services) == 0 {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		for _, s := range c.Services {
			if s.Check.Weight == nil || s.Check.Rise < 1 || s.Check.Inter.Duration < 10*time.Millisecond || s.Port < 1 {
				t.Fatalf("accepted an incomplete service: %+v", s)
			}
			for node, id := range s.VNFCInstanceIDs {
				if node == "" || id == "" {
					t.Fatalf("accepted an empty VNFC id mapping %q=%q", node, id)
				}
			}
		}
		d := c.Delivery
		if d.Timeout.Duration <= 0 || d.MinBackoff.Duration <= 0 || d.MaxBackoff.Duration < d.MinBackoff.Duration {
			t.Fatalf("accepted delivery settings %+v", d)
		}
		if c.HasSinks() && c.Cluster == "" {
			t.Fatal("accepted sinks without a cluster name")
		}
	})
}
