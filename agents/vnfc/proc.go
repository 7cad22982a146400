package vnfc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/procid"
)

// procID names one process for its lifetime (pid and start time): the
// record keeps them, and nothing is signalled without checking one.
type procID = procid.ID

// proc is one entry of a /proc scan.
type proc struct {
	procID
	procid.Stat
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
		st, err := procid.ReadStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		ps = append(ps, proc{procID{PID: pid, Start: st.Start}, st})
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
		children[p.PPID] = append(children[p.PPID], p.PID)
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
			if p := byPID[c]; !p.Zombie() {
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
		st, err := procid.ReadStat(pid)
		if err != nil {
			return false
		}
		if st.PPID == ancestor {
			return true
		}
		pid = st.PPID
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
		if !id.Alive() {
			continue
		}
		fd, err := unix.PidfdOpen(id.PID, 0)
		if err != nil {
			if id.Alive() {
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
			if id.Alive() {
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
