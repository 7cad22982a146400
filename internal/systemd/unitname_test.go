package systemd

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd/systemdtest"
)

// TestAlias: a unit named by an alias (a symbolic link in the unit path to
// another unit's file) is that unit, and every call works through the
// alias: systemd names it by its own name in JobRemoved and sends its
// PropertiesChanged under its own object path only, so a start or stop
// that waited for the alias's job, or a watch of the alias's path, would
// wait for good.
func TestAlias(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		real, alias := prefix+"real.service", prefix+"alias.service"
		if err := os.Symlink(real, s.Path("/run/systemd/system/"+alias)); err != nil {
			t.Fatal(err)
		}
		writeUnit(t, s, c, real, "[Service]\nType=exec\nExecStart=/bin/sleep 1000\n")
		ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
		defer cancel()
		if err := c.Start(ctx, alias); err != nil {
			t.Fatalf("start through the alias: %v", err)
		}
		if st := mustState(t, c, alias); !st.Active() || st.ID != real {
			t.Fatalf("state through the alias: %+v, want active, Id %s", st, real)
		}
		states, err := c.Watch(ctx, alias)
		if err != nil {
			t.Fatal(err)
		}
		if st := <-states; !st.Active() {
			t.Fatalf("first state %+v", st)
		}
		kill9(t, s, c, alias)
		select {
		case st := <-states:
			if st.ActiveState != "failed" {
				t.Errorf("after kill -9: %+v", st)
			}
		case <-ctx.Done():
			t.Fatal("Watch of the alias did not see the kill within 5s")
		}
		if err := c.ResetFailed(ctx, alias); err != nil {
			t.Error(err)
		}
		if err := c.Start(ctx, alias); err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(ctx, alias); err != nil {
			t.Fatalf("stop through the alias: %v", err)
		}
		if st := mustState(t, c, real); st.ActiveState != "inactive" {
			t.Errorf("after stop: %+v", st)
		}
	})
}

// TestInvocationID: a unit's InvocationID changes whenever it is started
// anew, by systemd itself (Restart=) or by a job (systemctl restart), and
// stays the same across daemon-reload and daemon-reexec; State also reads
// RestartForceExitStatus= and KillSignal=.
func TestInvocationID(t *testing.T) {
	s := systemdtest.Boot(t)
	dial := func(ctx context.Context) (*Conn, error) { return DialPrivate(ctx, s.Addr) }
	c, err := dial(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	const unit = "vnfha-inv.service"
	writeUnit(t, s, c, unit, "[Service]\nType=exec\nRestart=always\nRestartSec=0\nKillSignal=SIGINT\nExecStart=/bin/sleep 1000\n")
	writeUnit(t, s, c, "vnfha-forced.service", "[Service]\nType=exec\nRestartForceExitStatus=3 SIGKILL\nExecStart=/bin/sleep 1000\n")
	if err := c.Start(ctxT(t), unit); err != nil {
		t.Fatal(err)
	}
	first := mustState(t, c, unit)
	if len(first.InvocationID) != 32 || first.KillSignal != 2 || first.RestartForced {
		t.Fatalf("after start: %+v; want a 128-bit InvocationID, KillSignal 2, no RestartForceExitStatus", first)
	}
	if st := mustState(t, c, "vnfha-forced.service"); !st.RestartForced || st.KillSignal != 15 {
		t.Errorf("RestartForceExitStatus=3 SIGKILL: %+v", st)
	}
	systemctl(t, s, "daemon-reload")
	c.Close()
	systemctl(t, s, "daemon-reexec")
	if c, err = dial(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st := mustState(t, c, unit); st.InvocationID != first.InvocationID {
		t.Errorf("InvocationID %s after daemon-reload and daemon-reexec, was %s", st.InvocationID, first.InvocationID)
	}
	kill9(t, s, c, unit)
	var again State
	for i := 0; ; i++ {
		if again = mustState(t, c, unit); again.Active() && again.NRestarts == 1 {
			break
		}
		if i == 200 {
			t.Fatalf("no restart by systemd within 2s: %+v", again)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if again.InvocationID == first.InvocationID || again.InvocationID == "" {
		t.Errorf("InvocationID %q after a restart by systemd, was %q", again.InvocationID, first.InvocationID)
	}
	systemctl(t, s, "restart", unit)
	if st := mustState(t, c, unit); st.InvocationID == again.InvocationID || st.NRestarts != 0 {
		t.Errorf("after systemctl restart: %+v; want a new InvocationID and NRestarts 0", st)
	}
	if _, err := c.StopWithin(ctxT(t), unit, time.Second); err != nil {
		t.Error(err)
	}
}
