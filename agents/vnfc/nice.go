package vnfc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The nice parameter: the VNFC's CPU priority, as systemd's Nice= gives a
// service. Two things make up a process's share of the CPU on Linux, and
// the parameter sets both:
//
//   - The nice of each thread. Linux keeps it per thread: setpriority
//     (PRIO_PROCESS, pid) changes one thread only, so a VNFC that has
//     started its threads (a Go program does so before main) cannot be
//     reniced from outside in one call. A thread starts with the nice of
//     the thread that created it, so the VNFC is started at that nice
//     (startNiced) and all its threads and children inherit it.
//   - With kernel.sched_autogroup_enabled=1 (most distributions), the
//     scheduler first shares the CPU equally among autogroups, one per
//     session, and nice ranks a thread only inside its own autogroup. An
//     autogroup has a nice of its own, /proc/PID/autogroup, which weighs
//     the whole group as a thread of that nice would. So the VNFC runs in
//     a session of its own and its autogroup gets the nice too
//     (setAutogroupNice). Measured for the bridge on the lab's 2 cores
//     (issue 11): its threads reniced to -10 alone changed nothing; with
//     its autogroup at -10 as well, a VNFC kill reached the HAProxy
//     maintenance state in p50 22 ms / p99 43 ms instead of 43 / 60.

// startNiced runs start, which starts a process, on an OS thread of its
// own whose nice is n: the process is forked by that thread
// (os.StartProcess forks from the calling thread), and a new process
// starts with the nice of the thread that forked it, before its first
// instruction, so no thread of the VNFC ever runs at another priority.
//
// The goroutine locks itself to its thread and never unlocks: when it
// ends, the Go runtime ends the thread with it (or parks it for good, if
// it was the main thread), so the nice never reaches another goroutine,
// and there is no old priority to restore, which could fail. Threads the
// runtime creates meanwhile do not inherit n either: a locked thread
// never creates them (the runtime's template thread does).
func startNiced(n int, start func() (*os.Process, error)) (*os.Process, error) {
	type result struct {
		p   *os.Process
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), n); err != nil {
			done <- result{err: fmt.Errorf("set nice %d: %w", n, err)}
			return
		}
		p, err := start()
		done <- result{p, err}
	}()
	r := <-done
	return r.p, r.err
}

// autogroupSysctl says whether the scheduler groups tasks by session. It
// exists only in a kernel built with CONFIG_SCHED_AUTOGROUP. A variable
// for tests: the node's own setting is not a test's to change.
var autogroupSysctl = "/proc/sys/kernel/sched_autogroup_enabled"

// autogroupOff says why the autogroup nice is not set, or "" when
// autogroups are in use.
func autogroupOff() string {
	b, err := os.ReadFile(autogroupSysctl)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the kernel has no autogroups (no " + autogroupSysctl + ")"
	case err != nil:
		return fmt.Sprintf("autogroups unknown: %v", err)
	case strings.TrimSpace(string(b)) != "1":
		return "autogroups are off (kernel.sched_autogroup_enabled=0)"
	}
	return ""
}

// autogroupRetry bounds the retries of a write that the kernel refuses
// with EAGAIN: it takes one autogroup write per 100 ms from a writer
// without CAP_SYS_ADMIN (a supervisor in a container), node-wide.
const (
	autogroupRetry = 20 * time.Millisecond
	autogroupTries = 10
)

// setAutogroupNice gives the autogroup of pid's session the nice n. It
// returns a reason, for the debug log, when there is nothing to set:
// autogroups are not in use (autogroupOff), or pid is gone (a VNFC that
// exited at once: the settle time's check says how). Any other failure is
// an error: the priority was asked for and not given.
func setAutogroupNice(pid, n int) (skipped string, err error) {
	if why := autogroupOff(); why != "" {
		return why, nil
	}
	path := "/proc/" + strconv.Itoa(pid) + "/autogroup"
	for i := 0; ; i++ {
		err = writeProc(path, strconv.Itoa(n))
		switch {
		case err == nil:
			return "", nil
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH):
			return fmt.Sprintf("pid %d is gone", pid), nil
		case errors.Is(err, unix.EAGAIN) && i+1 < autogroupTries:
			time.Sleep(autogroupRetry)
			continue
		}
		return "", fmt.Errorf("set the nice of the autogroup of pid %d to %d: %w", pid, n, err)
	}
}

// writeProc writes s to a /proc file, without O_CREATE or O_TRUNC.
func writeProc(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(s)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// autogroupOf returns the name of pid's autogroup ("/autogroup-42"), or
// "" when it cannot be read.
func autogroupOf(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/autogroup")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
