package vnfc

import (
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// TestSystemdActionsDuringReexec: monitors run back to back while systemd
// re-executes again and again all say 0: a monitor whose connection the
// reexec closes, or that cannot connect in its gap, connects again and
// asks again (systemd.Do) instead of failing a VNFC that runs. Stop at the
// end, also during reexecs, succeeds.
func TestSystemdActionsDuringReexec(t *testing.T) {
	b := boot(t)
	b.params["command"] = "/bin/sleep 100000"
	b.params["fast_fail"] = "false"
	b.must("start", ocf.Success)
	const reexecs = 10
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for range reexecs {
			time.Sleep(100 * time.Millisecond)
			if _, err := b.systemctlErr("daemon-reexec"); err != nil {
				done <- err
				return
			}
		}
	}()
	monitors, failures := 0, 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		monitors++
		if got, stderr := b.run("monitor"); got != ocf.Success {
			failures++
			t.Errorf("monitor %d during reexecs = %d: %s", monitors, got, strings.TrimSpace(stderr))
		}
		if monitors > 2000 {
			t.Fatal("reexecs did not end")
		}
	}
	t.Logf("%d monitors during %d reexecs, %d failed", monitors, reexecs, failures)
	b.must("stop", ocf.Success)
	b.must("monitor", ocf.NotRunning)
}
