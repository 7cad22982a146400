package vnfc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// nobody is the credential of user nobody, for the tests that act as a
// VNFC's user that is not root.
func nobody(t *testing.T) *credential {
	t.Helper()
	testenv.Root(t)
	cred, _, err := lookupCredential("nobody", "")
	testenv.Require(t, "user nobody", err)
	return cred
}

// secretFile writes a root-only 0600 file in a root-only directory and
// returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenLogAsUser (review 2, item 1): the log file is opened with the
// VNFC user's rights and never through a symbolic link as its last
// component, so that the user cannot make root append to, or create, a
// file of root's.
func TestOpenLogAsUser(t *testing.T) {
	cred := nobody(t)
	logs := ocftest.PublicDir(t, "vnfc-logs-")
	if err := os.Chown(logs, int(cred.uid), int(cred.gid)); err != nil {
		t.Fatal(err)
	}
	rootDir := t.TempDir() // 0700, root's
	tests := []struct {
		name string
		// setup returns the log_file path and the root file that must
		// stay untouched (or not come to exist).
		setup  func(t *testing.T) (logFile, target string)
		asRoot bool // open with cred nil: the agent's own user
		ok     bool
	}{
		{"a new file", func(t *testing.T) (string, string) {
			return filepath.Join(logs, "new.log"), ""
		}, false, true},
		{"symlink to a root-only file", func(t *testing.T) (string, string) {
			secret := secretFile(t, "31337\n")
			link := filepath.Join(logs, "app.log")
			must(t, os.Symlink(secret, link))
			return link, secret
		}, false, false},
		{"symlink to a root-only file, VNFC as root", func(t *testing.T) (string, string) {
			secret := secretFile(t, "31337\n")
			link := filepath.Join(logs, "root.log")
			must(t, os.Symlink(secret, link))
			return link, secret
		}, true, false},
		{"dangling symlink into root's directory", func(t *testing.T) (string, string) {
			target := filepath.Join(rootDir, "created")
			link := filepath.Join(logs, "dangling.log")
			must(t, os.Symlink(target, link))
			return link, target
		}, false, false},
		{"directory symlink into root's directory", func(t *testing.T) (string, string) {
			link := filepath.Join(logs, "sub")
			must(t, os.Symlink(rootDir, link))
			return filepath.Join(link, "app.log"), filepath.Join(rootDir, "app.log")
		}, false, false},
		{"hard link to a root-only file", func(t *testing.T) (string, string) {
			secret := secretFile(t, "31337\n")
			link := filepath.Join(logs, "hard.log")
			must(t, os.Link(secret, link))
			return link, secret
		}, false, false},
		{"fifo", func(t *testing.T) (string, string) {
			fifo := filepath.Join(logs, "fifo.log")
			must(t, syscall.Mkfifo(fifo, 0o666))
			return fifo, ""
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logFile, target := tt.setup(t)
			var before []byte
			if target != "" {
				before, _ = os.ReadFile(target)
			}
			c := cred
			if tt.asRoot {
				c = nil
			}
			f, err := openLog(c, logFile)
			if err == nil {
				_, _ = f.WriteString("INJECTED\n")
				f.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("openLog = %v, want ok=%v", err, tt.ok)
			}
			if target != "" {
				after, statErr := os.ReadFile(target)
				if string(after) != string(before) || (before == nil && statErr == nil) {
					t.Errorf("root's file %s was written or created: %q", target, after)
				}
			}
			if tt.ok {
				var st syscall.Stat_t
				must(t, syscall.Stat(logFile, &st))
				if st.Uid != cred.uid {
					t.Errorf("log file created with uid %d, want the VNFC user's %d", st.Uid, cred.uid)
				}
			}
		})
	}
}

