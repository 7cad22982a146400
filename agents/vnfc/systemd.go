package vnfc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/internal/systemd"
	"github.com/vnfha/vnfha/ocf"
)

// systemdBackend runs the VNFC as a systemd unit: an existing unit, or a
// transient service for command. A watcher process (this binary's helper
// "watch") follows the unit over D-Bus and reports its failure at once,
// as the supervisor does for backend=process.
type systemdBackend struct {
	dir     string
	unit    string
	log     actionLog
	rec     *record
	started time.Time // when the start job finished
	// restarts is the unit's NRestarts when start found it running: more
	// later means systemd restarted it by itself (Restart=).
	restarts uint32
}

// actionLog is the part of an action's logger the systemd backend uses.
type actionLog interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

// unitOf is the unit of the instance: the unit parameter, else a
// transient service named after the resource instance.
func unitOf(req *ocf.Request) string {
	if u := req.Params.String("unit"); u != "" {
		return u
	}
	return "vnfha-" + systemdEscape(req.Env.Instance) + ".service"
}

// systemdEscape makes s usable in a unit name, as systemd-escape does:
// bytes other than ASCII letters, digits, ":", "_" and "." (not leading)
// become \xNN.
func systemdEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		case c == '/':
			b.WriteByte('-')
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// bootedDir exists when systemd is PID 1 (sd_booted(3)): systemd creates
// it at boot.
const bootedDir = "/run/systemd/system"

// onSystemd runs f on a connection to systemd, and again on a new one
// when systemd was away for a moment or closed the connection under f, as
// daemon-reexec does (systemd.Do), within ctx: a monitor that meets a
// re-execution waits for it rather than failing the VNFC. On a node not
// booted with systemd (a container with a system bus but no systemd) it
// tries once: systemd is not coming back there, and a probe must not wait
// for it. It reports whether f ran at all: false means systemd could not
// be reached.
func onSystemd(ctx context.Context, f func(*systemd.Conn) error) (bool, error) {
	reached := false
	g := func(c *systemd.Conn) error {
		reached = true
		return f(c)
	}
	var err error
	if fi, serr := os.Stat(bootedDir); serr == nil && fi.IsDir() {
		err = systemd.Do(ctx, systemd.Dial, g)
	} else {
		var c *systemd.Conn
		if c, err = systemd.Dial(ctx); err == nil {
			err = g(c)
			c.Close()
		}
	}
	if err != nil && !reached {
		return false, fmt.Errorf("connect to systemd: %w", err)
	}
	return reached, err
}

// unitState reads a unit's state, across a re-execution of systemd.
func unitState(ctx context.Context, unit string) (systemd.State, error) {
	var st systemd.State
	_, err := onSystemd(ctx, func(c *systemd.Conn) error {
		var err error
		st, err = c.State(ctx, unit)
		return err
	})
	return st, err
}

func (b *systemdBackend) status(ctx context.Context) (status, error) {
	rec, err := readRecord(b.dir)
	if err != nil {
		return status{state: failed, reason: err.Error()}, nil
	}
	unit := b.unit
	if rec != nil && rec.Unit != "" {
		unit = rec.Unit
	}
	st, err := unitState(ctx, unit)
	if err != nil {
		if rec == nil {
			// Nothing of ours, and no systemd to ask (or no valid unit to
			// ask about): nothing of this resource can run here.
			return status{state: stopped}, nil
		}
		return status{}, ocf.Generic("%v", err)
	}
	switch {
	case rec != nil && (st.NRestarts > rec.Restarts || st.AutoRestart()):
		// systemd restarted the VNFC by itself (a Restart= that start's
		// drop-in did not override): the process start started ended,
		// which is a failure for Pacemaker to recover, whether or not
		// the new one runs.
		return status{state: failed, reason: describeUnit(unit, st, rec.Restarts)}, nil
	case st.Active():
		return status{state: running, unsupervised: rec != nil && rec.Supervisor.PID != 0 && !rec.Supervisor.Alive()}, nil
	case st.ActiveState == "activating":
		// Still starting (a unit file's ExecStartPre, or Type=notify):
		// not yet up; start waits for it.
		return status{state: failed, reason: fmt.Sprintf("unit %s is still activating (%s)", unit, st.SubState)}, nil
	case rec == nil:
		// Not started by us on this node, and not running: a unit that
		// failed before is no resource of ours to recover.
		return status{state: stopped}, nil
	}
	return status{state: failed, reason: describeUnit(unit, st, rec.Restarts)}, nil
}

