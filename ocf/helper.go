package ocf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/procid"
)

// The helper start-up protocol, in one place for every agent.
//
// An action (the parent) starts a helper with StartHelper: a new copy of
// the agent binary in a session of its own, with its own environment and
// stdio. The parent writes the helper's spec, JSON, on the helper's stdin
// and closes it; the helper reads it with (*HelperConn).ReadSpec, does
// whatever must be done before the action may succeed, and then writes one
// line on file descriptor 3: "ok" (Ready), or the reason it failed (Fail).
// The parent waits for that line until its context ends. On "ok" it returns
// the helper's procid.ID and leaves the helper running (it outlives the
// agent, and init reaps it). On anything else (a reason, the helper exiting
// or closing fd 3 without a line, the context ending, the spec not
// written) it kills the helper's process group, waits for the helper to be
// gone, and returns a *HelperError: a failed start leaves no helper behind.
//
// File descriptors in the helper: 0 the spec (or /dev/null), 1 and 2 the
// output (a log file or /dev/null), 3 the status pipe, and from 4 on
// HelperStart.ExtraFiles in order (HelperConn.File).

// HelperFunc is the main function of a helper process: a long-lived
// process that an action starts and leaves running after it returns, such
// as the vip agent's announcer or the vnfc agent's supervisor. It gets the
// arguments after its name and returns the process's exit status.
type HelperFunc func(args []string) int

// HelperArg is the argument that makes the agent binary run a helper
// instead of an action: "vnfha-agent --helper AGENT HELPER ARGS...".
// It is not an OCF action, so Pacemaker never calls it.
const HelperArg = "--helper"

// helperArgv0 is the name helpers run under. It must not be an agent's
// name, or the binary would dispatch on it as an agent.
const helperArgv0 = "vnfha-agent"

const (
	// HelperStatusFD is the helper's end of the status pipe.
	HelperStatusFD = 3
	// HelperExtraFD is where the first of HelperStart.ExtraFiles lands in
	// the helper; the next ones follow.
	HelperExtraFD = 4
	// MaxHelperSpec bounds the spec, in bytes: StartHelper refuses a
	// larger one and ReadSpec stops reading after it.
	MaxHelperSpec = 1 << 20
	// MaxHelperReason bounds the reason a helper reports, in bytes: it
	// becomes an exit reason, which Pacemaker records in the CIB.
	MaxHelperReason = 256
	// helperReady is the status line of a helper that succeeded.
	helperReady = "ok"
	// helperKillWait bounds how long a failed start waits for a killed
	// helper to be gone, after the context ended: a process stuck in the
	// kernel (D state) must not hold the action past its timeout. A
	// SIGKILLed process is normally gone within milliseconds.
	helperKillWait = 2 * time.Second
)

// HelperCommand returns a command that runs helper name of agent agent in
// a new copy of the running binary. It uses /proc/self/exe, which still works
// when a package upgrade has replaced the binary under its path since this
// process started. StartHelper uses it; a caller that runs it itself sets
// stdio, ExtraFiles and SysProcAttr.
func HelperCommand(agent, name string, args ...string) *exec.Cmd {
	return &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{helperArgv0, HelperArg, agent, name}, args...),
	}
}

// Helper returns the helper called name, or nil.
func (a *Agent) Helper(name string) HelperFunc {
	return a.Helpers[name]
}

// HelperStart is what StartHelper needs to start one helper.
type HelperStart struct {
	// Agent and Name pick the helper: Agent.Helpers[Name] of the agent
	// called Agent.
	Agent, Name string
	// Args follow the helper's name on its command line, where ps and
	// /proc/PID/cmdline show them: put there what identifies the helper
	// (an instance name), and everything else in Spec.
	Args []string
	// Spec, if not nil, is encoded as JSON and written on the helper's
	// stdin, at most MaxHelperSpec bytes; nil gives it /dev/null.
	Spec any
	// Env is the helper's whole environment. Nil means an empty one, not
	// the agent's: Pacemaker's OCF_* variables are no business of a
	// process that outlives the action.
	Env []string
	// Output is the helper's stdout and stderr; nil means /dev/null. The
	// helper gets its own descriptor: the caller may close Output once
	// StartHelper returns.
	Output *os.File
	// ExtraFiles are given to the helper as file descriptors
	// HelperExtraFD, HelperExtraFD+1... The caller keeps and closes its
	// own copies.
	ExtraFiles []*os.File
	// StopGrace, if positive, is how long a failed start waits after
	// SIGTERM to the helper's process group before SIGKILL, so a helper
	// that already started something can end it. Zero: SIGKILL at once.
	// It is spent after the context has ended: keep it well inside the
	// margin between the action's context and Pacemaker's timeout.
	StopGrace time.Duration
}

