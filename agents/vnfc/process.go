package vnfc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/ocf"
)

// processBackend runs the VNFC as a child of the agent's own supervisor.
type processBackend struct {
	dir string  // the instance's state directory
	rec *record // what start started
}

func (b *processBackend) status(context.Context) (status, error) {
	rec, err := readRecord(b.dir)
	if err != nil {
		return status{state: failed, reason: err.Error()}, nil
	}
	if rec == nil {
		if exists(b.dir) && hasLeftovers(b.dir) {
			return status{state: failed, reason: "a start did not finish"}, nil
		}
		return status{state: stopped}, nil
	}
	if !rec.Main.alive() {
		reason := fmt.Sprintf("the VNFC (pid %d) is gone", rec.Main.PID)
		if b, err := os.ReadFile(filepath.Join(b.dir, exitFile)); err == nil {
			reason = strings.TrimSpace(string(b))
		}
		return status{state: failed, reason: reason}, nil
	}
	return status{state: running, unsupervised: !rec.Supervisor.alive()}, nil
}

// hasLeftovers reports whether a state directory holds more than the
// promotion marker: what a start that was killed part-way leaves.
func hasLeftovers(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != promotedFile {
			return true
		}
	}
	return false
}

// start starts the supervisor and waits until it has started the VNFC.
func (b *processBackend) start(ctx context.Context, c *config, env *ocf.Env) error {
	if err := resetDir(b.dir); err != nil {
		return err
	}
	s := spec{
		Dir:     b.dir,
		Path:    c.path,
		Argv:    c.argv,
		Env:     c.environ(),
		Workdir: c.workdir,
		LogFile: c.logFile,
		PIDFile: c.pidfile,
	}
	if c.fastFail {
		r, err := newReport(env)
		if err != nil {
			return err
		}
		s.Report = &r
	}
	if s.Workdir == "" {
		s.Workdir = "/"
	}
	if c.cred != nil {
		uid := c.cred.uid
		s.UID, s.GID, s.Groups = &uid, c.cred.gid, c.cred.groups
	}
	specJSON, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode supervisor spec: %w", err)
	}

	out, err := openLog(c.logFile)
	if err != nil {
		return err
	}
	defer out.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create pipe: %w", err)
	}
	defer specR.Close()
	defer specW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create pipe: %w", err)
	}
	defer statusR.Close()
	defer statusW.Close()

	cmd := ocf.HelperCommand(name, "supervise")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = specR, out, out
	cmd.ExtraFiles = []*os.File{statusW}
	// Its own session: the supervisor outlives this process, and must not
	// get the signals Pacemaker's executor sends to the agent's group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The supervisor runs without our environment: it gets all it needs in
	// the spec, and OCF_* variables would only confuse a VNFC.
	cmd.Env = []string{"PATH=" + searchPath}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	// Not waited for: it outlives us, and init reaps it.
	defer cmd.Process.Release()
	statusW.Close()
	specR.Close()
	if _, err := specW.Write(specJSON); err != nil {
		return fmt.Errorf("send spec to supervisor: %w", err)
	}
	specW.Close()

	if dl, ok := ctx.Deadline(); ok {
		_ = statusR.SetReadDeadline(dl)
	}
	line, err := bufio.NewReader(statusR).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == supervisorReady:
	case line != "":
		return ocf.Generic("%s", line)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ocf.Generic("the VNFC did not start within the start timeout")
	default:
		return ocf.Generic("the supervisor ended before it started the VNFC: %v", err)
	}
	rec, err := readRecord(b.dir)
	if err != nil || rec == nil {
		return ocf.Generic("supervisor started the VNFC but left no state: %v", err)
	}
	b.rec = rec
	return nil
}

// arm makes an exit of the VNFC a failure to report from now on. It fails
// if the VNFC already exited, so that start cannot succeed over a dead
// process.
func (b *processBackend) arm(context.Context) error {
	armed := filepath.Join(b.dir, armedFile)
	if err := touch(armed); err != nil {
		return err
	}
	if gone, how := b.gone(context.Background()); gone {
		take(armed)
		return ocf.Generic("%s", how)
	}
	return nil
}

func (b *processBackend) gone(context.Context) (bool, string) {
	if b.rec.Main.alive() {
		return false, ""
	}
	return true, b.exitReason(b.rec)
}

