package vnfc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	// Report is how to tell Pacemaker of a failure; nil without
	// fast_fail.
	Report *report `json:"report,omitempty"`
}

// supervisorReady is the line the supervisor writes on fd 3 once the VNFC
// runs; anything else is the reason it could not start it.
const supervisorReady = "ok"

// pidfileWait bounds how long a forking VNFC may take, after its first
// process exits, to write the pid file of the daemon it left behind.
const pidfileWait = 5 * time.Second

// supervise is the helper "vnfha-agent --helper vnfc supervise". Start runs
// it detached (setsid, stdio on the log), and it lives as long as the VNFC:
// it starts the VNFC as a child in its own process group, reaps it, and
// the moment the VNFC exits while armed, tells Pacemaker with
// "crm_resource --fail" so that recovery starts now rather than at the next
// monitor. Then it kills what is left of the VNFC's process group and exits.
//
// It is a child subreaper, so a VNFC that forks into the background (see
// pidfile) stays its child and is reaped by it.
func supervise(args []string) int {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix(fmt.Sprintf("vnfha-vnfc-supervisor[%d]: ", os.Getpid()))
	status := os.NewFile(3, "status")
	if status == nil || len(args) != 0 {
		fmt.Fprintln(os.Stderr, "usage: vnfha-agent --helper vnfc supervise <spec on stdin, status on fd 3>")
		return 2
	}
	var s spec
	if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<20)).Decode(&s); err != nil {
		fmt.Fprintf(status, "read supervisor spec: %v\n", err)
		return 2
	}
	sv := &supervisor{spec: s, status: status}
	return sv.run()
}

type supervisor struct {
	spec
	status *os.File
	main   procID
	pgid   int
}

func (sv *supervisor) fail(format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	log.Print(msg)
	if sv.status != nil {
		fmt.Fprintln(sv.status, msg)
		sv.status.Close()
		sv.status = nil
	}
	return 1
}

func (sv *supervisor) run() int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return sv.fail("become child subreaper: %v", err)
	}
	// SIGCHLD is what wakes the loop; it is subscribed before the first
	// child exists, so that no exit is missed.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	// The supervisor has no terminal, but a stray SIGHUP or SIGINT must
	// not end it and leave the VNFC unsupervised. They are caught and
	// dropped, not ignored: an ignored signal stays ignored across exec, and
	// the VNFC must get the default dispositions (a shell cannot even trap
	// a signal that was ignored when it started).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT)

	self, err := identify(os.Getpid())
	if err != nil {
		return sv.fail("read own /proc entry: %v", err)
	}
	first, err := sv.spawn()
	if err != nil {
		return sv.fail("start %s: %v", sv.Path, err)
	}
	sv.pgid = first
	rec := &record{Supervisor: self, PGID: first, Started: time.Now()}
	if sv.main, err = identify(first); err != nil {
		// It is our child and not reaped, so its entry exists.
		return sv.fail("read /proc entry of pid %d: %v", first, err)
	}
	if sv.PIDFile == "" {
		rec.Main = sv.main
		if err := writeRecord(sv.Dir, rec); err != nil {
			sv.killGroup()
			return sv.fail("%v", err)
		}
		sv.ready()
	}
	log.Printf("started %s as pid %d", strings.Join(sv.Argv, " "), first)

	for range sigs {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid != sv.main.PID {
				continue // a reparented grandchild
			}
			if sv.PIDFile != "" && sv.status != nil {
				// The forking VNFC's first process: it must exit 0 and
				// leave its daemon's pid behind.
				if !ws.Exited() || ws.ExitStatus() != 0 {
					sv.killGroup()
					return sv.fail("%s %s before writing %s", sv.Path, describeWait(ws), sv.PIDFile)
				}
				daemon, err := sv.readDaemon()
				if err != nil {
					sv.killGroup()
					return sv.fail("%v", err)
				}
				sv.main, rec.Main = daemon.procID, daemon.procID
				// A daemon usually calls setsid: its group, not the
				// first process's, is the one to kill.
				sv.pgid, rec.PGID = daemon.pgid, daemon.pgid
				if err := writeRecord(sv.Dir, rec); err != nil {
					sv.killGroup()
					return sv.fail("%v", err)
				}
				log.Printf("daemon runs as pid %d", daemon.PID)
				sv.ready()
				continue
			}
			sv.exited(ws)
			return 0
		}
	}
	return 0
}

