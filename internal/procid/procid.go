// Package procid names a process for its whole lifetime, from /proc.
//
// A pid alone is reused once its process has gone and been reaped; a pid
// with the start time the kernel gave the process (/proc/PID/stat field 22,
// in clock ticks since boot) is not. Everything that records a process to
// find it again later (the vnfc agent's state file, a helper's identity, the
// lab's node inits) keeps an ID and checks it before it signals.
//
// The package reads /proc only: it works for any process, not just our
// children, and never reaps one.
package procid

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ID names one process for its lifetime. The JSON names are the ones the
// vnfc agent's state file has always used.
type ID struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// ErrGone is returned (wrapped) by Signal when the process an ID names no
// longer runs: it exited, is a zombie, or its pid now belongs to another
// process.
var ErrGone = errors.New("process is gone")

// Stat is what the package reads of /proc/PID/stat.
type Stat struct {
	State   byte   // field 3: R, S, D, T, t, Z, X, I...
	PPID    int    // field 4
	PGID    int    // field 5
	Session int    // field 6: the session id
	Nice    int    // field 19: of the thread the file is of (the main one for /proc/PID/stat)
	Start   uint64 // field 22, clock ticks after boot
}

// Zombie reports whether the process has exited and only waits to be
// reaped (Z), or is being torn down (X): it runs no more code.
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' }

// ParseStat parses the contents of /proc/PID/stat. The command name, field
// 2, is in parentheses and may hold spaces and parentheses itself (a
// program may name itself anything), so the fields are counted from the
// last ')', which must be followed by a space and a one-letter state.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) || b[i+1] != ' ' {
		return Stat{}, errors.New("malformed /proc/PID/stat")
	}
	f := bytes.Fields(b[i+2:]) // f[0] is field 3, the state
	if len(f) < 20 || len(f[0]) != 1 || !isStateLetter(f[0][0]) {
		return Stat{}, errors.New("malformed /proc/PID/stat")
	}
	var s Stat
	var err error
	s.State = f[0][0]
	if s.PPID, err = strconv.Atoi(string(f[1])); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc/PID/stat ppid: %w", err)
	}
	if s.PGID, err = strconv.Atoi(string(f[2])); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc/PID/stat pgrp: %w", err)
	}
	if s.Session, err = strconv.Atoi(string(f[3])); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc/PID/stat session: %w", err)
	}
	if s.Nice, err = strconv.Atoi(string(f[16])); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc/PID/stat nice: %w", err)
	}
	if s.Start, err = strconv.ParseUint(string(f[19]), 10, 64); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc/PID/stat starttime: %w", err)
	}
	return s, nil
}

// isStateLetter accepts the letters the kernel uses for a process state.
func isStateLetter(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// ReadStat reads and parses /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	if pid <= 0 {
		return Stat{}, fmt.Errorf("read /proc stat: invalid pid %d", pid)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	s, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return s, nil
}

// Of returns the ID of process pid. It succeeds for a zombie too (its
// entry stays until it is reaped), so a parent can name a child that has
// just exited; Alive tells the two apart.
func Of(pid int) (ID, error) {
	s, err := ReadStat(pid)
	if err != nil {
		return ID{}, err
	}
	return ID{PID: pid, Start: s.Start}, nil
}

// Self returns the ID of the calling process.
func Self() (ID, error) { return Of(os.Getpid()) }

// String returns "PID@START", for logs.
func (id ID) String() string { return fmt.Sprintf("%d@%d", id.PID, id.Start) }

// Alive reports whether the process still runs: its pid exists, has the
// same start time (it was not recycled) and is not a zombie.
func (id ID) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	s, err := ReadStat(id.PID)
	return err == nil && s.Start == id.Start && !s.Zombie()
}

// Signal sends sig to the process if it is still the one id names, and
// returns an error wrapping ErrGone if it is not (so that a recycled pid
// is never signalled). It signals through a pidfd opened before the start
// time is checked, so the pid cannot be recycled between the check and
// the signal.
func (id ID) Signal(sig syscall.Signal) error {
	if id.PID <= 0 {
		return fmt.Errorf("signal pid %d: %w", id.PID, ErrGone)
	}
	fd, err := unix.PidfdOpen(id.PID, 0)
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", id.PID, ErrGone)
	}
	if err != nil {
		// No pidfd (a kernel before 5.3): check, then kill, with the
		// small race that pidfds exist to close.
		if !id.Alive() {
			return fmt.Errorf("signal pid %d: %w", id.PID, ErrGone)
		}
		if err := syscall.Kill(id.PID, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("signal pid %d: %w", id.PID, ErrGone)
			}
			return fmt.Errorf("signal pid %d: %w", id.PID, err)
		}
		return nil
	}
	defer unix.Close(fd)
	// The pidfd pins the process the pid named when it was opened; if the
	// start time matches now, it is ours.
	if !id.Alive() {
		return fmt.Errorf("signal pid %d: %w", id.PID, ErrGone)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal pid %d: %w", id.PID, ErrGone)
		}
		return fmt.Errorf("signal pid %d: %w", id.PID, err)
	}
	return nil
}

// WaitExit waits up to d for the process to exit and reports whether it
// has (a zombie counts as exited). It is woken by the kernel through a
// pidfd, which works for a process that is not our child (it becomes
// readable when the process exits, before it is reaped), so a caller
// returns the moment the process is gone instead of at the next poll.
func (id ID) WaitExit(d time.Duration) bool {
	if !id.Alive() {
		return true
	}
	fd, err := unix.PidfdOpen(id.PID, 0)
	if err != nil {
		return id.pollExit(d)
	}
	defer unix.Close(fd)
	// The pid may have been recycled between Alive and PidfdOpen.
	if !id.Alive() {
		return true
	}
	deadline := time.Now().Add(d)
	// Bounded: each round either returns or waits for the time left;
	// EINTR is the only way round without progress.
	for i := 0; i < 1000; i++ {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return !id.Alive()
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == nil && n > 0 || !id.Alive() {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return id.pollExit(time.Until(deadline))
		}
	}
	return !id.Alive()
}

// pollExit is WaitExit without a pidfd: it reads /proc every few
// milliseconds.
func (id ID) pollExit(d time.Duration) bool {
	const step = 5 * time.Millisecond
	deadline := time.Now().Add(d)
	for i := 0; i <= int(d/step); i++ {
		if !id.Alive() {
			return true
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(step)
	}
	return !id.Alive()
}

// Cmdline returns the arguments of process pid, from /proc/PID/cmdline.
// The kernel bounds its size; a zombie's, or a kernel thread's, is empty.
func Cmdline(pid int) ([]string, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("read /proc cmdline: invalid pid %d", pid)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("read /proc/%d/cmdline: %w", pid, err)
	}
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil, nil
	}
	return toStrings(bytes.Split(b, []byte{0})), nil
}

// Cmdline returns the arguments of the process id names, or an error
// wrapping ErrGone if it no longer runs. The start time is checked after
// the read, so the arguments cannot be a later process's under a recycled
// pid.
func (id ID) Cmdline() ([]string, error) {
	args, err := Cmdline(id.PID)
	if err != nil || !id.Alive() {
		return nil, fmt.Errorf("read cmdline of pid %d: %w", id.PID, ErrGone)
	}
	return args, nil
}

func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}
