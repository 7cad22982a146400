// Package haproxytest runs a real HAProxy (Debian's 2.6, installed by
// scripts/deps.sh) for a test: in a lab host (Start), where the lab's
// nodes reach it as they would a load balancer outside the cluster, or on
// the machine's own loopback (StartLocal), for tests of an HAProxy client
// that need no cluster. HAProxy runs in master-worker mode, as Debian's
// unit runs it, so that a test reloads it through the master CLI as an
// operator would; it is stopped when the test ends.
//
// It is a package of its own rather than part of lab/labtest because
// tests without a lab use it too (StartLocal), and because HAProxy is
// what the bridge drives, not part of the cluster.
package haproxytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// Bounds of the waits. HAProxy starts, reloads and stops in tens of
// milliseconds; the bounds only tell "slow" from "never".
const (
	// StartTimeout bounds the wait for a started or reloaded HAProxy to
	// answer.
	StartTimeout = 10 * time.Second
	// StopTimeout bounds the wait for the master to exit after SIGTERM,
	// before everything of it is killed.
	StopTimeout = 5 * time.Second
	// CommandTimeout bounds one command on a CLI socket.
	CommandTimeout = 5 * time.Second
	// poll is how often the waits look again: HAProxy gives no event to
	// wait on from outside.
	poll = 20 * time.Millisecond
	// maxReply bounds what a CLI command's reply may hold.
	maxReply = 16 << 20
)

// HAProxy is a running HAProxy started for one test. Its methods may be
// called from any goroutine of the test; the ones that change the process
// (Reload, Restart, Stop) one at a time.
type HAProxy struct {
	// Host is the lab host it runs in; "" when it runs on the machine
	// itself (StartLocal).
	Host string
	// Dir is its directory, and working directory: haproxy.cfg,
	// haproxy.log (what HAProxy printed), the master CLI socket and
	// relative unix sockets of the configuration. It is on the machine's
	// file system, so the test process reaches the unix sockets directly.
	Dir string
	// Config is what it runs.
	Config Config
	// MasterSocket is the master CLI (reload, show proc, @1 ...).
	MasterSocket string
	// AdminSocket is the admin socket on a unix socket (Config.AdminUnix
	// in Dir), for the test process; "" if the configuration has none.
	AdminSocket string

	ctx     context.Context
	command func(ctx context.Context, argv ...string) (*exec.Cmd, error)

	mu  sync.Mutex
	run *process // nil once stopped
}

// process is one master process of HAProxy and its wait.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
}

// Start runs HAProxy with cfg inside host, a host of lab l (lab.Options.Hosts),
// and returns once it answers on its master CLI and on its admin socket.
// It is stopped when the test ends; lab down ends it too, as every process
// of the host. The test fails if HAProxy is not installed (CI=true) or
// skips (otherwise), and fails if it does not start.
func Start(t testing.TB, l *lab.Lab, host string, cfg Config) *HAProxy {
	t.Helper()
	if _, err := l.HostAddr(host); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	return start(t, host, cfg, func(ctx context.Context, argv ...string) (*exec.Cmd, error) {
		return l.Command(ctx, host, argv...)
	})
}

// StartLocal runs HAProxy with cfg on this machine, in the namespace the
// test runs in: cfg must listen on loopback only (the suite sends test
// traffic nowhere else outside a lab).
func StartLocal(t testing.TB, cfg Config) *HAProxy {
	t.Helper()
	for _, a := range []netip.AddrPort{cfg.AdminTCP, cfg.Frontend} {
		if a.IsValid() && !a.Addr().IsLoopback() {
			t.Fatalf("haproxy: StartLocal listens on loopback only, not on %s", a)
		}
	}
	return start(t, "", cfg, func(ctx context.Context, argv ...string) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmdtree.Bind(cmd)
		return cmd, nil
	})
}