func (b *processBackend) exitReason(rec *record) string {
	// The VNFC may be a zombie not yet reaped: the supervisor writes how it
	// ended, then exits, within microseconds.
	rec.Supervisor.waitExit(time.Second)
	if bs, err := os.ReadFile(filepath.Join(b.dir, exitFile)); err == nil {
		return strings.TrimSpace(string(bs))
	}
	return fmt.Sprintf("the VNFC (pid %d) exited during start", rec.Main.PID)
}

// killWait bounds how long stop waits for the VNFC to die after SIGKILL,
// and for the supervisor to follow it.
const killWait = 5 * time.Second

// stop ends the VNFC: stop_signal to its process group, SIGKILL to the
// group after stop_timeout, then the state directory goes. It is what the
// OCF stop must be: idempotent, and successful whenever nothing of the
// VNFC is left, whatever state it was in (supervisor or VNFC already dead).
func (b *processBackend) stop(ctx context.Context, c *config, log logger) error {
	rec, err := readRecord(b.dir)
	if err != nil {
		// A state file we cannot parse names nothing we can kill safely.
		log.Warnf("%v; removing it", err)
	}
	// Disarm first: from here on an exit is ours, not a failure.
	take(filepath.Join(b.dir, armedFile))
	if rec != nil {
		if err := b.kill(ctx, rec, c, log); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return ocf.Generic("remove state directory: %v", err)
	}
	return nil
}

func (b *processBackend) kill(ctx context.Context, rec *record, c *config, log logger) error {
	sig, grace := syscall.SIGTERM, 20*time.Second
	if c != nil {
		sig, grace = c.stopSignal, c.stopTimeout
	}
	// Leave time for SIGKILL within the operation's timeout: a stop that
	// times out gets the node fenced.
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if g := left - killWait - time.Second; g < grace {
			// Short of time: half of what is left, so SIGKILL and the
			// wait for it still fit.
			grace = max(g, left/2, 0)
		}
	}
	if rec.Main.alive() {
		signalGroup(rec, sig)
		// A stopped (SIGSTOP) VNFC handles the signal only once it runs
		// again, as systemd does after KillSignal.
		signalGroup(rec, syscall.SIGCONT)
		if !rec.Main.waitExit(grace) {
			log.Warnf("the VNFC (pid %d) outlived %s after SIG%s; sending SIGKILL", rec.Main.PID, grace, sigName(sig))
			signalGroup(rec, syscall.SIGKILL)
			if !rec.Main.waitExit(killWait) {
				return ocf.Generic("the VNFC (pid %d) survived SIGKILL for %s", rec.Main.PID, killWait)
			}
		}
	}
	// The supervisor reaps the VNFC, kills the rest of its group and exits.
	if !rec.Supervisor.waitExit(killWait) {
		log.Warnf("the supervisor (pid %d) did not exit; killing it", rec.Supervisor.PID)
		_ = rec.Supervisor.signal(syscall.SIGKILL)
		rec.Supervisor.waitExit(killWait)
	}
	// Whatever of the group outlived its leader, with no supervisor left
	// to kill it (it was dead, or killed above).
	if rec.PGID > 0 {
		_ = syscall.Kill(-rec.PGID, syscall.SIGKILL)
	}
	return nil
}

// signalGroup signals the VNFC's process group, and its main process if a
// daemon left the group.
func signalGroup(rec *record, sig syscall.Signal) {
	if rec.PGID > 0 {
		_ = syscall.Kill(-rec.PGID, sig)
	}
	_ = rec.Main.signal(sig)
}

func sigName(sig syscall.Signal) string {
	return strings.TrimPrefix(unix.SignalName(sig), "SIG")
}

// openLog opens the log file for appending, or /dev/null.
func openLog(path string) (*os.File, error) {
	if path == "" {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
		}
		return f, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, ocf.Generic("open log_file: %v", err)
	}
	return f, nil
}

// environ is the VNFC's environment: a clean one, as systemd gives a
// service, not the agent's (which holds Pacemaker's OCF_* variables), plus
// the environment parameter, which wins.
func (c *config) environ() []string {
	user, home := "root", "/root"
	if c.cred != nil {
		user, home = c.cred.name, c.home
	}
	base := []string{
		"PATH=" + searchPath,
		"HOME=" + home,
		"USER=" + user,
		"LOGNAME=" + user,
		"VNFHA_RESOURCE=" + c.instance,
		"VNFHA_NODE=" + c.node,
	}
	if lang, ok := os.LookupEnv("LANG"); ok {
		base = append(base, "LANG="+lang)
	}
	out := make([]string, 0, len(base)+len(c.env))
	set := map[string]bool{}
	for _, kv := range c.env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			out = append(out, kv)
		}
	}
	return append(out, c.env...)
}