// HelperError is how a helper failed to start. Its message puts the cause
// first: the helper's own reason when it gave one.
type HelperError struct {
	Helper string // "AGENT NAME"
	PID    int    // 0 if the helper never ran
	// Reason is the line the helper reported, at most MaxHelperReason
	// bytes; empty if it reported none.
	Reason string
	// Exit says how the helper ended ("exit status 2", "signal: killed"),
	// once it was reaped; empty if that is not known.
	Exit string
	// Err is what ended the wait without a reason: the context's error,
	// or an I/O error on the spec or status pipe.
	Err error
}

// Error returns the reason the helper gave, or says what happened.
func (e *HelperError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	var b strings.Builder
	b.WriteString(e.Helper + " helper")
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled):
		b.WriteString(" did not report ready in time")
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	default:
		b.WriteString(" ended without reporting ready")
	}
	if e.Exit != "" {
		fmt.Fprintf(&b, " (%s)", e.Exit)
	}
	return b.String()
}

// Unwrap returns Err, so that errors.Is(err, context.DeadlineExceeded)
// tells a helper that ran out of time.
func (e *HelperError) Unwrap() error { return e.Err }

// StartHelper starts a helper and waits until it reports ready, at most
// until ctx ends. On success it returns the helper's identity, for a later
// stop to check before it signals (procid.ID.Signal), and leaves it
// running. On failure nothing of the helper runs any more (its process
// group is killed and the helper reaped) and the error is a *HelperError,
// or a plain error if the helper could not be started at all.
//
//	id, err := ocf.StartHelper(ctx, ocf.HelperStart{Agent: "vnfc", Name: "supervise", Spec: s, Output: logf})
func StartHelper(ctx context.Context, h HelperStart) (procid.ID, error) {
	what := h.Agent + " " + h.Name
	if h.Agent == "" || h.Name == "" {
		return procid.ID{}, fmt.Errorf("start helper %q: agent and helper name are required", what)
	}
	var spec []byte
	if h.Spec != nil {
		var err error
		if spec, err = json.Marshal(h.Spec); err != nil {
			return procid.ID{}, fmt.Errorf("encode %s helper spec: %w", what, err)
		}
		if len(spec) > MaxHelperSpec {
			return procid.ID{}, fmt.Errorf("%s helper spec is %d bytes, more than %d", what, len(spec), MaxHelperSpec)
		}
	}
	if err := ctx.Err(); err != nil {
		return procid.ID{}, &HelperError{Helper: what, Err: err}
	}

	// Every descriptor the parent opens here is closed before it returns;
	// the helper has its own copies.
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return procid.ID{}, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	toClose = append(toClose, devNull)
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return procid.ID{}, fmt.Errorf("create status pipe: %w", err)
	}
	toClose = append(toClose, statusR, statusW)
	stdin := devNull
	var specW *os.File
	if spec != nil {
		var specR *os.File
		if specR, specW, err = os.Pipe(); err != nil {
			return procid.ID{}, fmt.Errorf("create spec pipe: %w", err)
		}
		toClose = append(toClose, specR, specW)
		stdin = specR
	}
	out := h.Output
	if out == nil {
		out = devNull
	}

	cmd := HelperCommand(h.Agent, h.Name, h.Args...)
	// *os.File stdio: exec.Cmd starts no copying goroutine, so nothing
	// needs Wait on success.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
	cmd.ExtraFiles = append([]*os.File{statusW}, h.ExtraFiles...)
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	// A session of its own: Pacemaker's executor kills a timed-out
	// action's process group, and the helper must outlive the action.
	// It also makes the helper a process group leader, so that a failed
	// start kills the helper and what it started in its group at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return procid.ID{}, fmt.Errorf("start %s helper: %w", what, err)
	}
	// The parent's copies of the helper's ends: once closed, the status
	// pipe reads end-of-file when the helper (and whatever inherited the
	// descriptor) has gone.
	statusW.Close()
	if spec != nil {
		stdin.Close()
	}

	// The end of ctx unblocks the write and the read below.
	stop := context.AfterFunc(ctx, func() {
		past := time.Unix(1, 0)
		statusR.SetReadDeadline(past)
		if specW != nil {
			specW.SetWriteDeadline(past)
		}
	})
	defer stop()

	var ioErr error
	if spec != nil {
		if _, err := specW.Write(spec); err != nil {
			ioErr = fmt.Errorf("send spec: %w", err)
		}
		specW.Close()
	}
	line, complete, err := readStatusLine(statusR)
	if err != nil && ioErr == nil && !errors.Is(err, io.EOF) {
		ioErr = fmt.Errorf("read status: %w", err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(ioErr, os.ErrDeadlineExceeded) || !complete) {
		// The deadline, not the pipe, ended the wait.
		ioErr = ctxErr
	}

	if complete && line == helperReady && ioErr == nil {
		// The helper is our child and not reaped, so its entry exists
		// even if it has exited since it said ok.
		id, err := procid.Of(cmd.Process.Pid)
		if err == nil {
			cmd.Process.Release()
			return id, nil
		}
		ioErr = fmt.Errorf("identify helper: %w", err)
	}
	herr := &HelperError{Helper: what, PID: cmd.Process.Pid, Err: ioErr}
	if complete && line != helperReady {
		herr.Reason = line
	}
	herr.Exit = killHelper(ctx, cmd, h.StopGrace)
	return procid.ID{}, herr
}

