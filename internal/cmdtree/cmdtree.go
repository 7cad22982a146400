// Package cmdtree makes an exec.Cmd end, with everything it started, when
// its context ends, and makes Wait return within a bounded delay after that.
//
// exec.CommandContext alone kills only the process it started. That is not
// enough when the command is a wrapper that forks, such as
// `nsenter -t PID -a -- CMD` (nsenter forks CMD inside the PID namespace and
// passes no signal on), or a shell with background children: the real
// command lives on, holds the stdout pipe, and Wait blocks on it for as
// long as it runs. See docs/lab.md, "Exec and timeouts".
//
// Bind puts the command in a process group of its own. When the context
// ends, Kill stops the group and every descendant of the command (found by
// parent pid in /proc, so a child that left the group with setsid is still
// found), then kills them. A process group reaches across PID namespaces:
// the kill, sent from the namespace nsenter runs in, ends the command in
// the node. WaitDelay bounds the wait for pipes that a process which
// escaped both the group and the tree (a daemon that double-forked) still
// holds.
package cmdtree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/procid"
)

// WaitDelay is how long Wait waits, once the context has ended and the
// command has been killed, for pipes still held by a process that escaped
// the kill. Everything Kill reaches dies at once and closes its pipes; the
// delay only matters for a daemon, whose output is lost anyway.
const WaitDelay = time.Second

// freezeRounds bounds how often Kill looks again for descendants born
// while it stopped the ones it knew. A stopped process cannot fork, so two
// rounds find everything but a fork that was in flight; the third is a
// margin.
const freezeRounds = 3

// Bind makes cmd, which must come from exec.CommandContext and not be
// started yet, end with its context: it runs in a process group of its
// own, its Cancel kills that group and the command's whole process tree
// (see Kill), and its WaitDelay (WaitDelay unless already set) bounds the
// wait for pipes after that. Other SysProcAttr fields are kept; a caller
// that wants the group in the terminal's foreground sets Foreground after
// Bind.
func Bind(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return Kill(cmd.Process.Pid)
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = WaitDelay
	}
}

// Kill ends the process pid, the process group it leads and every
// descendant of pid with SIGKILL. It first stops them all (SIGSTOP), so
// that none can fork a child the kill would miss, looking again for new
// descendants a bounded number of times. It returns os.ErrProcessDone if
// nothing of the command was left to kill.
func Kill(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("kill process tree: invalid pid %d", pid)
	}
	seen := map[int]bool{}
	for round := 0; round < freezeRounds; round++ {
		_ = syscall.Kill(-pid, syscall.SIGSTOP)
		found := false
		for _, p := range descendants(pid) {
			if !seen[p] {
				seen[p] = true
				found = true
				_ = syscall.Kill(p, syscall.SIGSTOP)
			}
		}
		if !found {
			break
		}
	}
	groupErr := syscall.Kill(-pid, syscall.SIGKILL)
	for p := range seen {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	// The leader itself, in case it left its own group.
	leaderErr := syscall.Kill(pid, syscall.SIGKILL)
	if errors.Is(groupErr, syscall.ESRCH) && errors.Is(leaderErr, syscall.ESRCH) && len(seen) == 0 {
		return os.ErrProcessDone
	}
	if groupErr != nil && !errors.Is(groupErr, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, groupErr)
	}
	return nil
}

// descendants lists every process below pid, by the parent pids in /proc.
// A process that exits while the list is read is simply missed: it needs
// no kill.
func descendants(pid int) []int {
	parent := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procid.ReadStat(p); err == nil {
			parent[st.PPID] = append(parent[st.PPID], p)
		}
	}
	var out []int
	queue := []int{pid}
	// A pid appears under one parent only, so the walk ends; the bound
	// guards against a /proc read that saw a pid twice while it was reused.
	for len(queue) > 0 && len(out) < len(entries) {
		p := queue[0]
		queue = queue[1:]
		for _, c := range parent[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// ContextErr is the error to report for a command killed because ctx
// ended: ctx.Err(), so that errors.Is(err, context.DeadlineExceeded) holds,
// joined with the context's cause when one was given (a test's watchdog
// names its deadline that way).
func ContextErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, err) {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}
