package ocf

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestActionLogRouting is defect 13: Pacemaker records an agent's stderr
// as "error output", so only warnings and errors go there; info (and debug
// with HA_debug) go to the node's log in ha_log's format. Before, every
// line went to stderr.
func TestActionLogRouting(t *testing.T) {
	a := mustAgent(t, false)
	t.Setenv("TEST_RESULT", "log")
	line := func(level, msg string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d\.\d{3}  testagent\(t1\)\[\d+\]:    ` + level + `: ` + msg + ` action=start$`)
	}
	tests := []struct {
		name       string
		debug      bool
		file       bool
		wantStderr []string // substrings
		noStderr   []string
		wantFile   []*regexp.Regexp
		noFile     []string
	}{
		{name: "log file", file: true,
			wantStderr: []string{`level=warning msg="warn line" action=start path="/x y" rsc=t1`},
			noStderr:   []string{"info line", "debug line", "begin"},
			wantFile:   []*regexp.Regexp{line("INFO", "info line")},
			noFile:     []string{"debug line", "warn line", "DEBUG"}},
		{name: "log file with HA_debug", file: true, debug: true,
			wantStderr: []string{"warn line"},
			noStderr:   []string{"info line", "debug line"},
			wantFile:   []*regexp.Regexp{line("INFO", "info line"), line("DEBUG", "debug line"), line("DEBUG", "begin")}},
		{name: "no destination drops info",
			wantStderr: []string{"level=warning", "warn line"},
			noStderr:   []string{"info line", "debug line", "level=info"}},
		{name: "no destination, HA_debug: stderr",
			debug:      true,
			wantStderr: []string{`level=info msg="info line"`, `level=debug msg="debug line"`, "warn line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logfile := filepath.Join(t.TempDir(), "pacemaker.log")
			env := map[string]string{"OCF_RESOURCE_INSTANCE": "t1", "OCF_RESKEY_name": "n", "HA_debug": "0"}
			if tt.file {
				if err := os.WriteFile(logfile, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				env["HA_LOGFILE"] = logfile
			}
			if tt.debug {
				env["HA_debug"] = "1"
			}
			var stderr bytes.Buffer
			if code := a.Run(context.Background(), []string{"start"}, MapLookup(env), &bytes.Buffer{}, &stderr); code != Success {
				t.Fatalf("start = %d:\n%s", code, &stderr)
			}
			b, _ := os.ReadFile(logfile)
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
			for _, s := range tt.noStderr {
				if strings.Contains(stderr.String(), s) {
					t.Errorf("stderr has %q:\n%s", s, &stderr)
				}
			}
			for _, re := range tt.wantFile {
				if !re.Match(b) {
					t.Errorf("log file lacks %s:\n%s", re, b)
				}
			}
			for _, s := range tt.noFile {
				if strings.Contains(string(b), s) {
					t.Errorf("log file has %q:\n%s", s, b)
				}
			}
		})
	}
}

// TestActionLogSyslog: with a facility, info goes to the syslog socket as
// an RFC 3164 line with ha_log's tag.
func TestActionLogSyslog(t *testing.T) {
	sock := listenSyslog(t)
	a := mustAgent(t, false)
	t.Setenv("TEST_RESULT", "log")
	env := map[string]string{"OCF_RESOURCE_INSTANCE": "t1", "OCF_RESKEY_name": "n", "HA_LOGFACILITY": "daemon"}
	var stderr bytes.Buffer
	if code := a.Run(context.Background(), []string{"start"}, MapLookup(env), &bytes.Buffer{}, &stderr); code != Success {
		t.Fatalf("start = %d:\n%s", code, &stderr)
	}
	got := readDatagram(t, sock)
	// daemon (3) * 8 + info (6) = 30.
	want := regexp.MustCompile(`^<30>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d testagent\(t1\)\[\d+\]: INFO: info line action=start$`)
	if !want.MatchString(got) {
		t.Errorf("syslog line %q does not match %s", got, want)
	}
	if strings.Contains(stderr.String(), "info line") {
		t.Errorf("info on stderr:\n%s", &stderr)
	}
}

// TestLogNeverBlocks: destinations that cannot take a line drop it at
// once, and nothing is created.
func TestLogNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	syslogSocket = filepath.Join(dir, "no-such-socket")
	t.Cleanup(func() { syslogSocket = "/dev/log" })
	for _, target := range []LogTarget{
		{File: fifo},
		{File: filepath.Join(dir, "missing", "pacemaker.log")},
		{File: filepath.Join(dir, "new.log")},
		{File: dir},
		{Facility: "local0"},
	} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			log := NewHelperLogger(target, "t", nil)
			log.Info("x")
			log.Error("y")
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("logging to %+v blocked", target)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.log")); err == nil {
		t.Error("the logger created a log file")
	}
}

// TestHelperLogger: a helper's warnings and errors reach the node's log
// too (its stderr reaches no log), from a target carried as JSON in its spec.
func TestHelperLogger(t *testing.T) {
	logfile := filepath.Join(t.TempDir(), "pacemaker.log")
	if err := os.WriteFile(logfile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnv(MapLookup(map[string]string{"HA_LOGFILE": logfile, "HA_LOGFACILITY": "none"}))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(struct{ Log LogTarget }{env.Log})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Log LogTarget }
	if err := json.Unmarshal(spec, &got); err != nil || got.Log != env.Log {
		t.Fatalf("LogTarget did not survive JSON: %s -> %+v, %v", spec, got.Log, err)
	}
	var fallback bytes.Buffer
	log := NewHelperLogger(got.Log, LogTag("vnfc-supervisor", "web"), &fallback)
	log.Debug("not logged")
	log.Info("VNFC started")
	log.Warn("VNFC exited: killed by signal 9")
	log.WithField("status", 3).Error("report failed")
	b, _ := os.ReadFile(logfile)
	for _, re := range []string{
		`(?m)  vnfc-supervisor\(web\)\[\d+\]:    INFO: VNFC started$`,
		`(?m)  vnfc-supervisor\(web\)\[\d+\]:    WARNING: VNFC exited: killed by signal 9$`,
		`(?m)  vnfc-supervisor\(web\)\[\d+\]:    ERROR: report failed status=3$`,
	} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("log file lacks %s:\n%s", re, b)
		}
	}
	if strings.Contains(string(b), "not logged") || fallback.Len() > 0 {
		t.Errorf("debug logged without Debug, or fallback used with a target:\n%s\n%s", b, &fallback)
	}

	// No destination: the fallback, in stderr's format, all levels.
	fallback.Reset()
	log = NewHelperLogger(LogTarget{Debug: true}, "t", &fallback)
	log.Debug("d")
	log.Warn("w")
	if want := "level=debug msg=d\nlevel=warning msg=w\n"; fallback.String() != want {
		t.Errorf("fallback = %q, want %q", &fallback, want)
	}
}

// TestLogLinesBounded: a huge or multi-line message is one bounded line
// (principle 5).
func TestLogLinesBounded(t *testing.T) {
	logfile := filepath.Join(t.TempDir(), "l")
	if err := os.WriteFile(logfile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	env := &Env{Instance: "i", Log: LogTarget{File: logfile}}
	log := newActionLogger(&stderr, env, "a", "start", false)
	huge := strings.Repeat("secret\n", 100000)
	log.Info(huge)
	log.WithField("content", huge).Warn(huge)
	b, _ := os.ReadFile(logfile)
	for name, out := range map[string]string{"file": string(b), "stderr": stderr.String()} {
		if strings.Count(out, "\n") != 1 || len(out) > maxLogLine+100 {
			t.Errorf("%s: %d lines, %d bytes; want 1 line of at most ~%d", name, strings.Count(out, "\n"), len(out), maxLogLine)
		}
	}
}

func listenSyslog(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	old := syslogSocket
	syslogSocket = path
	t.Cleanup(func() { syslogSocket = old })
	return c
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no syslog line: %v", err)
	}
	return string(buf[:n])
}
