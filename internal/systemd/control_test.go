package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd/systemdtest"
)

// cgroupProcs lists the processes left in a unit's cgroup, as the host
// sees it; a cgroup that is gone has none.
func cgroupProcs(t *testing.T, s *systemdtest.System, unit string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Cgroup, "system.slice", unit, "cgroup.procs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestStopWithin stops units whose stop cannot finish within the grace
// time: an ExecStop= that hangs, a main process that ignores SIGTERM, a
// start stuck in ExecStartPre= and one stuck in Type=notify, each with a
// TimeoutStopSec= of an hour, so that only StopWithin's SIGKILL ends them
// within the test's time. A unit that stops by itself within the grace
// is not killed. A unit whose stop systemd refuses (RefuseManualStop=yes)
// and the processes systemd leaves in a stopped unit's cgroup
// (KillMode=process, none) are ended too: by KillSignal= within the
// grace, else by SIGKILL.
func TestStopWithin(t *testing.T) {
	const ignoreTerm = `/bin/sh -c "trap '' TERM; while :; do sleep 0.1; done"`
	tests := []struct {
		name, unit string
		// startWait: how long the test waits for the start job; a
		// unit stuck activating is left so.
		startWait  time.Duration
		wantActive string // before the stop
		wantKilled bool
		// wantRefused: systemd refuses the stop job; wantLeftovers:
		// processes it leaves in the cgroup of the stopped unit.
		wantRefused   bool
		wantLeftovers bool
	}{
		{"ExecStop hangs", "[Service]\nType=exec\nExecStart=/bin/sleep 1000\nExecStop=/bin/sleep 1000\nTimeoutStopSec=1h\n",
			opTimeout, "active", true, false, false},
		{"SIGTERM ignored", "[Service]\nType=exec\nExecStart=" + ignoreTerm + "\nTimeoutStopSec=1h\n",
			opTimeout, "active", true, false, false},
		{"stuck in ExecStartPre", "[Service]\nType=exec\nExecStartPre=" + ignoreTerm + "\nExecStart=/bin/sleep 1000\nTimeoutStartSec=1h\nTimeoutStopSec=1h\n",
			200 * time.Millisecond, "activating", true, false, false},
		{"Type=notify, never ready", "[Service]\nType=notify\nExecStart=" + ignoreTerm + "\nTimeoutStartSec=1h\nTimeoutStopSec=1h\n",
			200 * time.Millisecond, "activating", true, false, false},
		{"stops by itself", "[Service]\nType=exec\nExecStart=/bin/sleep 1000\n",
			opTimeout, "active", false, false, false},
		// systemd refuses to stop it: its processes get KillSignal=
		// (SIGTERM here), and end.
		{"RefuseManualStop=yes", "[Unit]\nRefuseManualStop=yes\n[Service]\nType=exec\nExecStart=/bin/sleep 1000\n",
			opTimeout, "active", false, true, false},
		{"RefuseManualStop=yes, SIGTERM ignored", "[Unit]\nRefuseManualStop=yes\n[Service]\nType=exec\nExecStart=" + ignoreTerm + "\n",
			opTimeout, "active", true, true, false},
		// systemd stops the unit and leaves processes in its cgroup.
		{"KillMode=process", "[Service]\nType=exec\nKillMode=process\nExecStart=/bin/sh -c '/bin/sleep 1001 & exec /bin/sleep 1000'\n",
			opTimeout, "active", false, false, true},
		{"KillMode=none, SIGTERM ignored", "[Service]\nType=exec\nKillMode=none\nExecStart=" + ignoreTerm + "\n",
			opTimeout, "active", true, false, true},
	}
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				unit := prefix + "stuck" + string(rune('a'+i)) + ".service"
				writeUnit(t, s, c, unit, tt.unit)
				ctx := ctxT(t)
				sctx, cancel := context.WithTimeout(ctx, tt.startWait)
				err := c.Start(sctx, unit)
				cancel()
				if tt.wantActive == "active" && err != nil {
					t.Fatal(err)
				}
				if strings.Contains(tt.unit, "trap ''") {
					// Type=exec is active once the shell runs, maybe
					// before its trap: a SIGTERM then would end it.
					s.WaitSignalIgnored(t, unit, syscall.SIGTERM)
				}
				if strings.Contains(tt.unit, " & ") {
					// Type=exec is active once the shell runs, maybe
					// before it has started the process that is to be
					// left behind: stopping then would leave none.
					for deadline := time.Now().Add(5 * time.Second); len(cgroupProcs(t, s, unit)) < 2 && time.Now().Before(deadline); {
						time.Sleep(5 * time.Millisecond)
					}
				}
				st := mustState(t, c, unit)
				if st.ActiveState != tt.wantActive || len(cgroupProcs(t, s, unit)) == 0 {
					t.Fatalf("before stop: %+v, processes %v; want %s, with processes", st, cgroupProcs(t, s, unit), tt.wantActive)
				}
				t0 := time.Now()
				got, err := c.StopWithin(ctx, unit, 300*time.Millisecond)
				t.Logf("StopWithin: %+v, %v, after %v", got, err, time.Since(t0))
				if err != nil || got.Killed != tt.wantKilled || (got.Refused != nil) != tt.wantRefused || (got.Leftovers > 0) != tt.wantLeftovers {
					t.Fatalf("StopWithin: %+v, %v; want killed %v, refused %v, leftovers %v", got, err, tt.wantKilled, tt.wantRefused, tt.wantLeftovers)
				}
				if st := mustState(t, c, unit); !st.Down() {
					t.Errorf("after StopWithin: %+v, want inactive or failed", st)
				}
				if p := cgroupProcs(t, s, unit); len(p) > 0 {
					t.Errorf("processes %v left in the unit's cgroup", p)
				}
				if err := c.ResetFailed(ctx, unit); err != nil {
					t.Error(err)
				}
			})
		}
		// A unit that does not exist is stopped.
		if got, err := c.StopWithin(ctxT(t), prefix+"never.service", time.Second); err != nil || got != (Stopped{}) {
			t.Errorf("StopWithin of a unit that does not exist: %+v, %v", got, err)
		}
	})
}
