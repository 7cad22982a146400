package vnfc

import (
	"context"
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
	dir  string  // the instance's state directory
	rec  *record // what start started
	noun string  // what reasons call the process: "" for "the VNFC"
}

func (b *processBackend) what() string { return nounOr(b.noun) }

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
	if !rec.Main.Alive() {
		reason := fmt.Sprintf("%s is gone (pid %d)", b.what(), rec.Main.PID)
		if e := readExit(b.dir); e != nil {
			reason = fmt.Sprintf("%s %s at %s (pid %d)", b.what(), e.How, e.At.Format("15:04:05.000"), e.PID)
		}
		return status{state: failed, reason: reason}, nil
	}
	return status{state: running, unsupervised: !rec.Supervisor.Alive()}, nil
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
		Dir:      b.dir,
		Path:     c.path,
		Argv:     c.argv,
		Env:      c.environ(),
		Workdir:  c.workdir,
		LogFile:  c.logFile,
		PIDFile:  c.pidfile,
		Nice:     c.nice,
		Instance: c.instance,
		Log:      env.Log,
		Agent:    c.agent,
		Noun:     b.noun,
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
	out, err := openLog(c.cred, c.logFile)
	if err != nil {
		return err
	}
	defer out.Close()
	// The supervisor names itself in the record before it starts
	// anything, so that whatever happens to this process from here on
	// (the executor kills it at the timeout), the stop that follows finds
	// the supervisor and everything below it.
	_, err = ocf.StartHelper(ctx, ocf.HelperStart{
		Agent: name, Name: "supervise", Args: []string{c.instance},
		Spec: s,
		// The supervisor runs without our environment: it gets all it
		// needs in the spec, and OCF_* variables would only confuse a
		// VNFC. The resource's name is there for an operator's ps, as in
		// the VNFC's.
		Env:    []string{"PATH=" + searchPath, "VNFHA_RESOURCE=" + c.instance},
		Output: out,
		// On a failed start the supervisor gets SIGTERM first: it then
		// ends the VNFC and all below it, which live in other process
		// groups than its own.
		StopGrace: supervisorStopGrace,
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return b.timedOut(c)
	case err != nil:
		return ocf.Generic("%v", err)
	}
	rec, err := readRecord(b.dir)
	if err != nil || rec == nil || rec.Starting || rec.Main.PID == 0 {
		return ocf.Generic("the supervisor started %s but left no state: %v", b.what(), err)
	}
	b.rec = rec
	return nil
}

// supervisorStopGrace is how long a failed start gives the supervisor,
// after SIGTERM, to end what it started before it is killed: it kills its
// tree with SIGKILL, so milliseconds are enough. It is spent after the
// handler's context ended, in the operation's margin (at least a second),
// and stop, which runs next, ends whatever it left.
const supervisorStopGrace = 300 * time.Millisecond

// timedOut says why start ran out of time before the VNFC ran.
func (b *processBackend) timedOut(c *config) error {
	if c.pidfile == "" {
		return ocf.Generic("%s did not start within the start timeout", b.what())
	}
	if rec, err := readRecord(b.dir); err == nil && rec != nil && rec.Main.PID != 0 && !rec.Forked {
		// The supervisor has been told to end it by now: the record says
		// it never exited.
		return ocf.Generic("pid file %s not written within the start timeout: %s did not exit; "+
			"with pidfile, the command must fork and exit 0", show(c.pidfile), show(filepath.Base(c.path)))
	}
	return ocf.Generic("pid file %s not written within the start timeout", show(c.pidfile))
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
	if !b.rec.Main.WaitExit(max(d, 0)) {
		return false, ""
	}
	return true, b.exitReason(b.rec)
}

// exitWait bounds how long start waits for the supervisor to say how the
// VNFC ended: it writes that the moment it has reaped it, within
// milliseconds.
const exitWait = 500 * time.Millisecond

