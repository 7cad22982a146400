package checkpoint

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/ocf"
)

func params(t *testing.T, kv map[string]string) ocf.Params {
	t.Helper()
	env := map[string]string{}
	for k, v := range kv {
		env["OCF_RESKEY_"+k] = v
	}
	p, _ := Agent.ParseParams(ocf.MapLookup(env))
	return p
}

func TestStringParamsListed(t *testing.T) {
	var got []string
	for _, p := range Agent.Params {
		if p.Type == ocf.String {
			got = append(got, p.Name)
		}
	}
	want := slices.Clone(stringParams)
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("string parameters %v, stringParams %v", got, want)
	}
}

// TestParseConfig: every parameter but data_dir has a working default,
// and each bad value is refused with a reason that names it.
func TestParseConfig(t *testing.T) {
	c, err := parseConfig(params(t, map[string]string{"data_dir": "/var/lib/vnfha/checkpoint/ckpt"}), "ckpt:2")
	if err != nil {
		t.Fatal(err)
	}
	if c.resource != "ckpt" || c.socket != "/run/vnfha/checkpoint/ckpt.sock" || c.binary != "/usr/bin/vnfha" ||
		c.replPort != 7420 || c.keyFile != "/etc/corosync/authkey" || c.socketMode != 0o660 || c.syncReplicas != 1 ||
		c.syncMode != "strict" || c.syncTimeout.String() != "1s" || c.maxValue != 1<<20 || c.peersSet {
		t.Errorf("defaults: %+v", c)
	}
	for _, tt := range []struct {
		name string
		kv   map[string]string
		want string
	}{
		{"no data_dir", map[string]string{}, "data_dir is required"},
		{"relative data_dir", map[string]string{"data_dir": "data"}, "data_dir must be an absolute path"},
		{"root data_dir", map[string]string{"data_dir": "/"}, "data_dir cannot be /"},
		{"NUL", map[string]string{"data_dir": "/a\x00b"}, "data_dir holds a NUL byte"},
		{"relative binary", map[string]string{"binary": "vnfha"}, "binary must be an absolute path"},
		{"port 0", map[string]string{"repl_port": "0"}, "repl_port must be 1-65535"},
		{"port huge", map[string]string{"repl_port": "99999999999"}, "repl_port must be 1-65535"},
		{"bad address", map[string]string{"repl_address": "10.0.0.1:7420"}, "repl_address"},
		{"peers without =", map[string]string{"peers": "node2"}, "is not node=host:port"},
		{"peers without port", map[string]string{"peers": "node2=10.0.0.2"}, "is not host:port"},
		{"peers bad port", map[string]string{"peers": "node2=10.0.0.2:0"}, "the port must be 1-65535"},
		{"peers twice", map[string]string{"peers": "node2=10.0.0.2:7420,node2=10.0.0.3:7420"}, "given twice"},
		{"peers bad host", map[string]string{"peers": "node2=$(reboot):7420"}, "no IP address or DNS name"},
		{"tls half", map[string]string{"tls_cert": "/a.pem"}, "go together"},
		{"socket mode", map[string]string{"socket_mode": "rw-rw----"}, "socket_mode must be octal"},
		{"socket mode high", map[string]string{"socket_mode": "4777"}, "socket_mode must be octal"},
		{"socket group", map[string]string{"socket_group": "a b"}, "no group name"},
		{"api listen", map[string]string{"api_listen": "8080"}, "api_listen"},
		{"token without api", map[string]string{"api_token_file": "/etc/token"}, "api_listen is not"},
		{"sync replicas", map[string]string{"sync_replicas": "-1"}, "sync_replicas must be 1-64"},
		{"sync mode", map[string]string{"sync_mode": "async"}, "sync_mode must be strict or available"},
		{"sync timeout", map[string]string{"sync_timeout": "2h"}, "sync_timeout must be 1ms to 1m"},
		{"sync timeout 0", map[string]string{"sync_timeout": "0"}, "sync_timeout must be 1ms to 1m"},
		{"sync replicas 0", map[string]string{"sync_replicas": "0"}, "sync_replicas must be 1-64"},
		{"socket mode without the owner", map[string]string{"socket_mode": "0060"}, "let the owner read and write"},
		{"max value", map[string]string{"max_value": "0"}, "max_value must be 1-"},
		{"max value huge", map[string]string{"max_value": "1099511627776"}, "max_value must be 1-"},
		{"long socket", map[string]string{"socket": "/" + strings.Repeat("s", 120)}, "longer than a unix socket's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.kv["data_dir"]; !ok && tt.name != "no data_dir" {
				tt.kv["data_dir"] = "/var/lib/vnfha/checkpoint/x"
			}
			_, err := parseConfig(params(t, tt.kv), "ckpt")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseConfig = %v, want an error with %q", err, tt.want)
			}
		})
	}
	// A long resource name cannot make a socket path that does not fit.
	if _, err := parseConfig(params(t, map[string]string{"data_dir": "/d"}), strings.Repeat("r", 100)); err == nil {
		t.Error("a resource whose default socket is too long was accepted")
	}
}

