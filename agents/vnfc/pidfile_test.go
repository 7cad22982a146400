package vnfc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// TestReadPidfile: a pid file is read without blocking and without reading
// more than a few bytes, and what it holds is never quoted.
func TestReadPidfile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := filepath.Join(dir, "huge")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: 1 GiB of NULs
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		pid        int
		err        string // "" for errNoPidYet when pid is 0
	}{
		{"a pid", file("ok", "12345\n"), 12345, ""},
		{"blanks around", file("blanks", "  42 \n\n"), 42, ""},
		{"missing", filepath.Join(dir, "missing"), 0, ""},
		{"empty", file("empty", ""), 0, ""},
		{"/etc/passwd", "/etc/passwd", 0, "pid file /etc/passwd holds no pid"},
		{"text", file("text", "root:x:0:0"), 0, "holds no pid"},
		{"pid and more", file("more", "123 456\n"), 0, "holds no pid"},
		{"negative", file("neg", "-5"), 0, "holds no pid"},
		{"zero", file("zero", "0"), 0, "holds no pid"},
		{"init", file("init", "1"), 0, "holds no pid"},
		{"overflow", file("overflow", "99999999999"), 0, "holds no pid"},
		{"1 GiB", huge, 0, "holds no pid"},
		{"/dev/zero", "/dev/zero", 0, "is not a regular file"},
		{"fifo", fifo, 0, "is not a regular file"},
		{"directory", dir, 0, "is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			pid, err := readPidfile(nil, tt.path)
			if took := time.Since(began); took > time.Second {
				t.Errorf("took %s", took)
			}
			switch {
			case tt.pid != 0:
				if pid != tt.pid || err != nil {
					t.Errorf("= %d, %v; want %d", pid, err, tt.pid)
				}
			case tt.err == "":
				if !errors.Is(err, errNoPidYet) {
					t.Errorf("= %d, %v; want errNoPidYet", pid, err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("= %d, %v; want %q", pid, err, tt.err)
				}
				if err != nil && (strings.Contains(err.Error(), "root:") || strings.Contains(err.Error(), "\x00")) {
					t.Errorf("the file's contents are in the error: %q", err)
				}
			}
		})
	}
}

// TestPidfileHostile (defect 7): a daemonizing command whose pidfile names a
// file that holds no pid fails start with a reason that quotes nothing of
// the file, fast, and leaves nothing behind; a pidfile that is not a
// regular file is refused by validate-all and start alike.
func TestPidfileHostile(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.pid")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo.pid")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pidfile string
		code    ocf.Code
		reason  string
	}{
		{"/etc/passwd", "/etc/passwd", ocf.ErrGeneric, "pid file /etc/passwd holds no pid"},
		{"/etc/shadow", "/etc/shadow", ocf.ErrGeneric, "pid file /etc/shadow holds no pid"},
		{"1 GiB", huge, ocf.ErrGeneric, "holds no pid"},
		{"/dev/zero", "/dev/zero", ocf.ErrNotConfigured, "pidfile /dev/zero is not a regular file"},
		{"fifo", fifo, ocf.ErrNotConfigured, "is not a regular file"},
		{"directory", dir, ocf.ErrNotConfigured, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// /bin/true "daemonizes": it exits 0 at once, as a forking
			// VNFC's first process does.
			r := newRsc(t, map[string]string{"command": "/bin/true", "pidfile": tt.pidfile})
			r.instance = "vnfc-hostile-pidfile"
			wantValidate := ocf.Success
			if tt.code == ocf.ErrNotConfigured {
				wantValidate = tt.code
			}
			if got, stderr := r.run("validate-all"); got != wantValidate {
				t.Errorf("validate-all = %d, %q; want %d", got, stderr, wantValidate)
			}
			began := time.Now()
			got, stderr := r.run("start")
			if took := time.Since(began); took > 3*time.Second {
				t.Errorf("start took %s", took)
			}
			if got != tt.code || !strings.Contains(stderr, tt.reason) {
				t.Errorf("start = %d, %q; want %d with %q", got, stderr, tt.code, tt.reason)
			}
			if strings.Contains(stderr, "root:") {
				t.Errorf("start's reason quotes the file: %q", stderr)
			}
			checkReason(t, "start", stderr)
			noLeftovers(t, r.instance, "after the failed start")
			if exists(r.dir()) {
				t.Errorf("state directory left after the failed start")
			}
			r.must("stop", ocf.Success)
		})
	}
}

// FuzzParsePid: a pid file's contents give a pid above 1, "not yet", or
// an error that names the path and quotes nothing of the contents.
func FuzzParsePid(f *testing.F) {
	for _, s := range []string{"1234\n", " 42 ", "", "\n", "1", "0", "-5", "99999999999", "root:x:0:0:root:/root:/bin/bash\n", "12 34", strings.Repeat("9", pidfileMax+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > pidfileMax+1 {
			b = b[:pidfileMax+1] // readPidfile reads no more
		}
		pid, err := parsePid("/run/x.pid", b)
		switch {
		case err == nil:
			if pid <= 1 {
				t.Fatalf("parsePid(%q) = %d", b, pid)
			}
		case errors.Is(err, errNoPidYet):
			if strings.TrimSpace(string(b)) != "" {
				t.Fatalf("parsePid(%q): not yet, for content", b)
			}
		default:
			msg := err.Error()
			if !strings.Contains(msg, "/run/x.pid") || len(msg) > 80 {
				t.Fatalf("parsePid(%q): error %q", b, msg)
			}
		}
	})
}