func start(t testing.TB, host string, cfg Config, command func(context.Context, ...string) (*exec.Cmd, error)) *HAProxy {
	t.Helper()
	h, err := begin(t, host, cfg, command)
	if err != nil {
		t.Fatalf("haproxy%s: %v", h.where(), err)
	}
	return h
}

// begin is start returning its error: the HAProxy it returns is stopped
// when the test ends, whether it started or not.
func begin(t testing.TB, host string, cfg Config, command func(context.Context, ...string) (*exec.Cmd, error)) (*HAProxy, error) {
	t.Helper()
	testenv.Tool(t, "haproxy")
	// Not t.TempDir: a unix socket path must fit in 108 bytes, and test
	// names make long directories.
	dir, err := os.MkdirTemp("", "vnfha-haproxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &HAProxy{
		Host:         host,
		Dir:          dir,
		Config:       cfg,
		MasterSocket: filepath.Join(dir, "master.sock"),
		ctx:          labtest.Context(t),
		command:      command,
	}
	if cfg.AdminUnix != "" {
		h.AdminSocket = filepath.Join(dir, cfg.AdminUnix)
		if filepath.IsAbs(cfg.AdminUnix) {
			h.AdminSocket = cfg.AdminUnix
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(cfg.Text), 0o644); err != nil {
		return h, err
	}
	// Registered before the start, so that a start that fails half-way is
	// stopped too.
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("haproxy%s: %v", h.where(), err)
		}
		if t.Failed() {
			t.Logf("--- haproxy%s log (last lines)\n%s", h.where(), h.LogTail(40))
		}
	})
	return h, h.launch()
}

func (h *HAProxy) where() string {
	if h.Host == "" {
		return ""
	}
	return " in " + h.Host
}

// AdminAddr is the admin socket on TCP (level admin), which the lab's
// nodes reach: the zero value if the configuration has none.
func (h *HAProxy) AdminAddr() netip.AddrPort { return h.Config.AdminTCP }

// FrontendAddr is where clients send their requests.
func (h *HAProxy) FrontendAddr() netip.AddrPort { return h.Config.Frontend }

// launch starts a master and waits until it answers.
func (h *HAProxy) launch() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(filepath.Join(h.Dir, "haproxy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open haproxy.log: %w", err)
	}
	defer logf.Close()
	// -W: master-worker, in the foreground (no -D), so that the process
	// started is the master and its exit is seen. -S: the master CLI.
	cmd, err := h.command(h.ctx, "haproxy", "-W", "-S", h.MasterSocket, "-f", filepath.Join(h.Dir, "haproxy.cfg"))
	if err != nil {
		return err
	}
	cmd.Dir = h.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	h.run = p
	if _, err := h.waitWorker(p, 0, -1); err != nil {
		return err
	}
	// Stop signals the process started: it must be the master itself
	// (nsenter --net execs, it does not fork), or SIGTERM would reach
	// nothing that passes it on.
	if procs, err := h.Procs(); err != nil || procs.Master != cmd.Process.Pid {
		return fmt.Errorf("the master is %d (%v), not the process started, %d", procs.Master, err, cmd.Process.Pid)
	}
	return nil
}

// waitWorker waits until the master p answers with a worker other than
// notPID, that worker answers on the admin socket, and (if failed >= 0)
// no more reloads failed than failed. It returns the worker's pid.
func (h *HAProxy) waitWorker(p *process, notPID, failed int) (int, error) {
	deadline := time.Now().Add(StartTimeout)
	var why string
	for {
		select {
		case <-p.done:
			return 0, fmt.Errorf("haproxy exited (%v): %s", p.cmd.ProcessState, h.LogTail(10))
		case <-h.ctx.Done():
			return 0, fmt.Errorf("waiting for haproxy: %w", cmdtree.ContextErr(h.ctx))
		default:
		}
		pid, err := h.answering(notPID, failed)
		if err == nil {
			return pid, nil
		}
		if errors.Is(err, errReloadFailed) {
			return 0, fmt.Errorf("%w: %s", err, h.LogTail(10))
		}
		why = err.Error()
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no worker answering within %s: %s", StartTimeout, why)
		}
		time.Sleep(poll)
	}
}

