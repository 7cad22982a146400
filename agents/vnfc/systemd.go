package vnfc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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
	rec     *record
	started time.Time // when the start job finished
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

// dial connects to systemd within the action's time.
func dial(ctx context.Context) (*systemd.Conn, error) {
	conn, err := systemd.Dial(ctx)
	if err != nil {
		return nil, ocf.Generic("connect to systemd: %v", err)
	}
	return conn, nil
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
		return status{}, err
	}
	switch {
	case st.Active():
		return status{state: running, unsupervised: rec != nil && rec.Supervisor.PID != 0 && !rec.Supervisor.Alive()}, nil
	case st.ActiveState == "activating":
		// Still starting (a unit file's ExecStartPre, or Type=notify):
		// not yet up; start waits for it.
		return status{state: failed, reason: fmt.Sprintf("unit %s is still activating", unit)}, nil
	case rec == nil:
		// Not started by us on this node, and not running: a unit that
		// failed before is no resource of ours to recover.
		return status{state: stopped}, nil
	}
	return status{state: failed, reason: describeUnit(unit, st)}, nil
}

// describeUnit says how a unit ended, for exit reasons.
func describeUnit(unit string, st systemd.State) string {
	s := fmt.Sprintf("unit %s is %s (%s)", unit, st.ActiveState, st.SubState)
	if st.Result != "" && st.Result != "success" {
		s += ", result " + st.Result
	}
	switch st.ExecMainCode {
	case 1:
		s += fmt.Sprintf(", main process exited with status %d", st.ExecMainStatus)
	case 2, 3:
		s += fmt.Sprintf(", main process killed by signal %d", st.ExecMainStatus)
	}
	return s
}

func (b *systemdBackend) start(ctx context.Context, c *config, env *ocf.Env) error {
	if err := resetDir(b.dir); err != nil {
		return err
	}
	conn, err := dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rec := &record{Backend: backendSystemd, Unit: b.unit, Started: time.Now()}
	// The record goes first: a stop after a start that timed out must know
	// which unit to stop.
	if err := writeRecord(b.dir, rec); err != nil {
		return err
	}
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
		err = conn.StartTransient(ctx, b.unit, t)
	} else {
		err = conn.Start(ctx, b.unit)
	}
	if err != nil {
		// A VNFC that ended before its start job finished fails the job:
		// say how it ended, as for an exit within the settle time.
		if gone, how := b.gone(ctx); gone {
			return ocf.Generic("%s", how)
		}
		return ocf.Generic("%v", err)
	}
	b.started = time.Now()
	if c.fastFail {
		// systemd (PID1) has opened log_file as root already
		// (StandardOutput=append:, systemd's rule): the watcher opens it
		// as root as well, without following a symbolic link, since as
		// the user it could not write to the file systemd created.
		w, err := startWatcher(ctx, b.dir, b.unit, env, nil, c.logFile)
		if err != nil {
			return err
		}
		rec.Supervisor = w
		if err := writeRecord(b.dir, rec); err != nil {
			return err
		}
	}
	b.rec = rec
	return nil
}

// unitState reads a unit's state over a connection of its own.
func unitState(ctx context.Context, unit string) (systemd.State, error) {
	conn, err := dial(ctx)
	if err != nil {
		return systemd.State{}, err
	}
	defer conn.Close()
	st, err := conn.State(ctx, unit)
	if err != nil {
		return systemd.State{}, ocf.Generic("%v", err)
	}
	return st, nil
}

func (b *systemdBackend) startedAt() time.Time { return b.started }

// gone reports whether the unit has ended, and how, for start's reason.
func (b *systemdBackend) gone(ctx context.Context) (bool, string) {
	st, err := unitState(ctx, b.unit)
	if err != nil || st.Active() || st.ActiveState == "activating" {
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
	conn, err := dial(ctx)
	if err != nil {
		if rec == nil {
			// No systemd to ask, and nothing started by us: nothing runs.
			return os.RemoveAll(b.dir)
		}
		return err
	}
	defer conn.Close()
	// systemd escalates to SIGKILL after the unit's stop timeout (our
	// stop_timeout for a transient unit) and waits for the whole cgroup.
	if err := conn.Stop(ctx, unit); err != nil {
		return ocf.Generic("%v", err)
	}
	// A unit that failed stays failed through a stop; Pacemaker has
	// recorded the failure, so systemd can forget it.
	if err := conn.ResetFailed(ctx, unit); err != nil {
		log.Warnf("%v", err)
	}
	if rec != nil && rec.Supervisor.PID != 0 {
		// The watcher exits when it sees the unit stop; make sure.
		if !rec.Supervisor.WaitExit(2 * time.Second) {
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
}

// startWatcher starts the watcher and waits until it follows the unit.
func startWatcher(ctx context.Context, dir, unit string, env *ocf.Env, cred *credential, logFile string) (procID, error) {
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
		Spec:   watchSpec{Dir: dir, Unit: unit, Report: r, Instance: env.Instance, Log: env.Log},
		Env:    henv,
		Output: out,
	})
	if err != nil {
		return procID{}, ocf.Generic("unit watcher: %v", err)
	}
	return id, nil
}

// watch is the helper "vnfha-agent --helper vnfc watch INSTANCE", started
// with the helper protocol: it follows the unit over D-Bus and, the first
// time it sees it no longer active while armed, reports the failure as the
// supervisor does (report.go: the controller's IPC, crm_resource --fail as
// the fallback). It exits once the unit is down, reported or not (a stop).
// INSTANCE is for ps only.
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
	ctx := context.Background()
	sd, err := systemd.Dial(ctx)
	if err != nil {
		_ = conn.Fail("connect to systemd: %v", err)
		return 1
	}
	defer sd.Close()
	states, err := sd.Watch(ctx, s.Unit)
	if err != nil {
		_ = conn.Fail("%v", err)
		return 1
	}
	for st := range states {
		if !conn.Reported() {
			if err := conn.Ready(); err != nil {
				// Start is gone (killed at its timeout): the stop that
				// follows stops the unit; nothing here to report.
				log.Warnf("%v: start is gone", err)
				return 1
			}
		}
		if st.Active() || st.ActiveState == "activating" || st.ActiveState == "reloading" {
			continue
		}
		how := describeUnit(s.Unit, st)
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
	}
	return 1
}
