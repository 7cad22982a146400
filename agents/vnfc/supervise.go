package vnfc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/ocf"
)

// spec is what start hands the supervisor on its stdin: everything needed to
// run the VNFC, already resolved, so that the supervisor neither parses
// parameters nor looks anything up.
type spec struct {
	Dir     string   `json:"dir"` // the state directory
	Path    string   `json:"path"`
	Argv    []string `json:"argv"`
	Env     []string `json:"env"`
	Workdir string   `json:"workdir"`
	UID     *uint32  `json:"uid,omitempty"`
	GID     uint32   `json:"gid"`
	Groups  []uint32 `json:"groups,omitempty"`
	LogFile string   `json:"log_file,omitempty"`
	PIDFile string   `json:"pidfile,omitempty"`
	// Nice is the VNFC's nice (the nice parameter); 0 leaves it as
	// inherited, in the supervisor's session.
	Nice int `json:"nice,omitempty"`
	// Report is how to tell Pacemaker of a failure; nil without
	// fast_fail.
	Report *failreport.Report `json:"report,omitempty"`
	// Instance names the resource in the node's log; Log is where that
	// log is (the action's ocf.Env.Log).
	Instance string        `json:"instance"`
	Log      ocf.LogTarget `json:"log"`
	// Agent is the agent that runs the process, for the log's tag and
	// prefix: empty for a VNFC, another agent's name for a Process.
	Agent string `json:"agent,omitempty"`
	// Noun is what the log lines call the process ("the store"): empty
	// for "the VNFC".
	Noun string `json:"noun,omitempty"`
}

// noun is what the supervisor's lines call the process.
func (s *spec) noun() string { return nounOr(s.Noun) }

// nounOr is noun, or "the VNFC" when empty.
func nounOr(noun string) string {
	if noun == "" {
		return "the VNFC"
	}
	return noun
}

// pidfileWait bounds how long a forking VNFC may take, after its first
// process exited 0, to write the pid file of the daemon it left behind.
// The wait for the first process to exit is bounded by start's timeout
// alone: start then stops everything.
const pidfileWait = 5 * time.Second

// pidfilePoll is how often the pid file is read during that wait: there
// is no event for "a file was written" worth an inotify watch here.
const pidfilePoll = 10 * time.Millisecond

// treeKillWait bounds how long the supervisor keeps killing its
// descendants at its end: a process in uninterruptible sleep (D) cannot be
// reaped until its I/O ends, and must not keep the supervisor alive; stop
// then finds it and fails, which is right for a VNFC that cannot be ended.
const treeKillWait = 2 * time.Second

// supervise is the helper "vnfha-agent --helper vnfc supervise INSTANCE",
// started with the helper protocol (ocf.StartHelper: its spec on stdin,
// "ok" or the reason it failed on fd 3). It lives as long as the VNFC: it
// starts the VNFC as a child in its own process group, reaps it, and the
// moment the VNFC exits while armed, tells Pacemaker (report.go: the
// controller's IPC, crm_resource --fail as the fallback) so that recovery
// starts now rather than at the next monitor. Then it kills every process
// left below it and exits. INSTANCE is for ps only.
//
// It is a child subreaper, so everything the VNFC starts stays below it,
// even a daemon that left the VNFC's process group and session (with
// pidfile, or setsid -f): orphans are reparented to the supervisor, which
// kills them all when the VNFC ends (killTree), and on SIGTERM, which is
// how stop, and a start that failed, ask it to end what is left.
func supervise(args []string) int {
	conn, err := ocf.OpenHelper()
	if err != nil || len(args) > 1 {
		fmt.Fprintf(os.Stderr, "usage: vnfha-agent --helper vnfc supervise [INSTANCE] <spec on stdin, status on fd 3>: %v\n", err)
		return 2
	}
	var s spec
	if err := conn.ReadSpec(&s); err != nil {
		_ = conn.Fail("%v", err)
		return 2
	}
	agent := name
	if s.Agent != "" {
		agent = s.Agent
	}
	sv := &supervisor{spec: s, conn: conn, log: newHelperLog("vnfha-"+agent+"-supervisor", s.Log, agent, s.Instance)}
	return sv.run()
}

