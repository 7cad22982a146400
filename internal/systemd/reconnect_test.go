package systemd

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd/systemdtest"
)

// systemctl runs systemctl inside the booted system, as an operator on
// that machine would.
func systemctl(t *testing.T, s *systemdtest.System, args ...string) {
	t.Helper()
	out, err := systemctlCmd(s, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl %s: %v %s", strings.Join(args, " "), err, out)
	}
}

func systemctlCmd(s *systemdtest.System, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", fmt.Sprint(s.PID), "-a", "systemctl"}, args...)...)
}

// dialer is a transport's dial as a DialFunc.
func dialer(t *testing.T, s *systemdtest.System, transport string) DialFunc {
	for _, tr := range transports {
		if tr.name == transport {
			return func(ctx context.Context) (*Conn, error) { return tr.dial(ctx, t, s) }
		}
	}
	t.Fatalf("no transport %s", transport)
	return nil
}

// reconnectLog counts Follow's reconnections from its log lines.
type reconnectLog struct {
	t     *testing.T
	lost  atomic.Int32
	again atomic.Int32
}

func (l *reconnectLog) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.t.Logf("Follow: %s", msg)
	switch {
	case strings.HasPrefix(msg, "lost the connection"):
		l.lost.Add(1)
	case strings.HasPrefix(msg, "connected to systemd again"):
		l.again.Add(1)
	}
}

// next waits, bounded, for Follow's next state.
func next(t *testing.T, f *Follower) State {
	t.Helper()
	select {
	case st, ok := <-f.States():
		if !ok {
			t.Fatalf("Follow ended: %v", f.Err())
		}
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no state from Follow within 10s")
	}
	return State{}
}

// quiet checks that Follow delivers nothing but the running state for a
// while: what a watcher would take for a failure.
func quiet(t *testing.T, f *Follower, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case st, ok := <-f.States():
			if !ok {
				t.Fatalf("Follow ended: %v", f.Err())
			}
			if st.ActiveState != "active" || st.SubState != "running" || st.NRestarts != 0 {
				t.Fatalf("Follow delivered %+v while the unit ran", st)
			}
			t.Logf("Follow delivered the running state again (after a reconnection)")
		case <-timer.C:
			return
		}
	}
}

// waitFailed waits, bounded, until Follow delivers the unit's failure
// after a kill -9, ignoring running states.
func waitFailed(t *testing.T, f *Follower) State {
	t.Helper()
	for range 100 {
		st := next(t, f)
		if st.ActiveState == "failed" {
			if st.ExecMainCode != 2 || st.ExecMainStatus != 9 {
				t.Errorf("failed state %+v, want killed by signal 9", st)
			}
			return st
		}
		if !st.Active() {
			t.Fatalf("Follow delivered %+v, want active, then failed", st)
		}
	}
	t.Fatal("no failed state among 100")
	return State{}
}

