package vnfc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/ocf"
)

// TestProcessExported runs a command as another agent does through
// Process: start with a readiness check, status, stop; and a command that
// exits during start, which fails start and leaves nothing.
func TestProcessExported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the supervisor; skipped in -short mode")
	}
	log := logrus.NewEntry(logrus.New())
	env := &ocf.Env{Instance: "exported", RscTmp: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("runs", func(t *testing.T) {
		p := &Process{Dir: filepath.Join(t.TempDir(), "proc"), Agent: "checkpoint", Instance: "exported",
			Argv: []string{"/bin/sleep", "100000"}, Settle: 20 * time.Millisecond}
		tries := 0
		ready := func(context.Context) error {
			if tries++; tries < 3 {
				return errors.New("not yet")
			}
			return nil
		}
		if err := p.Start(ctx, env, log, ready); err != nil {
			t.Fatalf("start: %v", err)
		}
		if tries != 3 {
			t.Errorf("ready polled %d times, want 3", tries)
		}
		st, err := p.Status(ctx)
		if err != nil || st.State != ProcessRunning || st.Unsupervised {
			t.Errorf("status after start: %+v %v", st, err)
		}
		if err := p.Stop(ctx, log); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if st, err := p.Status(ctx); err != nil || st.State != ProcessStopped {
			t.Errorf("status after stop: %+v %v", st, err)
		}
		if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
			t.Errorf("stop left %s: %v", p.Dir, err)
		}
		// Stop is idempotent.
		if err := p.Stop(ctx, log); err != nil {
			t.Errorf("second stop: %v", err)
		}
		noLeftovers(t, "exported", "after stop")
	})
	t.Run("exits during start", func(t *testing.T) {
		p := &Process{Dir: filepath.Join(t.TempDir(), "proc"), Agent: "checkpoint", Instance: "exported",
			Argv: []string{"/bin/false"}, Settle: 200 * time.Millisecond, Noun: "the store"}
		err := p.Start(ctx, env, log, nil)
		// The reason names the process as the caller does (Noun).
		if code, reason := ocf.Result(err); code != ocf.ErrGeneric || !strings.Contains(reason, "the store exited with status 1 during start") {
			t.Errorf("start of /bin/false: %d %q", code, reason)
		}
		if st, err := p.Status(ctx); err != nil || st.State != ProcessStopped {
			t.Errorf("status after the failed start: %+v %v", st, err)
		}
		noLeftovers(t, "exported", "after the failed start")
	})
	t.Run("never ready", func(t *testing.T) {
		p := &Process{Dir: filepath.Join(t.TempDir(), "proc"), Agent: "checkpoint", Instance: "exported",
			Argv: []string{"/bin/sleep", "100000"}}
		sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer scancel()
		err := p.Start(sctx, env, log, func(context.Context) error { return errors.New("no answer") })
		if _, reason := ocf.Result(err); !strings.Contains(reason, "not healthy within the start timeout: no answer") {
			t.Errorf("start never ready: %q", reason)
		}
		noLeftovers(t, "exported", "after the start that was never ready")
	})
	t.Run("relative dir", func(t *testing.T) {
		p := &Process{Dir: "rel", Argv: []string{"/bin/true"}}
		if err := p.Start(ctx, env, log, nil); err == nil {
			t.Error("start with a relative directory succeeded")
		}
		if err := p.Stop(ctx, log); err == nil {
			t.Error("stop with a relative directory succeeded")
		}
	})
}