// exitReason says how the VNFC ended during start.
func (b *processBackend) exitReason(rec *record) string {
	deadline := time.Now().Add(exitWait)
	for i := 0; i < int(exitWait/(2*time.Millisecond)); i++ {
		if e := readExit(b.dir); e != nil {
			return fmt.Sprintf("%s %s during start (pid %d)", b.what(), e.How, e.PID)
		}
		if !rec.Supervisor.Alive() || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if e := readExit(b.dir); e != nil {
		return fmt.Sprintf("%s %s during start (pid %d)", b.what(), e.How, e.PID)
	}
	return fmt.Sprintf("%s ended during start (pid %d)", b.what(), rec.Main.PID)
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
	if rec.Supervisor.Alive() {
		for _, id := range descendants(ps, rec.Supervisor.PID) {
			add(id)
		}
	}
	if rec.Main.Alive() {
		add(rec.Main)
	}
	for _, p := range ps {
		if rec.PGID > 0 && p.PGID == rec.PGID && p.Stat.Start >= rec.Supervisor.Start && !p.Zombie() {
			add(p.procID)
		}
	}
	return out
}

// end ends the processes rec names: stop_signal, and SIGKILL once the
// grace is over. The grace is cut so that SIGKILL and the wait for it fit
// before ctx ends, and the waits after SIGKILL may use the cleanup time
// after it (ocf.CleanupContext): a stop that times out gets the node
// fenced.
func (b *processBackend) end(ctx context.Context, rec *record, c *config, log logger) error {
	sig, grace := syscall.SIGTERM, 20*time.Second
	if c != nil {
		sig, grace = c.stopSignal, c.stopTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		grace = min(grace, max(left-min(killWait, left/2), 0))
	}
	cctx, cancel := ocf.CleanupContext(ctx)
	defer cancel()
	// killFor is how long a wait after SIGKILL may take: killWait, or
	// what is left of the cleanup time.
	killFor := func() time.Duration {
		if dl, ok := cctx.Deadline(); ok {
			return max(min(killWait, time.Until(dl)), 0)
		}
		return killWait
	}
	procs := rec.members()
	if len(procs) > 0 {
		signalAll(procs, sig)
		// A stopped (SIGSTOP) VNFC handles the signal only once it runs
		// again, as systemd does after KillSignal.
		signalAll(procs, syscall.SIGCONT)
		if !waitAll(procs, grace) {
			log.Warnf("%s (pid %d) outlived %s after SIG%s; sending SIGKILL", b.what(), rec.Main.PID, grace.Round(time.Millisecond), sigName(sig))
			signalAll(procs, syscall.SIGKILL)
			if !waitAll(procs, killFor()) {
				return ocf.Generic("%s survived SIGKILL", describeLive(procs))
			}
		}
	}
	// The supervisor kills whatever is still below it (forked since the
	// scan), reaps it and exits: SIGTERM asks it to, in case the main
	// process's end did not.
	if rec.Supervisor.Alive() {
		_ = rec.Supervisor.Signal(syscall.SIGTERM)
		if !rec.Supervisor.WaitExit(min(killFor(), treeKillWait+time.Second)) {
			log.Warnf("the supervisor (pid %d) did not exit; killing it", rec.Supervisor.PID)
			_ = rec.Supervisor.Signal(syscall.SIGKILL)
			rec.Supervisor.WaitExit(killFor())
		}
	}
	// The check: nothing of the VNFC is left. What was below the
	// supervisor, if it died first, is now init's: still found by its
	// process group or by the first scan.
	left := append(rec.members(), procs...)
	signalAll(left, syscall.SIGKILL)
	if !waitAll(left, killFor()) {
		return ocf.Generic("%s survived SIGKILL", describeLive(left))
	}
	return nil
}

// signalAll sends sig to each process that is still the one its procID
// names.
func signalAll(ids []procID, sig syscall.Signal) {
	for _, id := range ids {
		_ = id.Signal(sig)
	}
}

// describeLive names the first live process of ids, for an exit reason.
func describeLive(ids []procID) string {
	n, first := 0, 0
	for _, id := range ids {
		if id.Alive() {
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

// openLog opens the log file for appending, or /dev/null. The file is
// opened with the VNFC user's rights, never following a symbolic link as
// its last component (openAppend): the user owns what it writes to, and
// must not make root append to, or create, a file of root's. systemd's
// StandardOutput=append: is opened by the service manager; here the
// manager takes the service's rights for the open, which is stricter.
func openLog(cred *credential, path string) (*os.File, error) {
	if path == "" {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
		}
		return f, nil
	}
	f, err := openAppend(cred, path)
	if err != nil {
		return nil, ocf.Generic("open log_file %s: %v", show(path), err)
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