// describeUnit says how a unit ended, for exit reasons and logs; restarts
// is its NRestarts when start found it running.
func describeUnit(unit string, st systemd.State, restarts uint32) string {
	s := fmt.Sprintf("unit %s is %s (%s)", unit, st.ActiveState, st.SubState)
	if st.Result != "" && st.Result != "success" {
		s += ", result " + st.Result
	}
	if st.MainPID == 0 {
		// ExecMain* describe the last main process while none runs.
		switch st.ExecMainCode {
		case 1:
			s += fmt.Sprintf(", main process exited with status %d", st.ExecMainStatus)
		case 2, 3:
			s += fmt.Sprintf(", main process killed by signal %d", st.ExecMainStatus)
		}
	}
	if n := st.NRestarts - min(restarts, st.NRestarts); n > 0 {
		s += fmt.Sprintf(", restarted by systemd %d time(s) since start (Restart=%s)", n, st.Restart)
	}
	return s
}

func (b *systemdBackend) start(ctx context.Context, c *config, env *ocf.Env) error {
	if err := resetDir(b.dir); err != nil {
		return err
	}
	rec := &record{Backend: backendSystemd, Unit: b.unit, Started: time.Now()}
	// The record goes first: a stop after a start that timed out must know
	// which unit to stop.
	if err := writeRecord(b.dir, rec); err != nil {
		return err
	}
	var st systemd.State
	_, err := onSystemd(ctx, func(conn *systemd.Conn) error {
		if len(c.argv) > 0 {
			t := systemd.Transient{
				Description:      "vnfha VNFC " + env.Instance,
				Argv:             append([]string{c.path}, c.argv[1:]...),
				User:             c.user,
				Group:            c.group,
				WorkingDirectory: c.workdir,
				Environment:      c.environ(),
				KillSignal:       c.stopSignal,
				TimeoutStop:      c.stopTimeout,
				OutputFile:       c.logFile,
			}
			if err := conn.StartTransient(ctx, b.unit, t); err != nil {
				return err
			}
		} else {
			if err := b.noRestart(ctx, conn, env.Instance); err != nil {
				return err
			}
			if err := conn.Start(ctx, b.unit); err != nil {
				return err
			}
		}
		var err error
		st, err = conn.State(ctx, b.unit)
		return err
	})
	if err != nil {
		return b.startFailed(ctx, err)
	}
	b.started = time.Now()
	b.restarts = st.NRestarts
	rec.Restarts = st.NRestarts
	if c.fastFail {
		// systemd (PID1) has opened log_file as root already
		// (StandardOutput=append:, systemd's rule): the watcher opens it
		// as root as well, without following a symbolic link, since as
		// the user it could not write to the file systemd created.
		w, err := startWatcher(ctx, b.dir, b.unit, st.NRestarts, env, nil, c.logFile)
		if err != nil {
			return err
		}
		rec.Supervisor = w
	}
	if err := writeRecord(b.dir, rec); err != nil {
		return err
	}
	b.rec = rec
	return nil
}

// startLook bounds start's look at a unit that did not start in time:
// what is left of the cleanup time is for stopping it.
const startLook = 250 * time.Millisecond

// startFailed turns the failure of a start job into start's reason: how
// the VNFC ended, if it did, or the state a unit is stuck in when the
// start timeout ends (a Type=notify unit that never notifies, an
// ExecStartPre that does not return). The stop that follows ends it.
func (b *systemdBackend) startFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		// ctx is over: one quick look, in a small part of the cleanup
		// time, which is for stopping the unit.
		cctx, cancel := ocf.CleanupContext(ctx)
		defer cancel()
		qctx, qcancel := context.WithTimeout(cctx, startLook)
		defer qcancel()
		st, serr := unitState(qctx, b.unit)
		switch {
		case serr != nil:
			return ocf.Generic("unit %s did not start within the start timeout", b.unit)
		case st.ActiveState == "activating" || st.ActiveState == "deactivating":
			how := fmt.Sprintf("unit %s is still %s (%s) at the start timeout", b.unit, st.ActiveState, st.SubState)
			if st.ActiveState == "activating" && st.SubState == "start" && st.Type == "notify" {
				how += ": Type=notify, no READY=1 yet"
			}
			return ocf.Generic("%s", how)
		}
		return ocf.Generic("unit %s did not start within the start timeout (now %s (%s))", b.unit, st.ActiveState, st.SubState)
	}
	// A VNFC that ended before its start job finished fails the job:
	// say how it ended, as for an exit within the settle time.
	if gone, how := b.gone(ctx); gone {
		return ocf.Generic("%s", how)
	}
	return ocf.Generic("%v", err)
}

