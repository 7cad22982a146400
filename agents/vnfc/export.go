package vnfc

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// Process is a long-lived command that another agent runs under this
// agent's supervision (ocf:vnfha:checkpoint runs its store so), exactly as
// a VNFC with backend=process runs: a supervisor in a session of its own
// starts the command as a child in a process group of its own, reaps it,
// and the moment it exits while it should run, tells Pacemaker (fast_fail);
// stop sends StopSignal to every process of it and SIGKILL after
// StopTimeout. One supervisor, shared, not a second one.
//
// A Process lives in Dir, a state directory of the caller's that nothing
// else uses: Start empties it, Stop removes it. Each action of the caller
// makes a Process with the same fields and calls it from one goroutine.
// The supervisor is "vnfha-agent --helper vnfc supervise INSTANCE" in ps;
// its log lines carry Agent's tag.
type Process struct {
	// Dir is the process's state directory (absolute).
	Dir string
	// Agent names the calling agent in the supervisor's log lines
	// ("checkpoint(ckpt)[PID]: ERROR: ..."); Instance the resource, as
	// there and in the process's environment (VNFHA_RESOURCE).
	Agent, Instance string
	// Argv is the command: Argv[0] is the program's absolute path.
	Argv []string
	// Env is added to the process's clean environment (PATH, HOME, USER,
	// LOGNAME, LANG, VNFHA_RESOURCE, VNFHA_NODE), and wins.
	Env []string
	// Workdir is its working directory; empty means /.
	Workdir string
	// LogFile, absolute, gets its stdout and stderr and the supervisor's
	// lines; empty discards them.
	LogFile string
	// StopSignal (default SIGTERM) and StopTimeout (default 20s) are how
	// Stop ends it; the timeout is cut to fit the stop's own.
	StopSignal  syscall.Signal
	StopTimeout time.Duration
	// Settle is how long it must run before Start succeeds.
	Settle time.Duration
	// FastFail reports an unexpected exit to Pacemaker at once.
	FastFail bool
	// Noun is what exit reasons and log lines call the process ("the
	// store"); empty: "the VNFC".
	Noun string
}

// ProcessState is what runs of a Process on this node.
type ProcessState int

// The states of a Process.
const (
	// ProcessStopped: nothing of it runs, cleanly (or it never started).
	ProcessStopped ProcessState = iota
	// ProcessRunning: it runs.
	ProcessRunning
	// ProcessFailed: it was started and ended, or a start did not
	// finish: a Stop must follow.
	ProcessFailed
)

// ProcessStatus is what Status finds.
type ProcessStatus struct {
	State ProcessState
	// Reason says why it failed ("the VNFC was killed by signal 9 ...",
	// in the words vnfc's own monitor uses), or why it runs unsupervised.
	Reason string
	// Unsupervised is set when it runs but its supervisor is gone: an
	// exit would only be found by the next monitor.
	Unsupervised bool
}

// Logger is where Stop says what it had to do (a SIGKILL).
type Logger interface {
	Warnf(format string, args ...any)
}

var errNoDir = errors.New("a Process needs an absolute state directory")

func (p *Process) config(env *ocf.Env) *config {
	sig, grace := p.StopSignal, p.StopTimeout
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if grace <= 0 {
		grace = 20 * time.Second
	}
	c := &config{
		argv: p.Argv, env: p.Env, workdir: p.Workdir, logFile: p.LogFile,
		stopSignal: sig, stopTimeout: grace, settle: p.Settle, fastFail: p.FastFail,
		backend: backendProcess, instance: p.Instance, agent: p.Agent,
	}
	if len(p.Argv) > 0 {
		c.path = p.Argv[0]
	}
	if env != nil {
		c.node = env.OnNode
	}
	return c
}

// Start starts the process and returns once it runs, ready (if not nil)
// has passed, it has run for Settle and its exit is armed (reported from
// now on). ready is polled, as vnfc's health check is, until it passes,
// the process exits or ctx ends. A start that fails stops what it started
// before it returns (within ocf.CleanupContext), and its error is an
// *ocf.Error for the action to return. The caller checks Status first:
// Start replaces whatever Dir held.
func (p *Process) Start(ctx context.Context, env *ocf.Env, log Logger, ready func(context.Context) error) error {
	if !filepath.IsAbs(p.Dir) || len(p.Argv) == 0 || !filepath.IsAbs(p.Argv[0]) {
		return ocf.Generic("start: %v and a program's absolute path", errNoDir)
	}
	c := p.config(env)
	b := &processBackend{dir: p.Dir, noun: p.Noun}
	err := b.start(ctx, c, env)
	if err == nil {
		err = settle(ctx, b, c.settle, ready)
	}
	if err != nil {
		cctx, cancel := ocf.CleanupContext(ctx)
		defer cancel()
		if serr := b.stop(cctx, c, log); serr != nil {
			log.Warnf("clean up after failed start: %v", serr)
		}
		return err
	}
	return nil
}

// Stop ends every process of it (StopSignal, SIGKILL after StopTimeout)
// and removes Dir. It succeeds when nothing of it is left, whatever state
// it was in; it fails only when a process survives SIGKILL.
func (p *Process) Stop(ctx context.Context, log Logger) error {
	if !filepath.IsAbs(p.Dir) {
		return ocf.Generic("stop: %v", errNoDir)
	}
	return (&processBackend{dir: p.Dir, noun: p.Noun}).stop(ctx, p.config(nil), log)
}

// Status says what runs. It reads Dir and checks the recorded processes
// (pid and start time): no fork, no scan of /proc.
func (p *Process) Status(ctx context.Context) (ProcessStatus, error) {
	if !filepath.IsAbs(p.Dir) {
		return ProcessStatus{}, errNoDir
	}
	st, err := (&processBackend{dir: p.Dir, noun: p.Noun}).status(ctx)
	if err != nil {
		return ProcessStatus{}, err
	}
	out := ProcessStatus{Reason: st.reason, Unsupervised: st.unsupervised}
	switch st.state {
	case running:
		out.State = ProcessRunning
	case failed:
		out.State = ProcessFailed
	}
	return out, nil
}
