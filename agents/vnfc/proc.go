package vnfc

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

// procID names one process for its lifetime: a pid with the start time the
// kernel gave it (/proc/PID/stat field 22, in clock ticks since boot). A pid
// alone may be reused after the process dies; the pair is not.
type procID struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// procStat is what the agent reads of /proc/PID/stat.
type procStat struct {
	state byte // R, S, D, T, t, Z, X...
	ppid  int
	pgid  int
	start uint64
}

// readStat reads /proc/PID/stat. The command name, field 2, is in
// parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) || b[i+1] != ' ' {
		return procStat{}, errors.New("malformed /proc/PID/stat")
	}
	f := bytes.Fields(b[i+2:]) // f[0] is field 3, the state
	if len(f) < 20 || len(f[0]) != 1 || !isStateLetter(f[0][0]) {
		return procStat{}, errors.New("malformed /proc/PID/stat")
	}
	var s procStat
	var err error
	s.state = f[0][0]
	if s.ppid, err = strconv.Atoi(string(f[1])); err != nil {
		return procStat{}, fmt.Errorf("malformed /proc/PID/stat ppid: %w", err)
	}
	if s.pgid, err = strconv.Atoi(string(f[2])); err != nil {
		return procStat{}, fmt.Errorf("malformed /proc/PID/stat pgrp: %w", err)
	}
	if s.start, err = strconv.ParseUint(string(f[19]), 10, 64); err != nil {
		return procStat{}, fmt.Errorf("malformed /proc/PID/stat starttime: %w", err)
	}
	return s, nil
}

// isStateLetter accepts the letters the kernel uses for a process state
// (R, S, D, T, t, Z, X, I, ...).
func isStateLetter(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// identify returns the procID of a live process.
func identify(pid int) (procID, error) {
	s, err := readStat(pid)
	if err != nil {
		return procID{}, err
	}
	return procID{PID: pid, Start: s.start}, nil
}

// alive reports whether the process still runs: it exists, is the same
// process (same start time) and is not a zombie waiting to be reaped.
func (p procID) alive() bool {
	if p.PID <= 0 {
		return false
	}
	s, err := readStat(p.PID)
	return err == nil && s.start == p.Start && s.state != 'Z' && s.state != 'X'
}

// signal sends sig to the process if it is still the one p names.
func (p procID) signal(sig syscall.Signal) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", p.PID, err)
	}
	return nil
}

// waitExit waits until the process has exited, up to d. It is woken by the
// kernel through a pidfd, which works for a process that is not our child
// (it becomes readable when the process exits, before it is reaped), so a
// stop returns the moment the VNFC is gone instead of at the next poll.
func (p procID) waitExit(d time.Duration) bool {
	if !p.alive() {
		return true
	}
	fd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		return !p.alive()
	}
	defer unix.Close(fd)
	// The pid may have been reused between alive and PidfdOpen.
	if !p.alive() {
		return true
	}
	deadline := time.Now().Add(d)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return !p.alive()
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == nil && n > 0 || !p.alive() {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return !p.alive()
		}
	}
}

// proc is one entry of a /proc scan.
type proc struct {
	procID
	procStat
}

// scanProcs reads the stat of every process. Processes that exit during
// the scan are skipped. It reads one small file per process: a few
// milliseconds on a node with hundreds of processes, so it is for stop
// and for the supervisor's end, never for monitor.
func scanProcs() ([]proc, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	ps := make([]proc, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		ps = append(ps, proc{procID{PID: pid, Start: st.start}, st})
	}
	return ps, nil
}

// descendants returns the live processes below root in ps: its children,
// their children, and so on. Zombies are left out: they are dead, and
// their pid may be reused the moment they are reaped.
func descendants(ps []proc, root int) []procID {
	children := map[int][]int{}
	byPID := make(map[int]proc, len(ps))
	for _, p := range ps {
		children[p.ppid] = append(children[p.ppid], p.PID)
		byPID[p.PID] = p
	}
	var out []procID
	queue := []int{root}
	seen := map[int]bool{root: true}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if seen[c] {
				continue // a pid cannot be its own ancestor; a torn scan can say so
			}
			seen[c] = true
			queue = append(queue, c)
			if p := byPID[c]; p.state != 'Z' && p.state != 'X' {
				out = append(out, p.procID)
			}
		}
	}
	return out
}

// isDescendant reports whether pid runs below ancestor, following parents
// up from pid. The walk is bounded: a parent chain longer than that is not
// one a VNFC makes.
func isDescendant(pid, ancestor int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		st, err := readStat(pid)
		if err != nil {
			return false
		}
		if st.ppid == ancestor {
			return true
		}
		pid = st.ppid
	}
	return false
}

// waitAll waits until every process of ids has exited, up to d, and
// reports whether they all did. Like waitExit it is woken by pidfds, one
// per process, polled together.
func waitAll(ids []procID, d time.Duration) bool {
	deadline := time.Now().Add(d)
	var fds []unix.PollFd
	var waiting []procID
	defer func() {
		for _, f := range fds {
			unix.Close(int(f.Fd))
		}
	}()
	for _, id := range ids {
		if !id.alive() {
			continue
		}
		fd, err := unix.PidfdOpen(id.PID, 0)
		if err != nil {
			if id.alive() {
				// No pidfd (an old kernel): polled below.
				waiting = append(waiting, id)
			}
			continue
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		waiting = append(waiting, id)
	}
	for {
		left := waiting[:0]
		for _, id := range waiting {
			if id.alive() {
				left = append(left, id)
			}
		}
		waiting = left
		if len(waiting) == 0 {
			return true
		}
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return false
		}
		// Poll returns when any of them exits; the loop then drops the
		// dead ones. A readable pidfd stays readable, so those are taken
		// out of the set. The 50 ms cap covers a process without a pidfd.
		for i := range fds {
			fds[i].Revents = 0
		}
		n, err := unix.Poll(fds, min(ms, 50))
		if err != nil && !errors.Is(err, unix.EINTR) {
			time.Sleep(time.Duration(min(ms, 10)) * time.Millisecond)
			continue
		}
		if n > 0 {
			kept := fds[:0]
			for _, f := range fds {
				if f.Revents == 0 {
					kept = append(kept, f)
				} else {
					unix.Close(int(f.Fd))
				}
			}
			fds = kept
		}
	}
}

// describeWait says how a process ended, for logs and exit reasons.
func describeWait(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		s := fmt.Sprintf("was killed by signal %d (%s)", ws.Signal(), unix.SignalName(ws.Signal()))
		if ws.CoreDump() {
			s += ", core dumped"
		}
		return s
	}
	return fmt.Sprintf("ended with wait status %#x", uint32(ws))
}
