package vnfc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/attrd"
	"github.com/vnfha/vnfha/ocf"
)

// In unit tests no Pacemaker runs: the attribute manager is played by the
// log of the crm_attribute stand-in (newRsc), the one writer of scores
// here. An attribute's value is what the last --update of it set; none
// after a --delete, or after a line "erase" (what a restart of Pacemaker
// does to transient attributes). The lab's end-to-end test
// (test/e2e/vnfc_score_test.go) asks the real pacemaker-attrd.
func init() { queryScore = loggedScore }

// queries counts the stand-in's queries.
var queries int

func loggedScore(_ context.Context, node, name, client string) (attrd.Value, error) {
	queries++
	if node == "" || client == "" {
		return attrd.Value{}, errors.New("query without node or client")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(crmAttributeBin), "calls"))
	if err != nil {
		return attrd.Value{}, nil
	}
	var v attrd.Value
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case line == "erase":
			v = attrd.Value{}
		case len(f) >= 3 && f[0] == "crm_attribute" && f[1] == "--promotion" && scoreName(f[2]) == name:
			if f[len(f)-2] == "--update" {
				v = attrd.Value{Set: true, Value: f[len(f)-1]}
			} else if f[len(f)-1] == "--delete" {
				v = attrd.Value{}
			}
		}
	}
	return v, nil
}

// erase plays a restart of Pacemaker on the node: the score is gone.
func (r *rsc) erase() {
	r.t.Helper()
	f, err := os.OpenFile(r.calls, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("erase\n"); err != nil {
		r.t.Fatal(err)
	}
}

// scoreCalls are the recorded crm_attribute calls after the first n.
func (r *rsc) scoreCalls(n int) []string {
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(r.recorded()), "\n") {
		if strings.HasPrefix(l, "crm_attribute") {
			calls = append(calls, l)
		}
	}
	if n > len(calls) {
		return nil
	}
	return calls[n:]
}

const (
	update5  = "crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 5"
	update10 = "crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 10"
)

// TestMonitorRestoresScore: a monitor (recurring or probe) of a running
// instance whose score is gone sets it again, to what its role calls for;
// with the score there, whatever its value, it runs nothing.
func TestMonitorRestoresScore(t *testing.T) {
	tests := []struct {
		name     string
		promoted bool
		probe    bool
		want     ocf.Code
		restore  string
	}{
		{"unpromoted, recurring monitor", false, false, ocf.Success, update5},
		{"unpromoted, probe", false, true, ocf.Success, update5},
		{"promoted, recurring monitor", true, false, ocf.RunningPromoted, update10},
		{"promoted, probe", true, true, ocf.RunningPromoted, update10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := promotableRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": "0"}, "")
			r.must("start", ocf.Success)
			if tt.promoted {
				r.must("promote", ocf.Success)
			}
			r.meta["interval"] = "10000"
			if tt.probe {
				r.meta["interval"] = "0"
			}
			n := len(r.scoreCalls(0))
			// The score is there: no exec, one query.
			q := queries
			r.must("monitor", tt.want)
			if got := r.scoreCalls(n); len(got) != 0 {
				t.Fatalf("monitor with the score in place ran %q", got)
			}
			if queries != q+1 {
				t.Errorf("%d queries for one monitor, want 1", queries-q)
			}
			r.erase()
			stderr := r.must("monitor", tt.want)
			if got := r.scoreCalls(n); len(got) != 1 || got[0] != tt.restore {
				t.Fatalf("monitor after the score was erased ran %q, want %q", got, tt.restore)
			}
			if stderr != "" {
				t.Errorf("a restore is no warning: %q", stderr)
			}
			// Restored once: the next monitor finds it.
			r.must("monitor", tt.want)
			if got := r.scoreCalls(n + 1); len(got) != 0 {
				t.Errorf("second monitor ran %q", got)
			}
		})
	}
}

// TestMonitorScoreLeftAlone: no score is set for what does not run or
// fails, for what is not a promotable clone, or over a value already
// there; a query that fails leaves the monitor's answer as it was.
func TestMonitorScoreLeftAlone(t *testing.T) {
	t.Run("operator's value kept", func(t *testing.T) {
		r := promotableRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": "0"}, "")
		r.must("start", ocf.Success)
		// As crm_attribute --promotion -v 100 by hand would record it.
		f, _ := os.OpenFile(r.calls, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("crm_attribute --promotion vnfc-test --update 100\n")
		f.Close()
		n := len(r.scoreCalls(0))
		r.must("monitor", ocf.Success)
		if got := r.scoreCalls(n); len(got) != 0 {
			t.Errorf("monitor overwrote a score that was there: %q", got)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		r := promotableRsc(t, map[string]string{"command": "/bin/sleep 100000"}, "")
		r.meta["interval"] = "0"
		q := queries
		r.must("monitor", ocf.NotRunning)
		if got := r.scoreCalls(0); len(got) != 0 || queries != q {
			t.Errorf("probe of a stopped instance ran %q and %d queries", got, queries-q)
		}
	})
	t.Run("failed", func(t *testing.T) {
		r := promotableRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": "0"}, "")
		r.must("start", ocf.Success)
		r.erase()
		n := len(r.scoreCalls(0))
		rec := r.record()
		if err := rec.Main.Signal(9); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "supervisor exit", func() bool { return !rec.Supervisor.Alive() })
		r.must("monitor", ocf.ErrGeneric)
		if got := r.scoreCalls(n); len(got) != 0 {
			t.Errorf("monitor of a failed VNFC ran %q", got)
		}
	})
	t.Run("not promotable", func(t *testing.T) {
		r := newRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": "0"})
		r.meta["clone_max"] = "2"
		r.must("start", ocf.Success)
		q := queries
		r.must("monitor", ocf.Success)
		if got := r.recorded(); got != "" || queries != q {
			t.Errorf("a plain clone's monitor ran %q and %d queries", got, queries-q)
		}
	})
	t.Run("attrd unreachable", func(t *testing.T) {
		r := promotableRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": "0"}, "")
		r.must("start", ocf.Success)
		r.erase()
		n := len(r.scoreCalls(0))
		old := queryScore
		queryScore = func(context.Context, string, string, string) (attrd.Value, error) {
			return attrd.Value{}, errors.New("qbipc: connect to attrd: connection refused")
		}
		defer func() { queryScore = old }()
		stderr := r.must("monitor", ocf.Success)
		if got := r.scoreCalls(n); len(got) != 0 {
			t.Errorf("monitor set a score it could not check: %q", got)
		}
		if !strings.Contains(stderr, "promotion score not checked") || !strings.Contains(stderr, "connection refused") {
			t.Errorf("no warning that the score was not checked: %q", stderr)
		}
	})
	t.Run("restore fails", func(t *testing.T) {
		r := promotableRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": "0"}, "")
		r.must("start", ocf.Success)
		r.erase()
		crmAttributeBin = failingTool(t)
		stderr := r.must("monitor", ocf.Success)
		if !strings.Contains(stderr, "promotion score missing and not restored") {
			t.Errorf("no warning that the restore failed: %q", stderr)
		}
	})
}