type supervisor struct {
	spec
	conn *ocf.HelperConn // start's end: answered once
	log  helperLog
	self procID
	main procID
	pgid int
	rec  *record
	// With pidfile, once the first process exited 0: the pid file is read
	// at every tick until pidDeadline.
	pidTicker   *time.Ticker
	pidDeadline time.Time
}

// starting reports whether start still waits for the supervisor's answer.
func (sv *supervisor) starting() bool { return !sv.conn.Reported() }

// fail ends a start that did not get the VNFC running: it says why to
// start, for its exit reason, and in the log.
func (sv *supervisor) fail(format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	sv.log.Warnf("%s", msg)
	if sv.starting() {
		_ = sv.conn.Fail("%s", msg)
	}
	return 1
}

func (sv *supervisor) run() int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return sv.fail("become child subreaper: %v", err)
	}
	// SIGCHLD is what wakes the loop; it is subscribed before the first
	// child exists, so that no exit is missed. SIGTERM is stop's request
	// to end everything below the supervisor.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM)
	// The supervisor has no terminal, but a stray SIGHUP or SIGINT must
	// not end it and leave the VNFC unsupervised. They are caught and
	// dropped, not ignored: an ignored signal stays ignored across exec, and
	// the VNFC must get the default dispositions (a shell cannot even trap
	// a signal that was ignored when it started).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT)

	var err error
	if sv.self, err = procid.Self(); err != nil {
		return sv.fail("read own /proc entry: %v", err)
	}
	// The supervisor names itself in the record before it starts
	// anything: if start ends from here on (its timeout, or the executor
	// kills it), the stop Pacemaker runs next finds the supervisor, and
	// ends it and whatever runs below it. If a stop has already removed
	// the state directory, this write fails and nothing is started.
	sv.rec = &record{Backend: backendProcess, Supervisor: sv.self, Starting: true}
	if err := writeRecord(sv.Dir, sv.rec); err != nil {
		return sv.fail("%v", err)
	}
	first, err := sv.spawn()
	if err != nil {
		return sv.fail("start %s: %v", show(sv.Path), err)
	}
	sv.pgid = first
	if sv.main, err = procid.Of(first); err != nil {
		// It is our child and not reaped, so its entry exists.
		sv.killTree()
		return sv.fail("read /proc entry of pid %d: %v", first, err)
	}
	// The record names the VNFC before anything waits on it.
	sv.rec.Main, sv.rec.PGID, sv.rec.Started, sv.rec.Starting = sv.main, first, time.Now(), sv.PIDFile != ""
	if err := writeRecord(sv.Dir, sv.rec); err != nil {
		sv.killTree()
		return sv.fail("%v", err)
	}
	sv.log.Infof("started %s as pid %d", ocf.Quote(strings.Join(sv.Argv, " ")), first)
	if sv.PIDFile == "" {
		if code, ok := sv.ready(); !ok {
			return code
		}
	}

	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM {
				return sv.terminate()
			}
			if code, done := sv.reap(); done {
				return code
			}
		case <-sv.poll():
			d, err := sv.findDaemon()
			var later *notYet
			switch {
			case err == nil:
				sv.pidTicker.Stop()
				sv.pidTicker = nil
				if code, ok := sv.follow(d); !ok {
					return code
				}
			case errors.Is(err, errNoPidYet) && time.Now().Before(sv.pidDeadline):
				// Not yet: read it again at the next tick.
			case errors.As(err, &later):
				sv.killTree()
				return sv.fail("%s (waited %s after %s exited)", later.msg, pidfileWait, filepath.Base(sv.Path))
			case errors.Is(err, errNoPidYet):
				sv.killTree()
				return sv.fail("pid file %s not written within %s after %s exited", sv.PIDFile, pidfileWait, filepath.Base(sv.Path))
			default:
				sv.killTree()
				return sv.fail("%v", err)
			}
		}
	}
}

// poll is the pid file's tick, nil (never ready) when no pid file is
// awaited.
func (sv *supervisor) poll() <-chan time.Time {
	if sv.pidTicker == nil {
		return nil
	}
	return sv.pidTicker.C
}

