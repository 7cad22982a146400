package vnfc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/internal/procid"
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
	// base is what start found of the unit once it ran.
	base since
}

// since is what start found of a unit once it ran: a unit whose
// InvocationID differs later was started anew since (by systemd's
// Restart=, or by hand), and more NRestarts say that systemd restarted
// it by itself (Restart=). Either way the process start started has
// ended: a failure for Pacemaker to recover.
type since struct {
	Restarts   uint32
	Invocation string
}

// restarted reports whether st is a later run of the unit than the one
// start started, or systemd is about to start one.
func (b since) restarted(st systemd.State) bool {
	return st.NRestarts > b.Restarts || st.AutoRestart() ||
		b.Invocation != "" && st.InvocationID != "" && st.InvocationID != b.Invocation
}

// actionLog is the part of an action's logger the systemd backend uses.
type actionLog interface {
	Debugf(format string, args ...any)
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

// clusterUnits are services a VNFC cannot be: the cluster stack's own,
// and the bus it and systemd talk over. A resource on one of them would
// have its stop (a failed probe elsewhere, a move, a disable) stop the
// node's cluster stack, or cut every agent off from systemd.
var clusterUnits = []string{
	"pacemaker.service", "pacemaker_remote.service", "corosync.service", "corosync-qdevice.service",
	"corosync-qnetd.service", "sbd.service", "pcsd.service", "dbus.service", "dbus-broker.service",
}

// checkUnitName is Check's rule for the unit parameter: a name systemd
// accepts (systemd.CheckName: no slash, no template), of a service. A VNFC
// is a service: stopping a target, a slice or a socket stops whatever
// depends on it (unit=sysinit.target would stop every service of the
// node), and only a service has the main process, Restart= and restarts
// the backend follows. The cluster stack's own units and systemd's are
// refused too (clusterUnits, systemd-*).
func checkUnitName(unit string) error {
	if err := systemd.CheckName(unit); err != nil {
		return err
	}
	if !strings.HasSuffix(unit, ".service") {
		return fmt.Errorf("unit %s must be a .service: a VNFC is a service, and stopping another kind of unit "+
			"stops what depends on it", ocf.Quote(unit))
	}
	if slices.Contains(clusterUnits, unit) || strings.HasPrefix(unit, "systemd-") {
		return fmt.Errorf("unit %s is the cluster's or systemd's own: stopping the resource would stop it", ocf.Quote(unit))
	}
	return nil
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

// bootedWithSystemd reports whether this node runs systemd as PID 1.
func bootedWithSystemd() bool {
	fi, err := os.Stat(bootedDir)
	return err == nil && fi.IsDir()
}

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
	if bootedWithSystemd() {
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

// unitMissing says why a unit cannot be started on this node, if it
// cannot: not found, masked, or its unit file does not load. That is the
// node's state, as a program missing here is: ERR_INSTALLED, so that
// Pacemaker tries another node, where a start would fail with "the VNFC
// ended during start" otherwise.
func unitMissing(unit string, st systemd.State) error {
	switch st.LoadState {
	case "loaded", "":
		return nil
	case "not-found":
		return ocf.NotInstalled("unit %s not found on this node", unit)
	case "masked":
		return ocf.NotInstalled("unit %s is masked on this node", unit)
	}
	return ocf.NotInstalled("unit %s does not load on this node (%s)", unit, st.LoadState)
}

// noSystemd is the error for a node where systemd cannot be reached: on a
// node not booted with systemd it is not installed, as far as the VNFC is
// concerned (ERR_INSTALLED); on one booted with it, systemd is away, for
// a moment one hopes (ERR_GENERIC: a retry may work).
func noSystemd(err error) error {
	if !bootedWithSystemd() {
		return ocf.NotInstalled("systemd is not running on this node (%v)", err)
	}
	return ocf.Generic("%v", err)
}

// validateSystemd is validate-all's, start's and promote's look at this
// node for backend=systemd: systemd runs here, and a unit file's unit
// exists, is not masked and loads.
func validateSystemd(ctx context.Context, c *config) error {
	// A transient unit is made by start: asking for init.scope, which
	// every systemd has, says whether systemd answers.
	unit := "init.scope"
	if len(c.argv) == 0 {
		unit = c.unit
	}
	var st systemd.State
	reached, err := onSystemd(ctx, func(conn *systemd.Conn) error {
		var err error
		st, err = conn.State(ctx, unit)
		return err
	})
	switch {
	case !reached || systemd.Unavailable(err):
		// No socket, or a bus with no systemd on it.
		return noSystemd(err)
	case err != nil:
		return ocf.Generic("%v", err)
	case len(c.argv) > 0:
		return nil
	}
	return unitMissing(c.unit, st)
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
	var base since
	if rec != nil {
		base = since{Restarts: rec.Restarts, Invocation: rec.Invocation}
	}
	switch {
	case rec != nil && base.restarted(st):
		// The unit was started anew since start: by systemd itself (a
		// Restart= that start's drop-in did not override), or by hand.
		// The process start started ended, which is a failure for
		// Pacemaker to recover, whether or not the new one runs.
		return status{state: failed, reason: describeUnit(unit, st, base)}, nil
	case st.Active() && rec == nil:
		// Running, but not started by this resource here (systemctl
		// start by hand, or enabled at boot): a probe must say it runs,
		// but nothing watches it and its own Restart= applies, which
		// is no full health. A start takes it over.
		return status{state: running, unsupervised: true, foreign: true,
			reason: fmt.Sprintf("unit %s runs, but the cluster did not start it here: it is not watched and keeps its own Restart=", unit)}, nil
	case st.Active():
		return status{state: running, unsupervised: rec.Supervisor.PID != 0 && !rec.Supervisor.Alive()}, nil
	case st.ActiveState == "activating":
		// Still starting (a unit file's ExecStartPre, or Type=notify):
		// not yet up; start waits for it.
		return status{state: failed, reason: fmt.Sprintf("unit %s is still activating (%s)", unit, st.SubState)}, nil
	case rec == nil:
		// Not started by us on this node, and not running: a unit that
		// failed before is no resource of ours to recover.
		return status{state: stopped}, nil
	}
	return status{state: failed, reason: describeUnit(unit, st, base)}, nil
}

// describeUnit says how a unit ended, for exit reasons and logs; base is
// what start found of it once it ran.
func describeUnit(unit string, st systemd.State, base since) string {
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
	if n := st.NRestarts - min(base.Restarts, st.NRestarts); n > 0 {
		s += fmt.Sprintf(", restarted by systemd %d time(s) since start (Restart=%s)", n, st.Restart)
	} else if base.restarted(st) {
		s += ", started anew since start, not by the cluster"
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
	reached, err := onSystemd(ctx, func(conn *systemd.Conn) error {
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
				Nice:             c.nice,
			}
			if err := conn.StartTransient(ctx, b.unit, t); err != nil {
				return err
			}
		} else {
			if err := b.writeDropIn(ctx, conn, c, env.Instance, rec); err != nil {
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
		return b.startFailed(ctx, reached, err)
	}
	b.started = time.Now()
	b.base = since{Restarts: st.NRestarts, Invocation: st.InvocationID}
	if err := b.niceUnit(c, st); err != nil {
		return err
	}
	rec.Restarts, rec.Invocation = st.NRestarts, st.InvocationID
	if c.fastFail {
		// systemd (PID1) has opened log_file as root already
		// (StandardOutput=append:, systemd's rule): the watcher opens it
		// as root as well, without following a symbolic link, since as
		// the user it could not write to the file systemd created.
		w, err := startWatcher(ctx, b.dir, b.unit, b.base, env, nil, c.logFile)
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
// ExecStartPre that does not return). The stop that follows ends it. An
// agent's own error (a unit missing here) is returned as it is; so is
// systemd's absence, as noSystemd says.
func (b *systemdBackend) startFailed(ctx context.Context, reached bool, err error) error {
	var oe *ocf.Error
	switch {
	case errors.As(err, &oe):
		return err
	case (!reached || systemd.Unavailable(err)) && ctx.Err() == nil:
		return noSystemd(err)
	}
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

// niceUnit gives the autogroup of the unit's session the nice parameter.
// systemd's Nice= sets the nice of the service's threads, not of its
// autogroup, and systemd starts every service in a session of its own
// (setsid): where the service's CPU cgroup is the root one (no CPU
// controller turned on for it, as under the tests' systemd 252, and on a
// cgroup v2 host where no unit asks for CPUWeight= or the like), its
// autogroup shares the CPU equally with every other session, whatever
// Nice= says (TestSystemdNice sees "nice 0" without this). The group is set
// only if it is neither the agent's nor PID 1's: a unit's session is
// systemd's to make, and no other session is the agent's to renice. It
// also warns when the main process runs at another nice than asked: a
// unit that ran before this start (taken over, not restarted) keeps its
// nice until its next start.
func (b *systemdBackend) niceUnit(c *config, st systemd.State) error {
	if c.nice == 0 || st.MainPID == 0 {
		return nil
	}
	pid := int(st.MainPID)
	if ps, err := procid.ReadStat(pid); err == nil && ps.Nice != c.nice {
		b.log.Warnf("the main process of unit %s (pid %d) runs at nice %d, not %d: Nice= applies from the unit's next start", b.unit, pid, ps.Nice, c.nice)
	}
	group := autogroupOf(strconv.Itoa(pid))
	if group == "" || group == autogroupOf("self") || group == autogroupOf("1") {
		b.log.Debugf("autogroup nice of unit %s not set: its main process (pid %d) has no autogroup of its own (%q)", b.unit, pid, group)
		return nil
	}
	skipped, err := setAutogroupNice(pid, c.nice)
	if err != nil {
		return ocf.Generic("unit %s: %v", b.unit, err)
	}
	if skipped != "" {
		b.log.Debugf("autogroup nice of unit %s not set: %s", b.unit, skipped)
	}
	return nil
}

// gone reports whether the unit has ended, and how, for start's reason. A
// unit that systemd restarts by itself has ended, as far as Pacemaker is
// concerned.
func (b *systemdBackend) gone(ctx context.Context) (bool, string) {
	st, err := unitState(ctx, b.unit)
	if err != nil {
		return false, ""
	}
	if b.base.restarted(st) {
		return true, fmt.Sprintf("the VNFC ended during start (%s)", describeUnit(b.unit, st, b.base))
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

// dropInDir is where systemd looks for runtime drop-ins, which a
// reboot forgets: Pacemaker's systemd class puts its own there.
const dropInDir = "/run/systemd/system"

// dropInName is the agent's drop-in for a unit file's unit: it keeps
// systemd from restarting the unit by itself while the cluster runs it,
// and gives it the nice parameter. systemd applies drop-ins in the order
// of their file names, whatever their directory, and the last one to set
// a setting wins: "zz-" sorts after the usual "NN-name.conf" and after
// "override.conf" (systemctl edit), which would otherwise undo it, as
// they undo Pacemaker's own 50-pacemaker.conf.
const dropInName = "zz-vnfha-vnfc.conf"

// dropInPath is the drop-in's path for unit; a unit name never holds a
// slash (systemd.CheckName), so it is one directory below dropInDir.
func dropInPath(unit string) string {
	return filepath.Join(dropInDir, unit+".d", dropInName)
}

// isDropInPath reports whether path is one dropInPath made: stop
// removes nothing else, whatever a state file says.
func isDropInPath(path string) bool {
	dir := filepath.Dir(path)
	return filepath.Base(path) == dropInName && filepath.Dir(dir) == dropInDir &&
		strings.HasSuffix(dir, ".d") && systemd.CheckName(strings.TrimSuffix(filepath.Base(dir), ".d")) == nil
}

// writeDropIn makes sure systemd will not restart the unit behind
// Pacemaker's back, and runs it at the nice parameter, with a runtime
// drop-in and a reload of systemd's configuration, as Pacemaker's own
// systemd class does for every unit it starts (its 50-pacemaker.conf). A
// unit whose Restart= is not "no", or that has a RestartForceExitStatus=
// (which restarts it whatever Restart= says), gets both turned off; with
// nice set, a unit whose Nice= differs gets Nice=. The drop-in goes to the
// directory of the unit's own name (State.ID), which systemd reads for
// certain, also when the unit parameter names an alias. It is recorded in
// rec before it is written, so that stop removes it even after a start
// that was killed half-way, and removes nothing else. A unit with
// Restart=no and no nice to set, the usual case, costs nothing more than
// the state read. If a restart is still possible after the reload (a
// drop-in that sorts even later sets Restart=), start goes on and says
// so: the watcher and monitor take a restart for a failure (InvocationID,
// NRestarts), so it is never hidden. It warns as well when such a drop-in
// sets another Nice=. A unit that cannot be started here (not found,
// masked) is ERR_INSTALLED.
func (b *systemdBackend) writeDropIn(ctx context.Context, conn *systemd.Conn, c *config, instance string, rec *record) error {
	st, err := conn.State(ctx, b.unit)
	if err != nil {
		return err
	}
	if err := unitMissing(b.unit, st); err != nil {
		return err
	}
	restart := restarts(st)
	nice := c.nice != 0 && int(st.Nice) != c.nice
	if !restart && !nice {
		return nil
	}
	id := st.ID
	if systemd.CheckName(id) != nil {
		id = b.unit
	}
	path := dropInPath(id)
	if rec.DropIn != path {
		rec.DropIn = path
		if _, err := os.Lstat(filepath.Dir(path)); errors.Is(err, os.ErrNotExist) {
			rec.DropInDir = true
		}
		if err := writeRecord(b.dir, rec); err != nil {
			return err
		}
	}
	text := fmt.Sprintf("# Written by ocf:vnfha:vnfc for resource %s, removed by its stop.\n", instance)
	if restart {
		text += "# Pacemaker recovers this unit; systemd must not restart it behind the cluster's back.\n"
	}
	if nice {
		text += "# The resource's nice parameter.\n"
	}
	text += "[Service]\n"
	if restart {
		text += "Restart=no\nRestartForceExitStatus=\n"
	}
	if nice {
		text += fmt.Sprintf("Nice=%d\n", c.nice)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("drop-in for unit %s: %w", b.unit, err)
	}
	if err := durable.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("drop-in for unit %s: %w", b.unit, err)
	}
	t0 := time.Now()
	if err := conn.Reload(ctx); err != nil {
		return err
	}
	took := time.Since(t0).Round(time.Millisecond)
	after, err := conn.State(ctx, b.unit)
	if err != nil {
		return err
	}
	if nice && int(after.Nice) != c.nice {
		b.log.Warnf("unit %s keeps Nice=%d after %s (a drop-in applied later sets it): it runs at that priority",
			b.unit, after.Nice, path)
	}
	switch {
	case restart && restarts(after):
		b.log.Warnf("unit %s keeps Restart=%s (or a RestartForceExitStatus=) after %s (a drop-in applied later sets it): "+
			"a restart by systemd will be reported as a failure", b.unit, after.Restart, path)
	case restart:
		b.log.Infof("unit %s has Restart=%s; %s sets Restart=no while the cluster runs it (daemon-reload took %v)",
			b.unit, st.Restart, path, took)
	default:
		b.log.Infof("%s sets Nice=%d on unit %s while the cluster runs it (daemon-reload took %v)", path, c.nice, b.unit, took)
	}
	return nil
}

// restarts reports whether systemd may restart a service by itself.
func restarts(st systemd.State) bool {
	return st.Restart != "" && st.Restart != "no" || st.RestartForced
}

// removeDropIn removes the drop-in start recorded, if any, and its
// directory if start made it and it is empty now (an operator's drop-ins
// in it stay, and so does a directory that was there before), then
// reloads systemd so that the unit has its own Restart= again. Stop must
// not fail because of it: failures are logged.
func removeDropIn(ctx context.Context, rec *record, unit string, log logger) {
	if rec == nil || rec.DropIn == "" {
		return
	}
	path := rec.DropIn
	if !isDropInPath(path) {
		log.Warnf("the state names a drop-in %s that start does not write; left as it is", ocf.Quote(path))
		return
	}
	if err := os.Remove(path); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warnf("remove drop-in: %v", err)
		}
		return
	}
	if rec.DropInDir {
		_ = os.Remove(filepath.Dir(path)) // fails if not empty
	}
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
	if rec == nil && checkUnitName(unit) != nil {
		// A unit name that Check refuses was never started by us: stop
		// runs with parameters Check refused (principle 1), and must not
		// stop a unit such as sysinit.target, which would stop every
		// service of the node.
		log.Warnf("unit %s is no unit a start of this resource can have started; not stopping it", ocf.Quote(unit))
		return os.RemoveAll(b.dir)
	}
	// systemd stops the unit its own way (ExecStop=, KillSignal=, then
	// SIGKILL after its TimeoutStopSec=: stop_timeout for a transient
	// unit) for at most stop_timeout, cut so that SIGKILL and the wait
	// for it fit before ctx ends; past that, StopWithin sends SIGKILL to
	// every process of the unit itself, in the cleanup time too. What
	// systemd leaves running (KillMode=process or none; a stop it refuses,
	// RefuseManualStop=yes) gets KillSignal= for what is left of that
	// time, then SIGKILL: stop leaves nothing of the VNFC running.
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
	var how systemd.Stopped
	reached, err := onSystemd(cctx, func(conn *systemd.Conn) error {
		out, err := conn.StopWithin(cctx, unit, time.Until(graceEnd))
		how.Refused = cmp.Or(how.Refused, out.Refused)
		how.Leftovers = max(how.Leftovers, out.Leftovers)
		how.Killed = how.Killed || out.Killed
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
	if how.Refused != nil {
		log.Warnf("systemd refused to stop unit %s (%v); sent its KillSignal= to all its processes", unit, how.Refused)
	}
	if how.Leftovers > 0 {
		log.Warnf("unit %s stopped, but left %d process(es) in its cgroup (KillMode=process or none); ended them", unit, how.Leftovers)
	}
	if how.Killed {
		log.Warnf("unit %s did not stop within %s; sent SIGKILL to all its processes", unit, grace.Round(time.Millisecond))
	}
	if err != nil {
		if !reached && rec == nil {
			// No systemd to ask, and nothing started by us: nothing runs.
			return os.RemoveAll(b.dir)
		}
		return ocf.Generic("%v", err)
	}
	removeDropIn(cctx, rec, unit, log)
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
	// Restarts and Invocation are the unit's NRestarts and InvocationID
	// once start found it running.
	Restarts   uint32 `json:"restarts,omitempty"`
	Invocation string `json:"invocation,omitempty"`
}

// startWatcher starts the watcher and waits until it follows the unit.
func startWatcher(ctx context.Context, dir, unit string, base since, env *ocf.Env, cred *credential, logFile string) (procID, error) {
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
		Spec: watchSpec{Dir: dir, Unit: unit, Report: r, Instance: env.Instance, Log: env.Log,
			Restarts: base.Restarts, Invocation: base.Invocation},
		Env:    henv,
		Output: out,
	})
	if err != nil {
		return procID{}, ocf.Generic("unit watcher: %v", err)
	}
	return id, nil
}

// watchGiveUp is how long one systemd.Follow tries to reach systemd again
// after losing its connection: a re-execution takes well under a second.
// Past it the watcher logs that the VNFC runs unwatched and tries again
// every watchRetry, for as long as the instance is started: a watcher
// that gave up for good would leave monitor saying 190 (degraded) until
// the resource is restarted, long after systemd is back.
const (
	watchGiveUp = systemd.DefaultGiveUp
	watchRetry  = 5 * time.Second
)

// followOptions are followUnit's means: how to reach systemd and how long
// to try; the watcher's are Dial, watchGiveUp and watchRetry.
type followOptions struct {
	dial   systemd.DialFunc
	giveUp time.Duration
	retry  time.Duration
}

// followLog is where followUnit says what it does: the watcher's log.
type followLog interface {
	Infof(format string, args ...any)
	Errorf(format string, args ...any)
}

// errUnwanted ends followUnit when the instance was stopped while the
// watcher had no connection.
var errUnwanted = errors.New("the resource was stopped meanwhile")

// followUnit follows the unit across losses of the connection
// (systemd.Follow) until it finds the run start started ended: it
// returns that state. ready is called once, with the first state, and
// its error ends followUnit. When Follow gives up reconnecting, followUnit
// logs it and tries again every opt.retry for as long as the instance's
// state (its record) exists; once stop removed it, it returns
// errUnwanted. The first Follow's error is returned at once: start is
// waiting for it.
func followUnit(ctx context.Context, s *watchSpec, opt followOptions, ready func() error, log followLog) (systemd.State, error) {
	base := since{Restarts: s.Restarts, Invocation: s.Invocation}
	readied := false
	var unwatched time.Time // since when, if the last Follow gave up
	for {
		f, err := systemd.Follow(ctx, s.Unit, systemd.FollowOptions{Dial: opt.dial, GiveUp: opt.giveUp, Logf: log.Infof})
		if err != nil && !readied {
			return systemd.State{}, err
		}
		if err == nil {
			if !unwatched.IsZero() {
				log.Infof("connected to systemd again after %v unwatched; watching %s", time.Since(unwatched).Round(time.Millisecond), s.Unit)
				unwatched = time.Time{}
			}
			for st := range f.States() {
				if !readied {
					if err := ready(); err != nil {
						return systemd.State{}, err
					}
					readied = true
				}
				if base.restarted(st) || !st.Active() && st.ActiveState != "activating" {
					return st, nil
				}
			}
			err = f.Err()
			if !readied {
				return systemd.State{}, cmp.Or(err, errors.New("the connection to systemd closed"))
			}
		}
		if ctx.Err() != nil {
			return systemd.State{}, ctx.Err()
		}
		if !exists(filepath.Join(s.Dir, stateFile)) {
			return systemd.State{}, fmt.Errorf("%w: %v", errUnwanted, err)
		}
		if unwatched.IsZero() {
			// Once per outage: the tries that follow fail the same way.
			unwatched = time.Now()
			log.Errorf("%v; the VNFC runs unwatched: its failure is found by the next monitor; trying again every %v", err, opt.retry)
		}
		select {
		case <-ctx.Done():
			return systemd.State{}, ctx.Err()
		case <-time.After(opt.retry):
		}
	}
}

// watch is the helper "vnfha-agent --helper vnfc watch INSTANCE", started
// with the helper protocol: it follows the unit over D-Bus and, the first
// time it sees the run start started end while armed, reports the failure
// as the supervisor does (internal/failreport: the controller's IPC,
// crm_resource --fail as the fallback). A new run of the unit (a restart
// by systemd's Restart=, seen in InvocationID and NRestarts even when its
// states pass unseen, or by hand) is such a failure too. It exits once
// the unit is down, reported or not (a stop). It follows the unit across
// daemon-reload and daemon-reexec (followUnit): the latter closes its
// connection, and it connects again and reads the unit's state anew, so a
// unit that died meanwhile is reported then. INSTANCE is for ps only.
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
	log := newHelperLog("vnfha-vnfc-watcher", s.Log, name, s.Instance)
	ready := func() error {
		if err := conn.Ready(); err != nil {
			return fmt.Errorf("%w: start is gone", err)
		}
		return nil
	}
	st, err := followUnit(context.Background(), &s,
		followOptions{dial: systemd.Dial, giveUp: watchGiveUp, retry: watchRetry}, ready, log)
	switch {
	case err != nil && !conn.Reported():
		_ = conn.Fail("%v", err)
		return 1
	case errors.Is(err, errUnwanted):
		log.Infof("%v", err)
		return 0
	case err != nil:
		// Start is gone (killed at its timeout): the stop that follows
		// stops the unit; nothing here to report.
		log.Warnf("%v", err)
		return 1
	}
	how := describeUnit(s.Unit, st, since{Restarts: s.Restarts, Invocation: s.Invocation})
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