var errReloadFailed = errors.New("haproxy could not load its configuration on reload")

func (h *HAProxy) answering(notPID, failed int) (int, error) {
	procs, err := h.Procs()
	if err != nil {
		return 0, err
	}
	if failed >= 0 && procs.Failed > failed {
		return 0, errReloadFailed
	}
	w := procs.Worker()
	if w == 0 || w == notPID {
		return 0, fmt.Errorf("no new worker yet: %+v", procs)
	}
	// After a reload the admin socket's path belongs to the new worker
	// once it has bound it: ask it who answers.
	if h.AdminSocket != "" {
		info, err := h.Admin("show info")
		if err != nil {
			return 0, err
		}
		if pid := infoPID(info); pid != w {
			return 0, fmt.Errorf("admin socket answered by pid %d, not yet by the worker %d", pid, w)
		}
	}
	return w, nil
}

// infoPID is the "Pid:" of a "show info" reply, or 0.
func infoPID(info string) int {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			pid, _ := strconv.Atoi(strings.TrimSpace(v))
			return pid
		}
	}
	return 0
}

// Procs is the master's "show proc".
func (h *HAProxy) Procs() (Procs, error) {
	out, err := h.Master("show proc")
	if err != nil {
		return Procs{}, err
	}
	return ParseProc(out)
}

// WorkerPID is the pid of the current worker.
func (h *HAProxy) WorkerPID() (int, error) {
	p, err := h.Procs()
	if err != nil {
		return 0, err
	}
	if p.Worker() == 0 {
		return 0, fmt.Errorf("haproxy has no worker: %+v", p)
	}
	return p.Worker(), nil
}

// MasterPID is the pid of the master, which a reload keeps and a restart
// changes.
func (h *HAProxy) MasterPID() (int, error) {
	p, err := h.Procs()
	return p.Master, err
}

// Admin sends one command to the admin socket on its unix socket and
// returns the reply.
func (h *HAProxy) Admin(command string) (string, error) {
	if h.AdminSocket == "" {
		return "", errors.New("the configuration has no admin socket on a unix socket")
	}
	return Command(h.ctx, "unix", h.AdminSocket, command)
}

// Master sends one command to the master CLI and returns the reply.
// Commands for the worker take the prefix "@1 " (or "@!PID ").
func (h *HAProxy) Master(command string) (string, error) {
	return Command(h.ctx, "unix", h.MasterSocket, command)
}

// Command sends one command line to an HAProxy CLI socket (the master CLI,
// or an admin socket on a unix or TCP socket), half-closes, and reads the
// reply until HAProxy closes: the master CLI waits for more commands
// otherwise, and the end of a reply has no reliable marker
// (research/lb-events.md A.1, A.6). It is for tests; the bridge has its
// own client.
func Command(ctx context.Context, network, address, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err != nil {
		return "", fmt.Errorf("haproxy cli %s: %w", address, err)
	}
	return Exchange(ctx, c, command)
}