// reap reaps every child that has exited. It returns done when the
// supervisor's work is over, with its exit status.
func (sv *supervisor) reap() (int, bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return 0, false
		}
		if pid != sv.main.PID {
			continue // a reparented descendant
		}
		if sv.PIDFile != "" && sv.rec.Starting {
			// The forking VNFC's first process: it must exit 0 and leave
			// its daemon's pid behind.
			if !ws.Exited() || ws.ExitStatus() != 0 {
				sv.killTree()
				return sv.fail("%s %s before writing pid file %s", filepath.Base(sv.Path), describeWait(ws), sv.PIDFile), true
			}
			sv.main = procID{}
			sv.rec.Forked = true
			if err := writeRecord(sv.Dir, sv.rec); err != nil {
				sv.killTree()
				return sv.fail("%v", err), true
			}
			sv.pidDeadline = time.Now().Add(pidfileWait)
			sv.pidTicker = time.NewTicker(pidfilePoll)
			continue
		}
		sv.exited(ws)
		return 0, true
	}
}

// follow makes the daemon named by the pid file the VNFC's main process.
func (sv *supervisor) follow(d daemon) (int, bool) {
	sv.main = d.procID
	// A daemon usually calls setsid: its group, not the first process's,
	// is the VNFC's. Its session is then a new one, whose autogroup
	// needs the nice too (its threads inherited theirs).
	sv.pgid = d.pgid
	if err := sv.niceAutogroup(d.PID); err != nil {
		sv.killTree()
		return sv.fail("%v", err), false
	}
	sv.rec.Main, sv.rec.PGID, sv.rec.Started, sv.rec.Starting = d.procID, d.pgid, time.Now(), false
	if err := writeRecord(sv.Dir, sv.rec); err != nil {
		sv.killTree()
		return sv.fail("%v", err), false
	}
	sv.log.Infof("the daemon runs as pid %d", d.PID)
	return sv.ready()
}

// credential is who the VNFC runs as, for the files of its own that the
// supervisor reads (the pid file); nil for root.
func (sv *supervisor) credential() *credential {
	if sv.UID == nil {
		return nil
	}
	return &credential{uid: *sv.UID, gid: sv.GID, groups: sv.Groups, name: fmt.Sprint(*sv.UID)}
}

// terminate is the end stop asks for: everything below the supervisor is
// killed, then it exits.
func (sv *supervisor) terminate() int {
	sv.log.Infof("asked to stop: ending every process left below the supervisor")
	sv.killTree()
	if sv.starting() {
		return sv.fail("stopped before %s was ready", sv.noun())
	}
	return 0
}

// spawn starts the VNFC in a new process group and returns its pid. With
// nice, the group is a new session (setsid makes the VNFC the leader of a
// session and of a process group, both of its pid: the group's pid, which
// the record keeps and stop and exited kill, is the same), so that the
// VNFC has an autogroup of its own, and the VNFC starts at that nice
// (nice.go). What it started is killed if its priority cannot be set.
func (sv *supervisor) spawn() (int, error) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if sv.Nice != 0 {
		attr = &syscall.SysProcAttr{Setsid: true}
	}
	if sv.UID != nil {
		attr.Credential = &syscall.Credential{Uid: *sv.UID, Gid: sv.GID, Groups: sv.Groups}
	}
	start := func() (*os.Process, error) {
		// The VNFC's stdout and stderr are ours: the log file, or /dev/null.
		return os.StartProcess(sv.Path, sv.Argv, &os.ProcAttr{
			Dir:   sv.Workdir,
			Env:   sv.Env,
			Files: []*os.File{devNull(), os.Stderr, os.Stderr},
			Sys:   attr,
		})
	}
	var p *os.Process
	var err error
	if sv.Nice != 0 {
		p, err = startNiced(sv.Nice, start)
	} else {
		p, err = start()
	}
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	// The os.Process is dropped without Wait: run reaps with wait4(-1),
	// which is the only way to also reap reparented descendants.
	_ = p.Release()
	if err := sv.niceAutogroup(pid); err != nil {
		sv.killTree()
		return 0, err
	}
	return pid, nil
}

// niceAutogroup gives the autogroup of pid's session the VNFC's nice. The
// VNFC runs at the autogroup's default weight from its exec to this write,
// a fraction of a millisecond: its threads have their nice from the
// start, and nothing else is in its autogroup to compete with.
func (sv *supervisor) niceAutogroup(pid int) error {
	if sv.Nice == 0 {
		return nil
	}
	skipped, err := setAutogroupNice(pid, sv.Nice)
	if skipped != "" {
		sv.log.Debugf("autogroup nice of pid %d not set: %s", pid, skipped)
	}
	return err
}