// spawn starts the VNFC in a new process group and returns its pid.
func (sv *supervisor) spawn() (int, error) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if sv.UID != nil {
		attr.Credential = &syscall.Credential{Uid: *sv.UID, Gid: sv.GID, Groups: sv.Groups}
	}
	// The VNFC's stdout and stderr are ours: the log file, or /dev/null.
	p, err := os.StartProcess(sv.Path, sv.Argv, &os.ProcAttr{
		Dir:   sv.Workdir,
		Env:   sv.Env,
		Files: []*os.File{devNull(), os.Stderr, os.Stderr},
		Sys:   attr,
	})
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	// The os.Process is dropped without Wait: run reaps with wait4(-1),
	// which is the only way to also reap reparented grandchildren.
	_ = p.Release()
	return pid, nil
}

// ready tells start that the VNFC runs.
func (sv *supervisor) ready() {
	fmt.Fprintln(sv.status, supervisorReady)
	sv.status.Close()
	sv.status = nil
}

// daemon is the main process of a forking VNFC.
type daemon struct {
	procID
	pgid int
}

// readDaemon reads the pid file a forking VNFC writes and checks that the
// pid is a live process of ours: reparented to the supervisor, the child
// subreaper, when its parent exited.
func (sv *supervisor) readDaemon() (daemon, error) {
	deadline := time.Now().Add(pidfileWait)
	var lastErr error
	for i := 0; i < int(pidfileWait/(10*time.Millisecond)) && time.Now().Before(deadline); i++ {
		b, err := os.ReadFile(sv.PIDFile)
		if err == nil {
			pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
			if perr != nil || pid <= 0 {
				return daemon{}, fmt.Errorf("pid file %s holds %q, not a pid", sv.PIDFile, strings.TrimSpace(string(b)))
			}
			st, err := readStat(pid)
			if err != nil {
				return daemon{}, fmt.Errorf("pid file %s names pid %d, which does not run", sv.PIDFile, pid)
			}
			if st.ppid != os.Getpid() {
				return daemon{}, fmt.Errorf("pid file %s names pid %d, which the VNFC did not start", sv.PIDFile, pid)
			}
			return daemon{procID{PID: pid, Start: st.start}, st.pgid}, nil
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return daemon{}, fmt.Errorf("pid file %s not written within %s: %v", sv.PIDFile, pidfileWait, lastErr)
}

// exited handles the end of the VNFC's main process.
func (sv *supervisor) exited(ws unix.WaitStatus) {
	msg := fmt.Sprintf("the VNFC (pid %d) %s at %s", sv.main.PID, describeWait(ws), time.Now().Format(time.RFC3339Nano))
	armed := take(filepath.Join(sv.Dir, armedFile))
	if !armed {
		log.Printf("%s: stopped deliberately, or before start finished", msg)
		// For a start that is still waiting: it reports this.
		_ = writeFileAtomic(filepath.Join(sv.Dir, exitFile), []byte(msg+"\n"))
		sv.killGroup()
		return
	}
	log.Print(msg)
	if err := writeFileAtomic(filepath.Join(sv.Dir, exitFile), []byte(msg+"\n")); err != nil {
		log.Print(err)
	}
	// What is left of the group dies first, in one system call, so that a
	// worker cannot hold the VNFC's port while Pacemaker restarts it here;
	// then the report; reaping waits until after it.
	if sv.pgid > 0 {
		_ = syscall.Kill(-sv.pgid, syscall.SIGKILL)
	}
	if sv.Report != nil {
		sv.Report.tell()
	}
	sv.killGroup()
}

// killGroup kills what is left of the VNFC's process group, and reaps it.
func (sv *supervisor) killGroup() {
	if sv.pgid > 0 {
		_ = syscall.Kill(-sv.pgid, syscall.SIGKILL)
	}
	// Reap what exits now; bounded, because a process stuck in D state
	// must not keep the supervisor alive.
	for i := 0; i < 50; i++ {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.ECHILD) {
			return
		}
		if pid <= 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

var devNullFile *os.File

func devNull() *os.File {
	if devNullFile == nil {
		devNullFile, _ = os.Open(os.DevNull)
	}
	return devNullFile
}