// kill9 kills a unit's main process from outside, as a crash would.
func kill9(t *testing.T, s *systemdtest.System, c *Conn, unit string) {
	t.Helper()
	st := mustState(t, c, unit)
	pid, err := s.HostPID(st.MainPID)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestFollowAcrossReloadAndReexec: daemon-reload and daemon-reexec while a
// unit is followed deliver nothing but its running state (a reexec closes
// the private socket's connections: Follow connects again; on the bus the
// connection stays), and a kill -9 after them is still delivered.
func TestFollowAcrossReloadAndReexec(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		unit := prefix + "followed.service"
		if err := c.StartTransient(ctxT(t), unit, Transient{Argv: []string{"/bin/sleep", "1000"}}); err != nil {
			t.Fatal(err)
		}
		log := &reconnectLog{t: t}
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		transport := strings.TrimSuffix(strings.TrimPrefix(prefix, "vnfha-"), "-")
		f, err := Follow(ctx, unit, FollowOptions{Dial: dialer(t, s, transport), Logf: log.logf})
		if err != nil {
			t.Fatal(err)
		}
		if st := next(t, f); !st.Active() {
			t.Fatalf("first state %+v", st)
		}
		for i, cmd := range []string{"daemon-reload", "daemon-reexec", "daemon-reload", "daemon-reexec"} {
			t0 := time.Now()
			systemctl(t, s, cmd)
			t.Logf("%s took %v", cmd, time.Since(t0))
			if i == 0 {
				// As on a real host, the transient unit's file is found
				// again by the reload (systemdtest's unit path holds
				// /run/systemd/transient).
				if st := mustState(t, c, unit); st.LoadState != "loaded" || st.FragmentPath != "/run/systemd/transient/"+unit {
					t.Errorf("after daemon-reload: %+v", st)
				}
			}
			quiet(t, f, 300*time.Millisecond)
		}
		t.Logf("connections lost %d, made again %d", log.lost.Load(), log.again.Load())
		if transport == "private" && (log.lost.Load() != 2 || log.again.Load() != 2) {
			t.Errorf("over the private socket: %d connections lost, %d made again; want 2 of each (one per reexec)", log.lost.Load(), log.again.Load())
		}
		if transport == "bus" && log.lost.Load() != 0 {
			t.Errorf("over the bus: %d connections lost; the bus connection outlives a reexec", log.lost.Load())
		}
		// The test's own connection to the private socket is gone too.
		c, err = dialer(t, s, transport)(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Still followed: a real failure is delivered.
		kill9(t, s, c, unit)
		waitFailed(t, f)
		cancel()
		for range f.States() {
		}
		if err := f.Err(); err != nil {
			t.Errorf("Err after cancel: %v", err)
		}
		if err := c.Stop(ctxT(t), unit); err != nil {
			t.Error(err)
		}
		if err := c.ResetFailed(ctxT(t), unit); err != nil {
			t.Error(err)
		}
	})
}