// readStatusLine reads the helper's one status line, at most
// MaxHelperReason bytes and a newline. complete is true when the line was
// ended by a newline, or by end-of-file after some text.
func readStatusLine(r io.Reader) (line string, complete bool, err error) {
	buf := make([]byte, 0, MaxHelperReason+1)
	var chunk [128]byte
	// Bounded: every round reads at least one byte or ends.
	for len(buf) <= MaxHelperReason {
		n, rerr := r.Read(chunk[:min(len(chunk), MaxHelperReason+1-len(buf))])
		buf = append(buf, chunk[:n]...)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			return string(bytes.TrimSpace(buf[:i])), true, nil
		}
		if rerr != nil {
			text := string(bytes.TrimSpace(buf))
			return text, errors.Is(rerr, io.EOF) && text != "", rerr
		}
		if n == 0 {
			return "", false, io.ErrNoProgress
		}
	}
	// A line too long: the helper did not use Fail. Keep what fits.
	return boundReason(string(buf)), true, nil
}

// killHelper kills a helper that failed and its process group, waits
// until the kernel has reaped it and the rest of its group is gone, and says
// how it ended. Every wait ends with the cleanup time the operation has left
// (CleanupContext), and at most helperKillWait, so that the failed start
// still reports before Pacemaker's timeout; grace is cut to half of that.
func killHelper(ctx context.Context, cmd *exec.Cmd, grace time.Duration) string {
	cctx, cancel := CleanupContext(ctx)
	defer cancel()
	end := time.Now().Add(helperKillWait)
	if dl, ok := cctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	pid := cmd.Process.Pid
	done := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := cmd.Process.Wait()
		done <- st
	}()
	if grace = min(grace, time.Until(end)/2); grace > 0 {
		// The group's id is the helper's pid (setsid); the kernel does
		// not reuse a pid while a group of that id has members, so this
		// signals nobody else.
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case st := <-done:
			// The helper is gone; what it left in its group is not.
			syscall.Kill(-pid, syscall.SIGKILL)
			waitGroupGone(pid, end)
			return describeState(st)
		case <-time.After(grace):
		}
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	// Kill the helper itself too: it may have left its group.
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case st := <-done:
		syscall.Kill(-pid, syscall.SIGKILL)
		waitGroupGone(pid, end)
		return describeState(st)
	case <-time.After(time.Until(end)):
		return fmt.Sprintf("pid %d survived SIGKILL", pid)
	}
}

// waitGroupGone waits, until end, for the members of process group pgid to
// die. SIGKILL is delivered asynchronously, and the helper's children are
// not ours to reap (init or the node's subreaper does), so the group is
// polled: kill(-pgid, 0) fails with ESRCH once no member is left.
func waitGroupGone(pgid int, end time.Time) {
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) || time.Now().After(end) {
			return
		}
		time.Sleep(pause)
	}
}