func (b *systemdBackend) startedAt() time.Time { return b.started }

// gone reports whether the unit has ended, and how, for start's reason. A
// unit that systemd restarts by itself has ended, as far as Pacemaker is
// concerned.
func (b *systemdBackend) gone(ctx context.Context) (bool, string) {
	st, err := unitState(ctx, b.unit)
	if err != nil {
		return false, ""
	}
	if st.NRestarts > b.restarts || st.AutoRestart() {
		return true, fmt.Sprintf("the VNFC ended during start (%s)", describeUnit(b.unit, st, b.restarts))
	}
	if st.Active() || st.ActiveState == "activating" {
		return false, ""
	}
	switch st.ExecMainCode {
	case 1:
		return true, fmt.Sprintf("the VNFC exited with status %d during start (unit %s)", st.ExecMainStatus, b.unit)
	case 2, 3:
		return true, fmt.Sprintf("the VNFC was killed by signal %d during start (unit %s)", st.ExecMainStatus, b.unit)
	}
	// systemd unloads a transient unit that ended cleanly at once, and
	// its exit status with it.
	return true, fmt.Sprintf("the VNFC ended during start (unit %s is %s)", b.unit, st.ActiveState)
}

// systemdPoll is how often wait asks systemd for the unit's state: start
// waits this way only through the settle time and the health check's
// pauses, a few polls.
const systemdPoll = 25 * time.Millisecond

// wait polls the unit's state up to d, or until ctx ends.
func (b *systemdBackend) wait(ctx context.Context, d time.Duration) (bool, string) {
	deadline := time.Now().Add(d)
	for {
		if gone, how := b.gone(ctx); gone {
			return true, how
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false, ""
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(left, systemdPoll)):
		}
	}
}

func (b *systemdBackend) arm(ctx context.Context) error {
	armed := filepath.Join(b.dir, armedFile)
	if err := touch(armed); err != nil {
		return err
	}
	if gone, how := b.gone(ctx); gone {
		take(armed)
		return ocf.Generic("%s", how)
	}
	return nil
}

// noRestartDir is where systemd looks for runtime drop-ins, which a
// reboot forgets: Pacemaker's systemd class puts its own there.
const noRestartDir = "/run/systemd/system"

// noRestartName is the drop-in that keeps systemd from restarting the
// unit by itself while the cluster runs it. systemd applies drop-ins in
// the order of their file names, whatever their directory, and the last
// one to set Restart= wins: "zz-" sorts after the usual "NN-name.conf"
// and after "override.conf" (systemctl edit), which would otherwise undo
// it, as they undo Pacemaker's own 50-pacemaker.conf.
const noRestartName = "zz-vnfha-vnfc.conf"

// noRestartPath is the drop-in's path for unit; a unit name never holds a
// slash (systemd.CheckName), so it is one directory below noRestartDir.
func noRestartPath(unit string) string {
	return filepath.Join(noRestartDir, unit+".d", noRestartName)
}

// noRestart makes sure systemd will not restart the unit behind
// Pacemaker's back: a unit whose Restart= is not "no" gets a runtime
// drop-in with Restart=no, and systemd reloads its configuration, as
// Pacemaker's own systemd class does for every unit it starts (its
// 50-pacemaker.conf). A unit with Restart=no, the usual case, costs
// nothing more than the state read. If Restart= still is not "no" after
// the reload (a drop-in that sorts even later sets it), start goes on and
// says so: the watcher and monitor take a restart by systemd for a
// failure (NRestarts), so it is still never hidden.
func (b *systemdBackend) noRestart(ctx context.Context, conn *systemd.Conn, instance string) error {
	st, err := conn.State(ctx, b.unit)
	if err != nil {
		return err
	}
	if st.Restart == "" || st.Restart == "no" {
		return nil
	}
	path := noRestartPath(b.unit)
	text := fmt.Sprintf("# Written by ocf:vnfha:vnfc for resource %s, removed by its stop: Pacemaker\n"+
		"# recovers this unit; systemd must not restart it behind the cluster's back.\n"+
		"[Service]\nRestart=no\n", instance)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("drop-in for unit %s: %w", b.unit, err)
	}
	if err := durable.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("drop-in for unit %s: %w", b.unit, err)
	}
	if err := conn.Reload(ctx); err != nil {
		return err
	}
	after, err := conn.State(ctx, b.unit)
	if err != nil {
		return err
	}
	if after.Restart != "no" {
		b.log.Warnf("unit %s keeps Restart=%s after %s (a drop-in applied later sets it): "+
			"a restart by systemd will be reported as a failure", b.unit, after.Restart, path)
		return nil
	}
	b.log.Infof("unit %s has Restart=%s; %s sets Restart=no while the cluster runs it", b.unit, st.Restart, path)
	return nil
}