// TestFollowDeathInGap: a unit that dies while Follow has no connection
// (daemon-reexec closed it; the new one is held back until systemd has
// seen the death) is delivered as failed once Follow is connected again.
// On the bus, where the connection stays, the kill races the reload or
// reexec instead: its failure must be delivered whichever comes first.
func TestFollowDeathInGap(t *testing.T) {
	s := systemdtest.Boot(t)
	c, err := DialPrivate(ctxT(t), s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("private, reexec", func(t *testing.T) {
		unit := "vnfha-gap.service"
		if err := c.StartTransient(ctxT(t), unit, Transient{Argv: []string{"/bin/sleep", "1000"}}); err != nil {
			t.Fatal(err)
		}
		// The first dial goes through; later ones wait for the gate.
		var dials atomic.Int32
		waiting, gate := make(chan struct{}), make(chan struct{})
		var once sync.Once
		dial := func(ctx context.Context) (*Conn, error) {
			if dials.Add(1) > 1 {
				once.Do(func() { close(waiting) })
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return DialPrivate(ctx, s.Addr)
		}
		log := &reconnectLog{t: t}
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		f, err := Follow(ctx, unit, FollowOptions{Dial: dial, Logf: log.logf})
		if err != nil {
			t.Fatal(err)
		}
		if st := next(t, f); !st.Active() {
			t.Fatalf("first state %+v", st)
		}
		// Our own connection is lost as well: a new one.
		c.Close()
		systemctl(t, s, "daemon-reexec")
		select {
		case <-waiting:
		case <-time.After(10 * time.Second):
			t.Fatal("Follow did not try to connect again within 10s of the reexec")
		}
		c2, err := DialPrivate(ctxT(t), s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		kill9(t, s, c2, unit)
		for i := 0; ; i++ {
			if mustState(t, c2, unit).ActiveState == "failed" {
				break
			}
			if i == 200 {
				t.Fatal("the unit did not fail within 2s of kill -9")
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(gate)
		st := waitFailed(t, f)
		t.Logf("delivered after the gap: %+v", st)
		if log.again.Load() != 1 {
			t.Errorf("%d reconnections, want 1", log.again.Load())
		}
		if err := c2.ResetFailed(ctxT(t), unit); err != nil {
			t.Error(err)
		}
	})

	for _, tr := range transports {
		for _, cmd := range []string{"daemon-reload", "daemon-reexec"} {
			t.Run(tr.name+", kill during "+cmd, func(t *testing.T) {
				unit := fmt.Sprintf("vnfha-race-%s-%s.service", tr.name, cmd)
				dial := dialer(t, s, tr.name)
				ctl, err := DialPrivate(ctxT(t), s.Addr)
				if err != nil {
					t.Fatal(err)
				}
				defer ctl.Close()
				if err := ctl.StartTransient(ctxT(t), unit, Transient{Argv: []string{"/bin/sleep", "1000"}}); err != nil {
					t.Fatal(err)
				}
				st := mustState(t, ctl, unit)
				pid, err := s.HostPID(st.MainPID)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(ctxT(t))
				defer cancel()
				f, err := Follow(ctx, unit, FollowOptions{Dial: dial, Logf: (&reconnectLog{t: t}).logf})
				if err != nil {
					t.Fatal(err)
				}
				if st := next(t, f); !st.Active() {
					t.Fatalf("first state %+v", st)
				}
				cmdRun := systemctlCmd(s, cmd)
				if err := cmdRun.Start(); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if err := cmdRun.Wait(); err != nil {
					t.Fatalf("systemctl %s: %v", cmd, err)
				}
				waitFailed(t, f)
				c3, err := DialPrivate(ctxT(t), s.Addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c3.Close()
				if err := c3.ResetFailed(ctxT(t), unit); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestFollowGivesUp: without systemd to reconnect to, Follow ends within
// GiveUp and says why.
func TestFollowGivesUp(t *testing.T) {
	s := systemdtest.Boot(t)
	var dials atomic.Int32
	refused := errors.New("refused by the test")
	dial := func(ctx context.Context) (*Conn, error) {
		if dials.Add(1) > 1 {
			return nil, refused
		}
		return DialPrivate(ctx, s.Addr)
	}
	f, err := Follow(ctxT(t), "init.scope", FollowOptions{Dial: dial, GiveUp: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st := next(t, f); !st.Active() {
		t.Fatalf("first state %+v", st)
	}
	systemctl(t, s, "daemon-reexec")
	select {
	case _, ok := <-f.States():
		if ok {
			t.Fatal("Follow delivered a state without a connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not give up within 10s (GiveUp 300ms)")
	}
	if err := f.Err(); !errors.Is(err, refused) || !strings.Contains(err.Error(), "init.scope") {
		t.Errorf("Err = %v, want the dial's error, naming the unit", err)
	}
	if n := dials.Load(); n < 2 || n > 20 {
		t.Errorf("%d dials in 300ms", n)
	}
}

// TestDoAcrossReexec: a call whose connection daemon-reexec closes is made
// again on a new connection, and succeeds.
func TestDoAcrossReexec(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		transport := strings.TrimSuffix(strings.TrimPrefix(prefix, "vnfha-"), "-")
		calls := 0
		var st State
		err := Do(ctxT(t), dialer(t, s, transport), func(c *Conn) error {
			calls++
			if calls == 1 {
				systemctl(t, s, "daemon-reexec")
			}
			var err error
			st, err = c.State(ctxT(t), "init.scope")
			if calls == 1 {
				t.Logf("State on the first connection, after the reexec: %v", err)
			}
			return err
		})
		if err != nil || !st.Active() {
			t.Fatalf("Do: %v, %+v after %d calls", err, st, calls)
		}
		t.Logf("%d calls", calls)
		if transport == "private" && calls != 2 {
			t.Errorf("over the private socket: %d calls, want 2 (the first connection is closed by the reexec)", calls)
		}
		// An error about the unit is no reason to try again.
		calls = 0
		err = Do(ctxT(t), dialer(t, s, transport), func(c *Conn) error {
			calls++
			return c.Start(ctxT(t), prefix+"absent.service")
		})
		if err == nil || calls != 1 {
			t.Errorf("Do of a start of a missing unit: %v after %d calls, want an error after 1", err, calls)
		}
	})
	// No systemd at all: at once.
	t0 := time.Now()
	err := Do(ctxT(t), func(ctx context.Context) (*Conn, error) {
		return DialPrivate(ctx, "unix:path=/nonexistent/private")
	}, func(*Conn) error { return nil })
	if err == nil || Unavailable(err) || time.Since(t0) > 5*time.Second {
		t.Errorf("Do without systemd: %v after %v; want a quick error that is not Unavailable", err, time.Since(t0))
	}
}