// Exchange sends command on an open connection to an HAProxy CLI socket,
// half-closes it, reads the reply until HAProxy closes, and closes c. A
// test that must dial from inside a lab member (lab.Lab.Dial) uses it.
func Exchange(ctx context.Context, c net.Conn, command string) (string, error) {
	defer c.Close()
	if strings.ContainsAny(command, "\n\r") {
		return "", fmt.Errorf("haproxy cli: one command line at a time, got %.40q", command)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return "", fmt.Errorf("haproxy cli: send %.40q: %w", command, err)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	b, err := io.ReadAll(io.LimitReader(c, maxReply+1))
	if err != nil {
		return string(b), fmt.Errorf("haproxy cli: reply to %.40q: %w", command, err)
	}
	if len(b) > maxReply {
		return "", fmt.Errorf("haproxy cli: reply to %.40q longer than %d bytes", command, maxReply)
	}
	return string(b), nil
}

// Reload reloads HAProxy through the master CLI, as `systemctl reload
// haproxy` does: the master reads haproxy.cfg again (a test may rewrite
// it first, see WriteConfig) and starts a new worker; the old one finishes
// its connections and exits. Reload returns the new worker's pid once it
// answers on the admin socket, or an error if the configuration did not
// load (the master keeps the old worker then).
func (h *HAProxy) Reload() (int, error) {
	h.mu.Lock()
	p := h.run
	h.mu.Unlock()
	if p == nil {
		return 0, errors.New("haproxy reload: not running")
	}
	before, err := h.Procs()
	if err != nil {
		return 0, fmt.Errorf("haproxy reload: %w", err)
	}
	// The master answers nothing and closes the connection.
	if _, err := h.Master("reload"); err != nil {
		return 0, fmt.Errorf("haproxy reload: %w", err)
	}
	pid, err := h.waitWorker(p, before.Worker(), before.Failed)
	if err != nil {
		return 0, fmt.Errorf("haproxy reload: %w", err)
	}
	return pid, nil
}

// WriteConfig replaces haproxy.cfg, for the next Reload or Restart.
func (h *HAProxy) WriteConfig(text string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Config.Text = text
	return os.WriteFile(filepath.Join(h.Dir, "haproxy.cfg"), []byte(text), 0o644)
}

// Restart kills HAProxy, master and workers at once (as a crash or a
// kill -9 would), and starts it again: a new master and a new worker,
// with nothing of the old process's runtime state.
func (h *HAProxy) Restart() error {
	if err := h.stop(false); err != nil {
		return fmt.Errorf("haproxy restart: %w", err)
	}
	if err := h.launch(); err != nil {
		return fmt.Errorf("haproxy restart: %w", err)
	}
	return nil
}

// Stop stops HAProxy: SIGTERM to the master, which stops its workers,
// and SIGKILL to all of it if it has not exited within StopTimeout.
// Stopping a stopped HAProxy, or one that lab down killed, succeeds.
func (h *HAProxy) Stop() error { return h.stop(true) }

func (h *HAProxy) stop(gently bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.run
	if p == nil {
		return nil
	}
	h.run = nil
	pid := p.cmd.Process.Pid
	if gently {
		// The master is the leader of its process group (cmdtree.Bind,
		// or lab.Command's): its workers are in the group too.
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
		}
	}
	// Whatever is left of the group (a worker that outlived its master,
	// or all of it for a restart) is killed.
	if err := cmdtree.Kill(pid); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill haproxy %d: %w", pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		return fmt.Errorf("haproxy master %d still running %s after SIGKILL", pid, StopTimeout)
	}
	return waitGroupGone(pid, StopTimeout)
}

// waitGroupGone waits until no process of group pgid runs any more, so
// that a restart finds its ports free. Workers are children of the
// master: once it is gone they are reparented, and whether their new
// parent reaps them is not this package's business, so a zombie counts as
// gone.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		live := groupLive(pgid)
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy processes %v still run %s after SIGKILL", live, timeout)
		}
		for _, pid := range live {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(poll)
	}
}

// groupLive lists the processes of group pgid that are not zombies.
func groupLive(pgid int) []int {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procid.ReadStat(pid); err == nil && st.PGID == pgid && !st.Zombie() {
			live = append(live, pid)
		}
	}
	return live
}

// LogTail is the last n lines HAProxy printed (it logs its own start,
// reloads and alerts to stderr).
func (h *HAProxy) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(h.Dir, "haproxy.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort is a TCP port on 127.0.0.1 that nothing listened on a moment
// ago: for the frontend and admin ports of an HAProxy on loopback.
func FreePort(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}