// dropNoRestart removes noRestart's drop-in, if there is one, and reloads
// systemd so that the unit has its own Restart= again. Stop must not fail
// because of it: failures are logged.
func dropNoRestart(ctx context.Context, unit string, log logger) {
	path := noRestartPath(unit)
	if err := os.Remove(path); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warnf("remove drop-in: %v", err)
		}
		return
	}
	// The directory goes too if it was ours alone.
	_ = os.Remove(filepath.Dir(path))
	if _, err := onSystemd(ctx, func(c *systemd.Conn) error { return c.Reload(ctx) }); err != nil {
		log.Warnf("removed %s, but %v: unit %s keeps Restart=no until the next reload", path, err, unit)
	}
}

// killReserve is the part of stop's time kept for SIGKILL and the wait
// after it, when stop_timeout is longer than stop's time allows.
const killReserve = 2 * time.Second

func (b *systemdBackend) stop(ctx context.Context, c *config, log logger) error {
	rec, err := readRecord(b.dir)
	if err != nil {
		log.Warnf("%v; stopping unit %s", err, b.unit)
	}
	take(filepath.Join(b.dir, armedFile))
	unit := b.unit
	if rec != nil && rec.Unit != "" {
		unit = rec.Unit
	}
	if rec == nil && systemd.CheckName(unit) != nil {
		// A unit name that systemd refuses was never started by us.
		return os.RemoveAll(b.dir)
	}
	// systemd stops the unit its own way (ExecStop=, KillSignal=, then
	// SIGKILL after its TimeoutStopSec=: stop_timeout for a transient
	// unit) for at most stop_timeout, cut so that SIGKILL and the wait
	// for it fit before ctx ends; past that, StopWithin sends SIGKILL to
	// every process of the unit itself, in the cleanup time too.
	grace := 20 * time.Second
	if c != nil {
		grace = c.stopTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		grace = min(grace, max(left-min(killReserve, left/2), 0))
	}
	graceEnd := time.Now().Add(grace)
	cctx, cancel := ocf.CleanupContext(ctx)
	defer cancel()
	killed := false
	reached, err := onSystemd(cctx, func(conn *systemd.Conn) error {
		k, err := conn.StopWithin(cctx, unit, time.Until(graceEnd))
		killed = killed || k
		if err != nil {
			return err
		}
		// A unit that failed stays failed through a stop; Pacemaker has
		// recorded the failure, so systemd can forget it.
		if err := conn.ResetFailed(cctx, unit); err != nil {
			log.Warnf("%v", err)
		}
		return nil
	})
	if killed {
		log.Warnf("unit %s did not stop within %s; sent SIGKILL to all its processes", unit, grace.Round(time.Millisecond))
	}
	if err != nil {
		if !reached && rec == nil {
			// No systemd to ask, and nothing started by us: nothing runs.
			return os.RemoveAll(b.dir)
		}
		return ocf.Generic("%v", err)
	}
	dropNoRestart(cctx, unit, log)
	if rec != nil && rec.Supervisor.PID != 0 {
		// The watcher exits when it sees the unit stop; make sure,
		// within the cleanup time.
		wait := 2 * time.Second
		if dl, ok := cctx.Deadline(); ok {
			wait = max(min(wait, time.Until(dl)/2), 0)
		}
		if !rec.Supervisor.WaitExit(wait) {
			_ = rec.Supervisor.Signal(syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return ocf.Generic("remove state directory: %v", err)
	}
	return nil
}

// watchSpec is what start hands the watcher on its stdin.
type watchSpec struct {
	Dir      string            `json:"dir"`
	Unit     string            `json:"unit"`
	Report   failreport.Report `json:"report"`
	Instance string            `json:"instance"`
	Log      ocf.LogTarget     `json:"log"`
	// Restarts is the unit's NRestarts once start found it running.
	Restarts uint32 `json:"restarts,omitempty"`
}

// startWatcher starts the watcher and waits until it follows the unit.
func startWatcher(ctx context.Context, dir, unit string, restarts uint32, env *ocf.Env, cred *credential, logFile string) (procID, error) {
	r, err := newReport(env)
	if err != nil {
		return procID{}, err
	}
	out, err := openLog(cred, logFile)
	if err != nil {
		return procID{}, err
	}
	defer out.Close()
	henv := []string{"PATH=" + searchPath, "VNFHA_RESOURCE=" + env.Instance}
	if v, ok := os.LookupEnv("DBUS_SYSTEM_BUS_ADDRESS"); ok {
		henv = append(henv, "DBUS_SYSTEM_BUS_ADDRESS="+v)
	}
	id, err := ocf.StartHelper(ctx, ocf.HelperStart{
		Agent: name, Name: "watch", Args: []string{env.Instance},
		Spec:   watchSpec{Dir: dir, Unit: unit, Report: r, Instance: env.Instance, Log: env.Log, Restarts: restarts},
		Env:    henv,
		Output: out,
	})
	if err != nil {
		return procID{}, ocf.Generic("unit watcher: %v", err)
	}
	return id, nil
}

// watchGiveUp is how long the watcher tries to reach systemd again after
// losing its connection (systemd.Follow): a re-execution takes well under
// a second. Past it the watcher exits, and monitor says the VNFC runs
// unwatched (190).
const watchGiveUp = systemd.DefaultGiveUp

// watch is the helper "vnfha-agent --helper vnfc watch INSTANCE", started
// with the helper protocol: it follows the unit over D-Bus and, the first
// time it sees it no longer active while armed, reports the failure as the
// supervisor does (internal/failreport: the controller's IPC,
// crm_resource --fail as the fallback). A restart by systemd itself
// (Restart=, seen in NRestarts even when its states pass unseen) is such
// a failure too. It exits once the unit is down, reported or not (a
// stop). It follows the unit across daemon-reload and daemon-reexec
// (systemd.Follow): the latter closes its connection, and it connects
// again and reads the unit's state anew, so a unit that died meanwhile is
// reported then. INSTANCE is for ps only.
func watch(args []string) int {
	conn, err := ocf.OpenHelper()
	if err != nil || len(args) > 1 {
		fmt.Fprintf(os.Stderr, "usage: vnfha-agent --helper vnfc watch [INSTANCE] <spec on stdin, status on fd 3>: %v\n", err)
		return 2
	}
	var s watchSpec
	if err := conn.ReadSpec(&s); err != nil {
		_ = conn.Fail("%v", err)
		return 2
	}
	log := newHelperLog("vnfha-vnfc-watcher", s.Log, s.Instance)
	f, err := systemd.Follow(context.Background(), s.Unit, systemd.FollowOptions{GiveUp: watchGiveUp, Logf: log.Infof})
	if err != nil {
		_ = conn.Fail("%v", err)
		return 1
	}
	for st := range f.States() {
		if !conn.Reported() {
			if err := conn.Ready(); err != nil {
				// Start is gone (killed at its timeout): the stop that
				// follows stops the unit; nothing here to report.
				log.Warnf("%v: start is gone", err)
				return 1
			}
		}
		restarted := st.NRestarts > s.Restarts || st.AutoRestart()
		if !restarted && (st.Active() || st.ActiveState == "activating") {
			continue
		}
		how := describeUnit(s.Unit, st, s.Restarts)
		if !take(filepath.Join(s.Dir, armedFile)) {
			log.Infof("%s: stopped deliberately, or before start finished", how)
			return 0
		}
		log.Errorf("%s", how)
		e := exitRecord{How: how, At: time.Now()}
		b, _ := json.Marshal(e)
		_ = writeFileAtomic(filepath.Join(s.Dir, exitFile), b)
		s.Report.Tell(log)
		return 0
	}
	if !conn.Reported() {
		_ = conn.Fail("the connection to systemd closed")
		return 1
	}
	log.Errorf("%v; the VNFC runs unwatched: its failure is found by the next monitor, which reports it degraded", f.Err())
	return 1
}
