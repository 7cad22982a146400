package labvnfm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// HostProc is a process run in a lab host (the test VNFM, a vnfcd the
// cluster does not manage), its output appended to a log file. Start and
// Stop are called from the test's goroutine only.
type HostProc struct {
	L    *lab.Lab
	Host string
	Addr string // where it serves, for messages
	Argv []string
	Log  string // its stdout and stderr, appended

	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs the process; it is an error to start one that runs.
func (p *HostProc) Start(t testing.TB) {
	t.Helper()
	if p.cmd != nil {
		t.Fatalf("%s on %s already runs", filepath.Base(p.Argv[0]), p.Host)
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd, err := p.L.Command(labtest.Context(t), p.Host, p.Argv...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s on %s: %v", p.Argv[0], p.Host, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	go func() {
		cmd.Wait()
		close(done)
	}()
}

// Exited reports whether the process started last has exited.
func (p *HostProc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: SIGTERM, and SIGKILL after 10 s (an error of
// the test: the processes it runs end on SIGTERM). Stopping what is not
// running does nothing.
func (p *HostProc) Stop(t testing.TB) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s on %s ignored SIGTERM for 10 s", filepath.Base(p.Argv[0]), p.Host)
	}
	p.cmd = nil
}

// LogTail is the last n lines of what the process printed.
func (p *HostProc) LogTail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
