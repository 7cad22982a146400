package vnfc

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

func params(t testing.TB, m map[string]string) ocf.Params {
	t.Helper()
	env := map[string]string{}
	for k, v := range m {
		env["OCF_RESKEY_"+k] = v
	}
	p, err := Agent.ParseParams(ocf.MapLookup(env))
	if err != nil {
		t.Fatalf("ParseParams: %v", err)
	}
	return p
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		in    map[string]string
		check func(t *testing.T, c *config)
		err   string
	}{
		{
			name: "defaults",
			in:   map[string]string{"command": "/usr/bin/vnfc --config '/etc/vnfc/a b.conf'"},
			check: func(t *testing.T, c *config) {
				want := &config{
					argv:        []string{"/usr/bin/vnfc", "--config", "/etc/vnfc/a b.conf"},
					stopSignal:  syscall.SIGTERM,
					stopTimeout: 20 * time.Second,
					settle:      100 * time.Millisecond,
					backend:     backendProcess,
					fastFail:    true,
					tlsVerify:   true,
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "everything",
			in: map[string]string{
				"command": "vnfc", "user": "nobody", "group": "nogroup", "workdir": "/srv", "environment": `A=1 'B=two words' C=`,
				"pidfile": "/run/vnfc.pid", "stop_signal": "SIGINT", "stop_timeout": "5s", "health": "https://[::1]:8443/healthz",
				"health_timeout": "750ms", "log_file": "/var/log/vnfc.log", "fast_fail": "false",
				"promote_command": "/usr/lib/vnfc/role 'promoted'", "demote_command": "http://127.0.0.1:8080/role/unpromoted",
			},
			check: func(t *testing.T, c *config) {
				if c.stopSignal != syscall.SIGINT || c.stopTimeout != 5*time.Second || c.fastFail {
					t.Errorf("stop %v %v, fast_fail %v", c.stopSignal, c.stopTimeout, c.fastFail)
				}
				if !reflect.DeepEqual(c.env, []string{"A=1", "B=two words", "C="}) {
					t.Errorf("env %q", c.env)
				}
				if c.health.url.String() != "https://[::1]:8443/healthz" || c.health.timeout != 750*time.Millisecond {
					t.Errorf("health %v", c.health)
				}
				if !reflect.DeepEqual(c.promote.argv, []string{"/usr/lib/vnfc/role", "promoted"}) || c.demote.url.Host != "127.0.0.1:8080" {
					t.Errorf("hooks %v %v", c.promote, c.demote)
				}
			},
		},
		{name: "signal by number", in: map[string]string{"command": "x", "stop_signal": "2"}, check: func(t *testing.T, c *config) {
			if c.stopSignal != syscall.SIGINT {
				t.Errorf("signal %v", c.stopSignal)
			}
		}},
		{name: "health none", in: map[string]string{"command": "x", "health": "none"}, check: func(t *testing.T, c *config) {
			if c.health != nil {
				t.Errorf("health %v", c.health)
			}
		}},
		{name: "tcp health", in: map[string]string{"command": "x", "health": "tcp://[2001:2::1]:80"}, check: func(t *testing.T, c *config) {
			if c.health.addr != "[2001:2::1]:80" {
				t.Errorf("health %v", c.health)
			}
		}},
		{name: "exec health", in: map[string]string{"command": "x", "health": "exec:/usr/bin/check --deep 'a b'"}, check: func(t *testing.T, c *config) {
			if !reflect.DeepEqual(c.health.argv, []string{"/usr/bin/check", "--deep", "a b"}) {
				t.Errorf("health %v", c.health)
			}
		}},
		{name: "systemd unit only", in: map[string]string{"backend": "systemd", "unit": "vnfc-sig@1.service"}},
		{name: "systemd transient", in: map[string]string{"backend": "systemd", "command": "/bin/sleep 1"}},
		{name: "no command", in: map[string]string{}, err: "command is required"},
		{name: "empty command", in: map[string]string{"command": "  ''"}, err: "command is required"},
		{name: "systemd with nothing", in: map[string]string{"backend": "systemd"}, err: "needs unit, command, or both"},
		{name: "unit without systemd", in: map[string]string{"command": "x", "unit": "a.service"}, err: "only for backend=systemd"},
		{name: "bad unit", in: map[string]string{"backend": "systemd", "unit": "vnfc"}, err: "no type suffix"},
		{name: "transient not a service", in: map[string]string{"backend": "systemd", "unit": "vnfc.target", "command": "x"}, err: "must be a .service"},
		{name: "unit with a slash", in: map[string]string{"backend": "systemd", "unit": "../a.service"}, err: "invalid character"},
		{name: "pidfile with systemd", in: map[string]string{"backend": "systemd", "command": "x", "pidfile": "/run/x.pid"}, err: "only for backend=process"},
		{name: "relative workdir", in: map[string]string{"command": "x", "workdir": "srv"}, err: "absolute path"},
		{name: "relative log", in: map[string]string{"command": "x", "log_file": "log"}, err: "absolute path"},
		{name: "bad env name", in: map[string]string{"command": "x", "environment": "A-B=1"}, err: "NAME=value"},
		{name: "env without =", in: map[string]string{"command": "x", "environment": "A"}, err: "NAME=value"},
		{name: "signal 0", in: map[string]string{"command": "x", "stop_signal": "0"}, err: "out of range"},
		{name: "signal name", in: map[string]string{"command": "x", "stop_signal": "TERMINATE"}, err: "not a signal"},
		{name: "zero stop_timeout", in: map[string]string{"command": "x", "stop_timeout": "0"}, err: "more than 0"},
		{name: "zero health_timeout", in: map[string]string{"command": "x", "health": "tcp://h:1", "health_timeout": "0"}, err: "more than 0"},
		{name: "tcp without port", in: map[string]string{"command": "x", "health": "tcp://host"}, err: "want tcp://host:port"},
		{name: "tcp without host", in: map[string]string{"command": "x", "health": "tcp://:80"}, err: "no host"},
		{name: "http with bad port", in: map[string]string{"command": "x", "health": "http://h:0/"}, err: "invalid port"},
		{name: "http with credentials", in: map[string]string{"command": "x", "health": "http://u:secret@h/"}, err: "credentials"},
		{name: "exec relative", in: map[string]string{"command": "x", "health": "exec:check"}, err: "absolute"},
		{name: "hook relative", in: map[string]string{"command": "x", "promote_command": "promote.sh"}, err: "absolute path"},
		{name: "hook bad URL", in: map[string]string{"command": "x", "demote_command": "http://[::1"}, err: "demote_command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(params(t, tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseConfig = %+v, %v; want error %q", c, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	c := &config{env: []string{"PATH=/opt/bin", "X=1"}, instance: "vnfc:1", node: "node2",
		cred: &credential{name: "vnf"}, home: "/home/vnf"}
	t.Setenv("LANG", "C.UTF-8")
	want := []string{"HOME=/home/vnf", "USER=vnf", "LOGNAME=vnf", "VNFHA_RESOURCE=vnfc:1", "VNFHA_NODE=node2", "LANG=C.UTF-8", "PATH=/opt/bin", "X=1"}
	if got := c.environ(); !reflect.DeepEqual(got, want) {
		t.Errorf("environ = %q\nwant %q", got, want)
	}
}

// FuzzParseConfig feeds the free-text parameters to the parser: it must
// never panic, and what it accepts must hold together.
func FuzzParseConfig(f *testing.F) {
	f.Add("/bin/sleep 100000", "A=1 'B=2 3'", "http://127.0.0.1:8080/health", "TERM", "/usr/bin/promote 'x'", "systemd", "a@b.service")
	f.Add(`vnfc "--x=\"y\""`, "", "tcp://[::1]:80", "9", "http://h/role", "process", "")
	f.Add("x", "=", "exec:/bin/true", "SIGKILL", "", "process", "")
	f.Add("x", "", "https://u@h:99999/", "0", "http://[::1", "", "..service")
	f.Fuzz(func(t *testing.T, command, environment, health, signal, hook, backend, unit string) {
		env := map[string]string{
			"OCF_RESKEY_command": command, "OCF_RESKEY_environment": environment, "OCF_RESKEY_health": health,
			"OCF_RESKEY_stop_signal": signal, "OCF_RESKEY_promote_command": hook, "OCF_RESKEY_backend": backend,
			"OCF_RESKEY_unit": unit,
		}
		p, err := Agent.ParseParams(ocf.MapLookup(env))
		if err != nil {
			return
		}
		c, err := parseConfig(p)
		if err != nil {
			return
		}
		if c.backend == backendProcess && (len(c.argv) == 0 || c.argv[0] == "") {
			t.Errorf("process backend without a command from %q", command)
		}
		if c.stopSignal <= 0 || c.stopSignal > 64 {
			t.Errorf("signal %d from %q", c.stopSignal, signal)
		}
		for _, kv := range c.env {
			if n, _, ok := strings.Cut(kv, "="); !ok || !validEnvName(n) {
				t.Errorf("environment word %q accepted", kv)
			}
		}
		if h := c.health; h != nil && (h.addr == "") == (h.url == nil) == (h.argv == nil) {
			t.Errorf("health %q parsed to %+v", health, h)
		}
		if c.promote != nil && (c.promote.url == nil) == (c.promote.argv == nil) {
			t.Errorf("hook %q parsed to %+v", hook, c.promote)
		}
	})
}