// TestUserAccess (review 2, item 5): a program, workdir or log directory
// the VNFC's user cannot reach is refused by validate-all and start alike,
// with ErrNotInstalled and a reason naming the directory in the way; a
// log_file that is a symbolic link is refused alike, with
// ErrNotConfigured.
func TestUserAccess(t *testing.T) {
	cred := nobody(t)
	pub := ocftest.PublicDir(t, "va-")
	closed := filepath.Join(pub, "closed")
	must(t, os.Mkdir(closed, 0o700))
	prog := filepath.Join(closed, "prog")
	must(t, os.WriteFile(prog, []byte("#!/bin/sh\nexec sleep 1000\n"), 0o755))
	rootLogs := filepath.Join(pub, "rlogs")
	must(t, os.Mkdir(rootLogs, 0o755))
	userLogs := filepath.Join(pub, "ulogs")
	must(t, os.Mkdir(userLogs, 0o755))
	must(t, os.Chown(userLogs, int(cred.uid), int(cred.gid)))
	link := filepath.Join(userLogs, "link.log")
	must(t, os.Symlink(secretFile(t, "x"), link))
	tests := []struct {
		name   string
		params map[string]string
		code   ocf.Code
		reason string
	}{
		{"workdir closed", map[string]string{"workdir": closed}, ocf.ErrNotInstalled, "has no access to " + closed},
		{"program in a closed directory", map[string]string{"command": prog}, ocf.ErrNotInstalled, "cannot search directory " + closed},
		{"log directory not writable", map[string]string{"log_file": filepath.Join(rootLogs, "a.log")}, ocf.ErrNotInstalled, "has no access to " + rootLogs},
		{"log_file a symbolic link", map[string]string{"log_file": link}, ocf.ErrNotConfigured, "is a symbolic link"},
		{"all reachable", map[string]string{"log_file": filepath.Join(userLogs, "a.log"), "workdir": userLogs}, ocf.Success, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"command": "/bin/sleep 1000", "user": "nobody"}
			for k, v := range tt.params {
				params[k] = v
			}
			r := newRsc(t, params)
			for _, action := range []string{"validate-all", "start"} {
				got, stderr := r.run(action)
				if got != tt.code || !strings.Contains(stderr, tt.reason) {
					t.Errorf("%s = %d, %q; want %d with %q", action, got, stderr, tt.code, tt.reason)
				}
				checkReason(t, action, stderr)
			}
			r.must("stop", ocf.Success)
		})
	}
}

// TestPidfileNoFollow (review 2, item 7): a pid file is never read
// through a symbolic link, nor with more than the VNFC user's rights, so
// that a VNFC cannot learn what a root-only file holds from an exit
// reason.
func TestPidfileNoFollow(t *testing.T) {
	cred := nobody(t)
	pub := ocftest.PublicDir(t, "vnfc-pid-")
	secret := secretFile(t, "31337\n")
	link := filepath.Join(pub, "link.pid")
	must(t, os.Symlink(secret, link))
	hard := filepath.Join(pub, "hard.pid")
	must(t, os.Link(secret, hard))
	tests := []struct {
		name string
		cred *credential
		path string
		want string
	}{
		{"symlink, as the user", cred, link, "is a symbolic link"},
		{"symlink, as root", nil, link, "is a symbolic link"},
		{"hard link, as the user", cred, hard, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := readPidfile(tt.cred, tt.path)
			if pid != 0 || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readPidfile = %d, %v; want an error with %q", pid, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "31337") {
				t.Errorf("the error shows what the file holds: %v", err)
			}
		})
	}
}

// TestCheckAccessImmutable: a file the user owns but cannot write because
// it is immutable is refused by the check as start's open refuses it.
// x/sys's Faccessat answers such an EPERM with an emulation that checks
// the mode bits as root and allows it, so validate-all passed a log_file
// that start then failed on (principle 4).
func TestCheckAccessImmutable(t *testing.T) {
	cred := nobody(t)
	dir := ocftest.PublicDir(t, "vnfc-immutable-")
	p := filepath.Join(dir, "app.log")
	must(t, os.WriteFile(p, nil, 0o644))
	must(t, os.Chown(p, int(cred.uid), int(cred.gid)))
	out, err := exec.Command("chattr", "+i", p).CombinedOutput()
	testenv.Require(t, "chattr +i on "+dir, errorOf(err, out))
	t.Cleanup(func() { exec.Command("chattr", "-i", p).Run() })
	if err := checkAccess(cred, p, unix.W_OK); err == nil {
		t.Fatal("checkAccess allowed writing an immutable file")
	}
	if err := checkAccess(cred, p, unix.R_OK); err != nil {
		t.Errorf("checkAccess refused reading it: %v", err)
	}
}

func errorOf(err error, out []byte) error {
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
