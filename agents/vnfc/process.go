package vnfc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	if rec.Starting || rec.Main.PID == 0 {
		// Only a start under way writes such a record, and no monitor runs
		// during a start: this start ended early (timed out, or killed),
		// and what it started may still run.
		return status{state: failed, reason: "a start did not finish"}, nil
	}
	if !rec.Main.alive() {
		reason := fmt.Sprintf("the VNFC is gone (pid %d)", rec.Main.PID)
		if e := readExit(b.dir); e != nil {
			reason = fmt.Sprintf("the VNFC %s at %s (pid %d)", e.How, e.At.Format("15:04:05.000"), e.PID)
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
// On an error, what it started is left for stop, which the caller runs:
// the record names it from before the supervisor gets its spec.
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
	// the spec, and OCF_* variables would only confuse a VNFC. The
	// resource's name is there for an operator's ps, as in the VNFC's.
	cmd.Env = []string{"PATH=" + searchPath, "VNFHA_RESOURCE=" + c.instance}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	// Not waited for: it outlives us, and init reaps it.
	defer cmd.Process.Release()
	statusW.Close()
	specR.Close()
	// The supervisor is named in the record before it gets its spec, so
	// before it can start anything: if this process is killed from here
	// on (the executor's timeout), stop finds the supervisor, and ends it
	// and whatever runs below it. Killed before this write, the agent
	// leaves a supervisor that reads EOF for a spec and exits.
	sup, err := identify(cmd.Process.Pid)
	if err == nil {
		err = writeRecord(b.dir, &record{Backend: backendProcess, Supervisor: procID{PID: sup.PID, Start: sup.Start}, Starting: true})
	}
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("record the supervisor: %w", err)
	}
	if _, err := specW.Write(specJSON); err != nil {
		return fmt.Errorf("send spec to supervisor: %w", err)
	}
	specW.Close()

	if dl, ok := ctx.Deadline(); ok {
		_ = statusR.SetReadDeadline(dl)
	}
	line, err := bufio.NewReader(io.LimitReader(statusR, 4096)).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == supervisorReady:
	case line != "":
		return ocf.Generic("%s", line)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return b.timedOut(c)
	default:
		return ocf.Generic("the supervisor ended before it started the VNFC: %v", err)
	}
	rec, err := readRecord(b.dir)
	if err != nil || rec == nil || rec.Starting || rec.Main.PID == 0 {
		return ocf.Generic("the supervisor started the VNFC but left no state: %v", err)
	}
	b.rec = rec
	return nil
}

// timedOut says why start ran out of time before the VNFC ran.
func (b *processBackend) timedOut(c *config) error {
	if c.pidfile == "" {
		return ocf.Generic("the VNFC did not start within the start timeout")
	}
	if rec, err := readRecord(b.dir); err == nil && rec != nil && rec.Main.alive() {
		return ocf.Generic("pid file %s not written within the start timeout: %s still runs; "+
			"with pidfile, the command must fork and exit 0", c.pidfile, filepath.Base(c.path))
	}
	return ocf.Generic("pid file %s not written within the start timeout", c.pidfile)
}

func (b *processBackend) startedAt() time.Time { return b.rec.Started }

// arm makes an exit of the VNFC a failure to report from now on. It fails
// if the VNFC already exited, so that start cannot succeed over a dead
// process.
func (b *processBackend) arm(ctx context.Context) error {
	armed := filepath.Join(b.dir, armedFile)
	if err := touch(armed); err != nil {
		return err
	}
	if gone, how := b.wait(ctx, 0); gone {
		take(armed)
		return ocf.Generic("%s", how)
	}
	return nil
}

// wait waits up to d for the VNFC's main process to end, woken by the
// kernel (a pidfd), and says how it ended.
func (b *processBackend) wait(ctx context.Context, d time.Duration) (bool, string) {
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if !b.rec.Main.waitExit(max(d, 0)) {
		return false, ""
	}
	return true, b.exitReason(b.rec)
}

// exitReason says how the VNFC ended during start.
func (b *processBackend) exitReason(rec *record) string {
	// The supervisor writes how the VNFC ended once it has reaped it, then
	// ends what is left and exits, within milliseconds.
	rec.Supervisor.waitExit(time.Second)
	if e := readExit(b.dir); e != nil {
		return fmt.Sprintf("the VNFC %s during start (pid %d)", e.How, e.PID)
	}
	return fmt.Sprintf("the VNFC ended during start (pid %d)", rec.Main.PID)
}

// killWait bounds how long stop waits for the VNFC to die after SIGKILL,
// and for the supervisor to follow it.
const killWait = 5 * time.Second