// ready tells start that the VNFC runs. If start is no longer there to
// hear it (killed at its timeout), the start failed: the supervisor ends
// what it started and exits, and the stop that follows finds nothing.
func (sv *supervisor) ready() (int, bool) {
	if err := sv.conn.Ready(); err != nil {
		sv.log.Warnf("%v: start is gone; ending %s", err, sv.noun())
		sv.killTree()
		return 1, false
	}
	return 0, true
}

// daemon is the main process of a forking VNFC.
type daemon struct {
	procID
	pgid int
}

// findDaemon reads the pid file a forking VNFC writes and checks that the
// pid is a live process below the supervisor: reparented to it, the child
// subreaper, when its parent exited, or still below a parent of its own
// that is on its way out. errNoPidYet (also for a pid that does not run
// yet, or not yet below us) means "read it again".
func (sv *supervisor) findDaemon() (daemon, error) {
	pid, err := readPidfile(sv.credential(), sv.PIDFile)
	if err != nil {
		return daemon{}, err
	}
	st, err := procid.ReadStat(pid)
	if err != nil || st.Zombie() || !isDescendant(pid, os.Getpid()) {
		// A stale pid file, from before this start, until the daemon
		// writes its own: waited for, up to pidfileWait.
		// The pid is not echoed: the file may be one the user made
		// point elsewhere, and its contents are not ours to show.
		return daemon{}, &notYet{fmt.Sprintf("pid file %s names no process %s started", sv.PIDFile, sv.noun())}
	}
	return daemon{procID{PID: pid, Start: st.Start}, st.PGID}, nil
}

// notYet is a pid file that is wrong now and may still be rewritten by
// the daemon: it counts as errNoPidYet until the wait ends, and then its
// text is the reason.
type notYet struct{ msg string }

func (e *notYet) Error() string        { return e.msg }
func (e *notYet) Is(target error) bool { return target == errNoPidYet }

// exited handles the end of the VNFC's main process.
func (sv *supervisor) exited(ws unix.WaitStatus) {
	e := exitRecord{PID: sv.main.PID, How: describeWait(ws), At: time.Now()}
	armed := take(filepath.Join(sv.Dir, armedFile))
	// For start or monitor: how it ended.
	b, _ := json.Marshal(e)
	if err := writeFileAtomic(filepath.Join(sv.Dir, exitFile), b); err != nil {
		sv.log.Warnf("%v", err)
	}
	msg := fmt.Sprintf("%s (pid %d) %s", sv.noun(), e.PID, e.How)
	if !armed {
		sv.log.Infof("%s: stopped deliberately, or before start finished", msg)
		sv.killTree()
		return
	}
	// The one line an operator looks for after crm_mon shows the failure
	// (with fast_fail, as "Simulated failure": see the agent's notes).
	sv.log.Errorf("%s", msg)
	// What is left of the group dies first, in one system call, so that a
	// worker cannot hold the VNFC's port while Pacemaker restarts it here;
	// then the report; the rest of the tree and the reaping after it.
	if sv.pgid > 0 {
		_ = syscall.Kill(-sv.pgid, syscall.SIGKILL)
	}
	if sv.Report != nil {
		sv.Report.Tell(sv.log)
	}
	sv.killTree()
}

// killTree kills every process below the supervisor and reaps them, until
// it has no child left (wait4 says ECHILD: as a child subreaper, that
// means no descendant either) or treeKillWait has passed.
func (sv *supervisor) killTree() {
	deadline := time.Now().Add(treeKillWait)
	for {
		if ps, err := scanProcs(); err == nil {
			for _, p := range descendants(ps, os.Getpid()) {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.ECHILD) {
				return
			}
			if pid <= 0 || err != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			sv.log.Errorf("processes below the supervisor outlived SIGKILL for %s; leaving them to stop", treeKillWait)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var devNullFile *os.File

func devNull() *os.File {
	if devNullFile == nil {
		devNullFile, _ = os.Open(os.DevNull)
	}
	return devNullFile
}
