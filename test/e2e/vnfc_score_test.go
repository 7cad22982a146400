package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// promotionScore reads node's promotion score for rsc from the CIB, as the
// scheduler sees it, asking from viewer: ok is false when there is none.
func promotionScore(t *testing.T, l *lab.Lab, viewer, node, rsc string) (value string, ok bool) {
	t.Helper()
	out, err := l.Exec(labtest.Context(t), viewer, "crm_attribute", "--node", node, "--name", "master-"+rsc,
		"--lifetime", "reboot", "--query", "--quiet")
	switch {
	case err == nil:
		return strings.TrimSpace(string(out)), true
	case strings.Contains(string(out), "No such device or address"): // ENXIO: no such attribute
		return "", false
	}
	t.Fatalf("query the promotion score of %s on %s: %v", rsc, node, err)
	return "", false
}

// TestVNFCScoreSurvivesPacemakerRestart (issue 10, point 1): a score deleted
// by hand comes back at the next monitor. Then Pacemaker is
// restarted, alone, on the node of the standby of an active/standby VNFC
// pair, in maintenance mode, as for an upgrade. The VNFC runs on, but the
// restart erases its promotion score. The agent's probe and monitors give
// it back, so when the active VNFC is then killed, the standby, the very
// same process, is promoted. Before monitor restored scores, nothing could
// be promoted there.
func TestVNFCScoreSurvivesPacemakerRestart(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2})
	ctx := labtest.Context(t)
	vnfcd := labtest.BuildVNFCd(t)
	pcs(t, l, []string{"resource", "create", "sig", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8080",
		"health=http://127.0.0.1:8080/health",
		"op", "monitor", "interval=5s", "role=Unpromoted", "op", "monitor", "interval=4s", "role=Promoted",
		"promotable", "promoted-max=1", "meta", "migration-threshold=1"})
	c := crmwrap.New(l.Runner("node1"))
	var active, standby string
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "sig Promoted on one node, Unpromoted on the other", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		active, standby = "", ""
		for n, r := range st.Roles("sig") {
			switch r {
			case "Promoted":
				active = n
			case "Unpromoted":
				standby = n
			}
		}
		return active != "" && standby != "", fmt.Sprintf("%v; failures %+v", st.Roles("sig"), st.Failures)
	})
	waitIdle(t, l)
	if v, ok := promotionScore(t, l, active, standby, "sig"); v != "5" {
		t.Fatalf("the standby on %s has score %q (set %v), want 5 from its start", standby, v, ok)
	}
	standbyPID := vnfcdPID(t, l, standby)

	// A score deleted by hand comes back at the standby's next recurring
	// monitor (every 5 s): the score is the agent's (see the notes).
	if out, err := l.Exec(ctx, active, "crm_attribute", "--node", standby, "--name", "master-sig", "--lifetime", "reboot",
		"--delete"); err != nil {
		t.Fatalf("delete the score: %v\n%s", err, out)
	}
	labtest.Eventually(t, 20*time.Second, 200*time.Millisecond, "the deleted score restored by a monitor", func() (bool, string) {
		v, ok := promotionScore(t, l, active, standby, "sig")
		return v == "5", fmt.Sprintf("score %q (set %v)", v, ok)
	})
	restores := func() []string {
		t.Helper()
		out, _ := l.Exec(ctx, standby, "grep", "promotion score 5 restored by a", "/var/log/pacemaker/pacemaker.log")
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	// The executor logs what a monitor said when the monitor ends, a
	// moment after the score it set is visible: wait for the line.
	var before []string
	labtest.Eventually(t, 10*time.Second, 100*time.Millisecond, "the monitor's restore in the node's log", func() (bool, string) {
		before = restores()
		return strings.Contains(before[len(before)-1], "restored by a monitor"), fmt.Sprintf("%s's log: %q", standby, before)
	})

	pcs(t, l, []string{"property", "set", "maintenance-mode=true"})
	waitIdle(t, l)
	if err := l.StopPacemaker(standby); err != nil {
		t.Fatal(err)
	}
	// Pacemaker is down on the standby's node; its VNFC is not, and its
	// score is gone from the CIB (the DC erased the node's transient
	// attributes when its controller left).
	if got := vnfcdPID(t, l, standby); got != standbyPID {
		t.Fatalf("stopping Pacemaker on %s ended the VNFC (pid %s, now %s)", standby, standbyPID, got)
	}
	labtest.Eventually(t, 10*time.Second, 100*time.Millisecond, "the standby's score erased", func() (bool, string) {
		v, ok := promotionScore(t, l, active, standby, "sig")
		return !ok, "score " + v
	})
	restarted := time.Now()
	if err := l.StartPacemaker(standby); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err := l.WaitOnline(wctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	pcs(t, l, []string{"property", "set", "maintenance-mode=false"})

	// The probe on the rejoined node (or a monitor) restores the score.
	labtest.Eventually(t, 30*time.Second, 200*time.Millisecond, "the standby's score restored", func() (bool, string) {
		v, ok := promotionScore(t, l, active, standby, "sig")
		return v == "5", fmt.Sprintf("score %q (set %v)", v, ok)
	})
	t.Logf("score of the standby on %s back within %s of the restart of Pacemaker there", standby,
		time.Since(restarted).Round(100*time.Millisecond))
	waitIdle(t, l)
	// The agent did it (the probe, as a rule), and said so in the
	// node's log.
	var after []string
	labtest.Eventually(t, 10*time.Second, 100*time.Millisecond, "a restore in the node's log since the restart", func() (bool, string) {
		after = restores()
		return len(after) > len(before), fmt.Sprintf("%s's log: %q", standby, after)
	})
	t.Logf("%s's log: %s", standby, after[len(after)-1])
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if roles := st.Roles("sig"); roles[active] != "Promoted" || roles[standby] != "Unpromoted" {
		t.Fatalf("after the restart: %v, want %s Promoted and %s Unpromoted", roles, active, standby)
	}
	if got := vnfcdPID(t, l, standby); got != standbyPID {
		t.Fatalf("the standby VNFC was restarted (pid %s, now %s)", standbyPID, got)
	}

	// The active VNFC dies: the standby, the same process, takes over.
	if out, err := l.Exec(ctx, active, "kill", "-9", vnfcdPID(t, l, active)); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	killed := time.Now()
	labtest.Eventually(t, 30*time.Second, 100*time.Millisecond, "the standby on "+standby+" promoted", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		roles := st.Roles("sig")
		return roles[standby] == "Promoted", fmt.Sprintf("%v; failures %+v", roles, st.Failures)
	})
	t.Logf("the standby on %s was promoted %s after the kill", standby, time.Since(killed).Round(10*time.Millisecond))
	if got := vnfcdPID(t, l, standby); got != standbyPID {
		t.Errorf("the promoted VNFC on %s is pid %s, not the standby %s: it was restarted", standby, got, standbyPID)
	}
}
