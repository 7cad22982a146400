package vnfc

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vnfha/vnfha/ocf"
)

// outcome is what a hostile configuration must get.
type outcome int

const (
	// refused: the framework's Check refuses it, the same everywhere:
	// 6 from validate-all, start, promote and monitor (probes too).
	refused outcome = iota
	// refusedHere: validate-all and start refuse it after looking at this
	// node (the code in want); a probe finds nothing running (7).
	refusedHere
	// failsToStart: validate-all accepts it, start fails (1) and leaves
	// nothing behind.
	failsToStart
	// runs: it is valid, and the VNFC runs.
	runs
)

// TestHostileParameters is the acceptance table of issue 9 for vnfc: hostile
// parameters, fed to every action through Agent.Run as Pacemaker would. Each
// action must give the code its class says, with an exit reason that is one
// line of at most 128 bytes and quotes no file; after a failed start and
// after stop no process of the instance runs (the VNFC, its supervisor, a
// health check), no state directory is left, and no file outside it was
// created or removed.
func TestHostileParameters(t *testing.T) {
	sandbox := t.TempDir()
	badInterp := filepath.Join(sandbox, "bad-interpreter.sh")
	must(t, os.WriteFile(badInterp, []byte("#!/nonexistent/sh\nexit 0\n"), 0o755))
	huge := filepath.Join(sandbox, "huge.pid")
	f, err := os.Create(huge)
	must(t, err)
	must(t, f.Truncate(1<<30))
	f.Close()
	fifo := filepath.Join(sandbox, "fifo.pid")
	must(t, syscall.Mkfifo(fifo, 0o644))
	othersPid := filepath.Join(sandbox, "others.pid")
	must(t, os.WriteFile(othersPid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))
	secret := filepath.Join(sandbox, "secret.pem")
	must(t, os.WriteFile(secret, []byte("topsecret-key-material\n"), 0o600))
	long := strings.Repeat("x", 100000)

	sleep := "/bin/sleep 100000"
	tests := []struct {
		name   string
		params map[string]string
		class  outcome
		want   ocf.Code // validate-all's and start's code for refusedHere
		reason string   // in validate-all's or start's reason
		// timeout is the start operation's timeout in ms ("" for 20 s).
		timeout string
	}{
		// command
		{name: "no command", params: map[string]string{}, class: refused, reason: "command is required"},
		{name: "empty program", params: map[string]string{"command": "''"}, class: refused, reason: "command is required"},
		{name: "huge command", params: map[string]string{"command": "/bin/" + long}, class: refusedHere, want: ocf.ErrNotInstalled, reason: "command"},
		{name: "command is a directory", params: map[string]string{"command": "/tmp"}, class: refusedHere, want: ocf.ErrNotInstalled, reason: "/tmp is not an executable file"},
		{name: "command not executable", params: map[string]string{"command": "/etc/passwd"}, class: refusedHere, want: ocf.ErrNotInstalled, reason: "not an executable file"},
		{name: "relative command", params: map[string]string{"command": "../bin/sleep 1"}, class: refusedHere, want: ocf.ErrNotInstalled, reason: "must be absolute"},
		{name: "bad interpreter", params: map[string]string{"command": badInterp}, class: failsToStart, reason: "no such file or directory"},
		{name: "NUL in command", params: map[string]string{"command": "/bin/sleep\x001"}, class: refused, reason: "command holds a NUL byte"},
		{name: "unterminated quote", params: map[string]string{"command": `/bin/sleep "1`}, class: refused, reason: "unterminated"},
		// user and group
		{name: "user 0", params: map[string]string{"command": sleep, "user": "0"}, class: runs},
		{name: "uid overflow", params: map[string]string{"command": sleep, "user": "4294967296"}, class: refusedHere, want: ocf.ErrNotConfigured, reason: `unknown user "4294967296"`},
		{name: "uid -1", params: map[string]string{"command": sleep, "user": "-1"}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "unknown user"},
		{name: "user with a slash", params: map[string]string{"command": sleep, "user": "../root"}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "unknown user"},
		{name: "huge user", params: map[string]string{"command": sleep, "user": long}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "unknown user"},
		{name: "group -1", params: map[string]string{"command": sleep, "group": "-1"}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "unknown group"},
		// signals and times
		{name: "unknown signal", params: map[string]string{"command": sleep, "stop_signal": "SIGFOO"}, class: refused, reason: "stop_signal"},
		{name: "signal 65", params: map[string]string{"command": sleep, "stop_signal": "65"}, class: refused, reason: "out of range"},
		{name: "stop_signal STOP", params: map[string]string{"command": sleep, "stop_signal": "STOP"}, class: refused, reason: "STOP"},
		{name: "negative stop_timeout", params: map[string]string{"command": sleep, "stop_timeout": "-1s"}, class: refused, reason: "stop_timeout"},
		{name: "overflowing stop_timeout", params: map[string]string{"command": sleep, "stop_timeout": "99999999999999h"}, class: refused, reason: "overflows"},
		{name: "huge stop_timeout", params: map[string]string{"command": sleep, "stop_timeout": "2h"}, class: refused, reason: "at most 1h"},
		{name: "huge settle_time", params: map[string]string{"command": sleep, "settle_time": "2min"}, class: refused, reason: "settle_time"},
		{name: "zero health_timeout", params: map[string]string{"command": sleep, "health": "tcp://127.0.0.1:1", "health_timeout": "0"}, class: refused, reason: "health_timeout"},
		{name: "huge health_timeout", params: map[string]string{"command": sleep, "health": "tcp://127.0.0.1:1", "health_timeout": "1h"}, class: refused, reason: "health_timeout"},
		{name: "bad boolean", params: map[string]string{"command": sleep, "fast_fail": "maybe"}, class: refused, reason: "boolean"},
		{name: "nice 20", params: map[string]string{"command": sleep, "nice": "20"}, class: refused, reason: "nice=20 is out of range -20..19"},
		{name: "nice -21", params: map[string]string{"command": sleep, "nice": "-21"}, class: refused, reason: "nice=-21 is out of range -20..19"},
		{name: "nice text", params: map[string]string{"command": sleep, "nice": "x"}, class: refused, reason: "OCF_RESKEY_nice"},
		{name: "nice fraction", params: map[string]string{"command": sleep, "nice": "-7.5"}, class: refused, reason: "OCF_RESKEY_nice"},
		{name: "nice overflow", params: map[string]string{"command": sleep, "nice": "-99999999999999999999"}, class: refused, reason: "OCF_RESKEY_nice"},
		{name: "nice -20", params: map[string]string{"command": sleep, "nice": "-20"}, class: runs},
		// health
		{name: "odd scheme", params: map[string]string{"command": sleep, "health": "ftp://127.0.0.1/"}, class: refused, reason: "want none"},
		{name: "port 0", params: map[string]string{"command": sleep, "health": "http://127.0.0.1:0/"}, class: refused, reason: "invalid port"},
		{name: "port 99999", params: map[string]string{"command": sleep, "health": "https://[::1]:99999/"}, class: refused, reason: "invalid port"},
		{name: "tcp without port", params: map[string]string{"command": sleep, "health": "tcp://127.0.0.1"}, class: refused, reason: "tcp://host:port"},
		{name: "relative exec", params: map[string]string{"command": sleep, "health": "exec:check"}, class: refused, reason: "absolute"},
		{name: "credentials in URL", params: map[string]string{"command": sleep, "health": "http://u:pw-secret@127.0.0.1:1/"}, class: refused, reason: "credentials"},
		{name: "huge URL", params: map[string]string{"command": sleep, "health": "http://" + long}, class: refused, reason: "health"},
		{name: "hanging health exec", params: map[string]string{"command": sleep, "health": "exec:/bin/sleep 1000", "health_timeout": "200ms"},
			class: failsToStart, reason: "not healthy within the start timeout", timeout: "2000"},
		// files and directories
		{name: "workdir is a file", params: map[string]string{"command": sleep, "workdir": "/etc/passwd"}, class: refusedHere, want: ocf.ErrNotInstalled, reason: "workdir"},
		{name: "relative workdir", params: map[string]string{"command": sleep, "workdir": "../.."}, class: refused, reason: "absolute path"},
		{name: "log_file in a missing directory", params: map[string]string{"command": sleep, "log_file": "/nonexistent/vnfc.log"}, class: refusedHere, want: ocf.ErrNotInstalled, reason: "log_file"},
		{name: "log_file is a directory", params: map[string]string{"command": sleep, "log_file": "/tmp"}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "log_file /tmp is a directory"},
		{name: "log_file is a fifo", params: map[string]string{"command": sleep, "log_file": fifo}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "is not a regular file"},
		{name: "pidfile is a directory", params: map[string]string{"command": "/bin/true", "pidfile": sandbox}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "is a directory"},
		{name: "pidfile is a fifo", params: map[string]string{"command": "/bin/true", "pidfile": fifo}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "is not a regular file"},
		{name: "pidfile is /dev/zero", params: map[string]string{"command": "/bin/true", "pidfile": "/dev/zero"}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "is not a regular file"},
		{name: "pidfile is /etc/shadow", params: map[string]string{"command": "/bin/true", "pidfile": "/etc/shadow"}, class: failsToStart, reason: "pid file /etc/shadow holds no pid"},
		{name: "pidfile of 1 GiB", params: map[string]string{"command": "/bin/true", "pidfile": huge}, class: failsToStart, reason: "holds no pid"},
		{name: "pidfile names another's process", params: map[string]string{"command": "/bin/true", "pidfile": othersPid}, class: failsToStart,
			reason: "not written within the start timeout", timeout: "2000"},
		{name: "pidfile never written", params: map[string]string{"command": sleep, "pidfile": filepath.Join(sandbox, "never.pid")}, class: failsToStart,
			reason: "not written within the start timeout", timeout: "2000"},
		{name: "tls_ca_file is a secret", params: map[string]string{"command": sleep, "tls_ca_file": secret}, class: refusedHere, want: ocf.ErrNotConfigured, reason: "holds no PEM certificate"},
		{name: "relative tls_ca_file", params: map[string]string{"command": sleep, "tls_ca_file": "ca.pem"}, class: refused, reason: "absolute path"},
		// environment
		{name: "env name with =", params: map[string]string{"command": sleep, "environment": "=x"}, class: refused, reason: "NAME=value"},
		{name: "env word without =", params: map[string]string{"command": sleep, "environment": "A=1 B"}, class: refused, reason: "NAME=value"},
		{name: "env NUL", params: map[string]string{"command": sleep, "environment": "A=\x00"}, class: refused, reason: "NUL"},
		{name: "env value too big for exec", params: map[string]string{"command": sleep, "environment": "X=" + strings.Repeat("a", 200000)}, class: failsToStart,
			reason: "argument list too long"},
		// backends and hooks
		{name: "unknown backend", params: map[string]string{"command": sleep, "backend": "docker"}, class: refused, reason: "backend"},
		{name: "unit escaping", params: map[string]string{"backend": "systemd", "unit": "../../etc/passwd.service"}, class: refused, reason: "unit"},
		{name: "relative hook", params: map[string]string{"command": sleep, "promote_command": "promote.sh"}, class: refused, reason: "absolute path"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, tt.params)
			r.instance = "hostile-" + strconv.Itoa(i)
			if tt.timeout != "" {
				r.meta["timeout"] = tt.timeout
			}
			before := listTree(t, sandbox)
			act := func(action string, want ocf.Code) string {
				t.Helper()
				got, stderr := r.run(action)
				if got != want {
					t.Errorf("%s = %d, want %d; stderr:\n%s", action, got, want, stderr)
				}
				checkReason(t, action, stderr)
				for _, bad := range []string{"root:", "topsecret", "pw-secret", strings.Repeat("x", 100)} {
					if strings.Contains(stderr, bad) {
						t.Errorf("%s: stderr holds %q: %q", action, bad, stderr)
					}
				}
				return stderr
			}
			probe := func(want ocf.Code) {
				t.Helper()
				delete(r.meta, "interval")
				act("monitor", want)
			}
			gone := func(when string) {
				t.Helper()
				noLeftovers(t, r.instance, when)
				if exists(r.dir()) {
					t.Errorf("%s: state directory %s left", when, r.dir())
				}
			}
			switch tt.class {
			case refused:
				for _, a := range []string{"validate-all", "start", "promote"} {
					if stderr := act(a, ocf.ErrNotConfigured); !strings.Contains(stderr, tt.reason) {
						t.Errorf("%s's reason %q lacks %q", a, stderr, tt.reason)
					}
				}
				probe(ocf.ErrNotConfigured)
				r.meta["interval"] = "10000"
				act("monitor", ocf.ErrNotConfigured)
			case refusedHere:
				for _, a := range []string{"validate-all", "start"} {
					if stderr := act(a, tt.want); !strings.Contains(stderr, tt.reason) {
						t.Errorf("%s's reason %q lacks %q", a, stderr, tt.reason)
					}
				}
				probe(ocf.NotRunning)
			case failsToStart:
				act("validate-all", ocf.Success)
				probe(ocf.NotRunning)
				if stderr := act("start", ocf.ErrGeneric); !strings.Contains(stderr, tt.reason) {
					t.Errorf("start's reason %q lacks %q", stderr, tt.reason)
				}
				gone("after the failed start")
				probe(ocf.NotRunning)
				act("promote", ocf.ErrGeneric)
			case runs:
				act("validate-all", ocf.Success)
				probe(ocf.NotRunning)
				act("start", ocf.Success)
				probe(ocf.Success)
				act("promote", ocf.Success)
				act("demote", ocf.Success)
			}
			act("stop", ocf.Success)
			act("stop", ocf.Success)
			gone("after stop")
			act("demote", ocf.NotRunning)
			if after := listTree(t, sandbox); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("files outside the state directory changed:\nbefore %q\nafter  %q", before, after)
			}
			if ents, _ := os.ReadDir(filepath.Join(r.rscTmp, "vnfha-vnfc")); len(ents) != 0 {
				t.Errorf("HA_RSCTMP/vnfha-vnfc holds %v", ents)
			}
			r.instance = "vnfc-test" // for newRsc's cleanup
		})
	}
}

// listTree returns the paths under dir with their sizes, sorted.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p+" "+strconv.FormatInt(fi.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