// TestResolve: the replication address and the peers default to
// corosync.conf's nodelist.
func TestResolve(t *testing.T) {
	old := corosyncConf
	t.Cleanup(func() { corosyncConf = old })
	corosyncConf = filepath.Join("testdata", "lab3-corosync.conf")
	base := map[string]string{"data_dir": "/var/lib/vnfha/checkpoint/ckpt"}
	c, err := parseConfig(params(t, base), "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	c.node = "node2"
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	if c.replListen() != "198.18.0.2:7420" || c.peerList() != "node1=198.18.0.1:7420,node3=198.18.0.3:7420" {
		t.Errorf("resolved %s, peers %s", c.replListen(), c.peerList())
	}
	argv := c.argv()
	for _, want := range []string{"checkpoint", "serve", "--data-dir=/var/lib/vnfha/checkpoint/ckpt", "--node=node2", "--resource=ckpt",
		"--socket=/run/vnfha/checkpoint/ckpt.sock", "--socket-mode=0660", "--repl-listen=198.18.0.2:7420",
		"--peers=node1=198.18.0.1:7420,node3=198.18.0.3:7420", "--key-file=/etc/corosync/authkey",
		"--sync-replicas=1", "--sync-mode=strict", "--sync-timeout=1s", "--max-value=1048576"} {
		if !slices.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}

	// Not in the nodelist: no default (ERR_ARGS), unless both are given.
	c, _ = parseConfig(params(t, base), "ckpt")
	c.node = "node9"
	if code, _ := ocf.Result(c.resolve()); code != ocf.ErrArgs {
		t.Errorf("node9 resolved with code %d", code)
	}
	c, _ = parseConfig(params(t, map[string]string{"data_dir": "/d", "repl_address": "10.1.1.1", "peers": "none", "repl_port": "7500"}), "ckpt")
	c.node = "node9"
	if err := c.resolve(); err != nil || c.replListen() != "10.1.1.1:7500" || c.peerList() != "" {
		t.Errorf("explicit: %v %s %q", err, c.replListen(), c.peerList())
	}
	// One replica: strict could never write; it runs as available.
	if !slices.Contains(c.argv(), "--sync-mode=available") || slices.ContainsFunc(c.argv(), func(a string) bool { return strings.HasPrefix(a, "--resource") }) {
		t.Errorf("one replica: %q", c.argv())
	}
	// An IPv6 ring0_addr gets brackets.
	dir := t.TempDir()
	corosyncConf = filepath.Join(dir, "corosync.conf")
	if err := os.WriteFile(corosyncConf, []byte("nodelist {\nnode {\nname: a\nring0_addr: 2001:db8::1\n}\nnode {\nname: b\nring0_addr: 2001:db8::2\n}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ = parseConfig(params(t, base), "ckpt")
	c.node = "a"
	if err := c.resolve(); err != nil || c.replListen() != "[2001:db8::1]:7420" || c.peerList() != "b=[2001:db8::2]:7420" {
		t.Errorf("IPv6: %v %s %q", err, c.replListen(), c.peerList())
	}
	// No corosync.conf: one replica, every address.
	corosyncConf = filepath.Join(dir, "missing")
	c, _ = parseConfig(params(t, base), "ckpt")
	c.node = "a"
	if err := c.resolve(); err != nil || c.replListen() != ":7420" || c.peerList() != "" {
		t.Errorf("no corosync.conf: %v %s %q", err, c.replListen(), c.peerList())
	}
	// A corosync.conf that does not parse: ERR_ARGS, and nothing of it quoted.
	if err := os.WriteFile(corosyncConf, []byte("secret-token-123 {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ = parseConfig(params(t, base), "ckpt")
	err = c.resolve()
	if code, reason := ocf.Result(err); code != ocf.ErrArgs || strings.Contains(reason, "secret") {
		t.Errorf("bad corosync.conf: %d %q", code, reason)
	}
}