func describeState(st *os.ProcessState) string {
	if st == nil {
		return ""
	}
	return st.String()
}

// HelperConn is the helper's side of the start-up protocol: its spec,
// its status pipe and the files its parent passed.
type HelperConn struct {
	status *os.File
}

// OpenHelper takes over the status pipe, file descriptor 3, and marks it
// close-on-exec so that nothing the helper starts holds it (which would
// keep the parent waiting for a helper that died). It fails if fd 3 is not
// a pipe: the helper was not started by StartHelper.
//
//	conn, err := ocf.OpenHelper()
func OpenHelper() (*HelperConn, error) {
	f, err := takeFD(HelperStatusFD, "status", unix.S_IFIFO)
	if err != nil {
		return nil, err
	}
	return &HelperConn{status: f}, nil
}

// takeFD checks that fd is open (and of type mode, if not 0), marks it
// close-on-exec and wraps it.
func takeFD(fd int, name string, mode uint32) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("helper file descriptor %d (%s): %w", fd, name, err)
	}
	if mode != 0 && st.Mode&unix.S_IFMT != mode {
		return nil, fmt.Errorf("helper file descriptor %d (%s) is not a pipe", fd, name)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name), nil
}

// ReadSpec decodes the spec from stdin into v. It reads at most
// MaxHelperSpec bytes and refuses fields v does not have (parent and
// helper are the same binary, so a mismatch is a bug). On error the helper
// should Fail with it.
//
//	var s spec
//	if err := conn.ReadSpec(&s); err != nil { conn.Fail("%v", err); return 2 }
func (c *HelperConn) ReadSpec(v any) error {
	return readHelperSpec(os.Stdin, v)
}

func readHelperSpec(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxHelperSpec+1))
	if err != nil {
		return fmt.Errorf("read helper spec: %w", err)
	}
	if len(b) > MaxHelperSpec {
		return fmt.Errorf("helper spec larger than %d bytes", MaxHelperSpec)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode helper spec: %w", err)
	}
	if dec.More() {
		return errors.New("decode helper spec: data after the spec")
	}
	return nil
}

// File returns the i-th of the files the parent passed in
// HelperStart.ExtraFiles (file descriptor HelperExtraFD+i), marked
// close-on-exec; an error if the parent passed fewer.
//
//	sock, err := conn.File(0, "packet socket")
func (c *HelperConn) File(i int, name string) (*os.File, error) {
	if i < 0 {
		return nil, fmt.Errorf("helper extra file %d: no such file", i)
	}
	return takeFD(HelperExtraFD+i, name, 0)
}

// errReported is returned by a second Ready or Fail.
var errReported = errors.New("helper status already reported")

// Ready tells the parent that the helper succeeded: StartHelper returns
// its identity. The helper may call it after any amount of work, within the
// parent's deadline; it goes on running after.
func (c *HelperConn) Ready() error { return c.report(helperReady) }

// Fail tells the parent why the helper could not do its work: the reason
// is the error StartHelper returns, and so the action's exit reason.
// Control characters become spaces and the reason is cut to
// MaxHelperReason bytes: quote no file contents in it. The parent then
// kills the helper's process group; the helper should exit.
func (c *HelperConn) Fail(format string, args ...any) error {
	reason := boundReason(fmt.Sprintf(format, args...))
	switch reason {
	case "":
		reason = "helper failed without a reason"
	case helperReady:
		// "ok" alone would read as success.
		reason = "helper failed: ok"
	}
	return c.report(reason)
}

// Reported reports whether Ready or Fail was called.
func (c *HelperConn) Reported() bool { return c.status == nil }

func (c *HelperConn) report(line string) error {
	if c.status == nil {
		return errReported
	}
	_, err := c.status.WriteString(line + "\n")
	if cerr := c.status.Close(); err == nil {
		err = cerr
	}
	c.status = nil
	if err != nil {
		return fmt.Errorf("report helper status: %w", err)
	}
	return nil
}

// boundReason makes s one line of at most MaxHelperReason bytes, cut on a
// rune boundary.
func boundReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= MaxHelperReason {
		return s
	}
	const ellipsis = "..."
	cut := MaxHelperReason - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut]) + ellipsis
}