// stop ends the VNFC: stop_signal to every process of it, SIGKILL after
// stop_timeout, then the state directory goes. It is what the OCF stop
// must be: idempotent, and successful whenever nothing of the VNFC is
// left, whatever state it was in (supervisor or VNFC already dead, or a
// start that never finished).
func (b *processBackend) stop(ctx context.Context, c *config, log logger) error {
	rec, err := readRecord(b.dir)
	if err != nil {
		// A state file we cannot parse names nothing we can kill safely.
		log.Warnf("%v; removing it", err)
	}
	// Disarm first: from here on an exit is ours, not a failure.
	take(filepath.Join(b.dir, armedFile))
	if rec != nil {
		if err := b.end(ctx, rec, c, log); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return ocf.Generic("remove state directory: %v", err)
	}
	return nil
}

// members returns the live processes of the VNFC: everything below the
// supervisor (a child subreaper, so even daemons that left the VNFC's
// group and session), the main process, and the members of its process
// group that the supervisor no longer holds (it was killed). Processes
// older than the supervisor are never members: a process group id is
// only reused once the group is empty, and then by a newer process.
func (rec *record) members() []procID {
	ps, err := scanProcs()
	if err != nil {
		return []procID{rec.Main}
	}
	var out []procID
	seen := map[int]bool{rec.Supervisor.PID: true}
	add := func(id procID) {
		if id.PID > 0 && !seen[id.PID] {
			seen[id.PID] = true
			out = append(out, id)
		}
	}
	if rec.Supervisor.alive() {
		for _, id := range descendants(ps, rec.Supervisor.PID) {
			add(id)
		}
	}
	if rec.Main.alive() {
		add(rec.Main)
	}
	for _, p := range ps {
		if rec.PGID > 0 && p.pgid == rec.PGID && p.start >= rec.Supervisor.Start && p.state != 'Z' {
			add(p.procID)
		}
	}
	return out
}

// end ends the processes rec names, within ctx.
func (b *processBackend) end(ctx context.Context, rec *record, c *config, log logger) error {
	sig, grace := syscall.SIGTERM, 20*time.Second
	if c != nil {
		sig, grace = c.stopSignal, c.stopTimeout
	}
	// Leave time for SIGKILL within the operation's timeout: a stop that
	// times out gets the node fenced.
	killFor := killWait
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if g := left - killWait - time.Second; g < grace {
			// Short of time: half of what is left, so SIGKILL and the
			// wait for it still fit.
			grace = max(g, left/2, 0)
			killFor = max(min(killWait, left-grace), 0)
		}
	}
	procs := rec.members()
	if len(procs) > 0 {
		signalAll(procs, sig)
		// A stopped (SIGSTOP) VNFC handles the signal only once it runs
		// again, as systemd does after KillSignal.
		signalAll(procs, syscall.SIGCONT)
		if !waitAll(procs, grace) {
			log.Warnf("the VNFC (pid %d) outlived %s after SIG%s; sending SIGKILL", rec.Main.PID, grace, sigName(sig))
			signalAll(procs, syscall.SIGKILL)
			if !waitAll(procs, killFor) {
				return ocf.Generic("%s survived SIGKILL for %s", describeLive(procs), killFor)
			}
		}
	}
	// The supervisor kills whatever is still below it (forked since the
	// scan), reaps it and exits: SIGTERM asks it to, in case the main
	// process's end did not.
	if rec.Supervisor.alive() {
		_ = rec.Supervisor.signal(syscall.SIGTERM)
		if !rec.Supervisor.waitExit(killWait) {
			log.Warnf("the supervisor (pid %d) did not exit; killing it", rec.Supervisor.PID)
			_ = rec.Supervisor.signal(syscall.SIGKILL)
			rec.Supervisor.waitExit(killWait)
		}
	}
	// The check: nothing of the VNFC is left. What was below the
	// supervisor, if it died first, is now init's: still found by its
	// process group or by the first scan.
	left := append(rec.members(), procs...)
	signalAll(left, syscall.SIGKILL)
	if !waitAll(left, killFor) {
		return ocf.Generic("%s survived SIGKILL for %s", describeLive(left), killFor)
	}
	return nil
}

// signalAll sends sig to each process that is still the one its procID
// names.
func signalAll(ids []procID, sig syscall.Signal) {
	for _, id := range ids {
		_ = id.signal(sig)
	}
}

// describeLive names the first live process of ids, for an exit reason.
func describeLive(ids []procID) string {
	n, first := 0, 0
	for _, id := range ids {
		if id.alive() {
			if n == 0 {
				first = id.PID
			}
			n++
		}
	}
	if n == 1 {
		return fmt.Sprintf("pid %d", first)
	}
	return fmt.Sprintf("%d processes of the VNFC (pid %d, ...)", n, first)
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
