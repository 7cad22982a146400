package cib

import (
	"fmt"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

// failed names the failure State should report: id, operation, call-id, rc.
type failed struct {
	id, op string
	call   int
	rc     int
}

// TestStateRecorded pins State on recorded histories: from the lab (real
// pending operations, a real failed start and its recovery), from
// crm_simulate (a failed stop, migrations, a failed demote) and from the
// older fixtures.
func TestStateRecorded(t *testing.T) {
	tests := []struct {
		fixture, node, rsc string
		active             bool
		role               Role
		fail               *failed
		stopFailed         bool
		pending, migrated  string
	}{
		{fixture: "history/lab-pending-start", node: "node2", rsc: "slow", active: true, role: RoleStarted, pending: "start"},
		{fixture: "history/lab-pending-start", node: "node1", rsc: "slow", role: RoleStopped},
		{fixture: "history/lab-started", node: "node2", rsc: "slow", active: true, role: RoleStarted},
		{fixture: "history/lab-pending-stop", node: "node2", rsc: "slow", active: true, role: RoleStarted, pending: "stop"},
		{fixture: "history/lab-stopped", node: "node2", rsc: "slow", role: RoleStopped},
		// The failed start is unresolved while the recovery's stop is
		// pending, and resolved by that stop.
		{fixture: "history/lab-failed-start", node: "node2", rsc: "flaky", active: true, role: RoleStarted,
			fail: &failed{"flaky_last_failure_0", "start", 18, 1}, pending: "stop"},
		{fixture: "history/lab-failed-start-recovered", node: "node2", rsc: "flaky", role: RoleStopped},
		{fixture: "history/lab-failed-start-recovered", node: "node3", rsc: "flaky", active: true, role: RoleStarted},
		{fixture: "history/sim-stop-failed", node: "node3", rsc: "flaky", active: true, role: RoleStarted,
			fail: &failed{"flaky_last_failure_0", "stop", 16, 1}, stopFailed: true},
		{fixture: "history/sim-migrated", node: "node1", rsc: "mig", role: RoleStopped},
		{fixture: "history/sim-migrated", node: "node2", rsc: "mig", active: true, role: RoleStarted},
		{fixture: "history/sim-migrate-from-failed", node: "node1", rsc: "mig", active: true, role: RoleStarted, migrated: "node2"},
		{fixture: "history/sim-migrate-from-failed", node: "node2", rsc: "mig", active: true, role: RoleStarted,
			fail: &failed{"mig_migrate_from_0", "migrate_from", 2, 1}},
		{fixture: "history/sim-running", node: "node1", rsc: "state", active: true, role: RolePromoted},
		// Failed promoted (rc 9), then the demote fails too: Unpromoted,
		// and the demote does not resolve anything.
		{fixture: "history/sim-demote-failed", node: "node1", rsc: "state", active: true, role: RoleUnpromoted,
			fail: &failed{"state_last_failure_0", "demote", 8, 1}},
		{fixture: "failed-start", node: "node2", rsc: "web", active: true, role: RoleStarted, fail: &failed{"web_last_failure_0", "start", 2, 1}},
		// The monitor failed (rc 7) and the cluster restarted vip:
		// resolved.
		{fixture: "failed-monitor", node: "node1", rsc: "vip", active: true, role: RoleStarted},
		{fixture: "failed-promoted", node: "node1", rsc: "state", active: true, role: RolePromoted},
		{fixture: "promotable-running", node: "node2", rsc: "vip", role: RoleStopped},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.node+"/"+tt.rsc, func(t *testing.T) {
			c, err := Parse(fixture.Read(t, "testdata/"+tt.fixture+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			r := findLRM(t, c, tt.node, tt.rsc)
			got := r.State()
			if got.Active != tt.active || got.Role != tt.role || got.StopFailed != tt.stopFailed || got.Pending != tt.pending || got.MigratedTo != tt.migrated {
				t.Errorf("State() = %+v", got)
			}
			if got.Failed != (tt.fail != nil) || (got.FailedOp == nil) != (tt.fail == nil) {
				t.Fatalf("failed %v, op %+v; want %+v", got.Failed, got.FailedOp, tt.fail)
			}
			if tt.fail != nil {
				if f := got.FailedOp; f.ID != tt.fail.id || f.Operation != tt.fail.op || f.CallID != tt.fail.call || f.RCCode != tt.fail.rc || f.LastRCChange == 0 {
					t.Errorf("failed op = %+v; want %+v", f, tt.fail)
				}
			}
		})
	}
}

func findLRM(t *testing.T, c *CIB, node, rsc string) LRMResource {
	t.Helper()
	n, ok := c.Node(node)
	if !ok {
		t.Fatalf("no node_state for %s", node)
	}
	for _, r := range n.Resources {
		if r.ID == rsc {
			return r
		}
	}
	t.Fatalf("no history of %s on %s", rsc, node)
	return LRMResource{}
}

// TestStateRules covers rules of Pacemaker's replay that no recording
// above happens to isolate. Each op is shaped like a recorded one: call-id,
// rc, op-status and the expected rc from its transition key.
func TestStateRules(t *testing.T) {
	op := func(id, task string, interval, call, rc, status, expected int) LRMOp {
		key := fmt.Sprintf("r_%s_%d", task, interval)
		return LRMOp{ID: id, OperationKey: key, Operation: task, IntervalMs: interval, CallID: call, RCCode: rc, OpStatus: status, ExpectedRC: expected}
	}
	probe7 := op("r_last_0", "monitor", 0, 1, 7, 0, 7)
	start := op("r_last_0", "start", 0, 5, 0, 0, 0)
	mon := op("r_monitor_10000", "monitor", 10000, 6, 0, 0, 0)
	tests := []struct {
		name    string
		ops     []LRMOp
		active  bool
		role    Role
		failed  bool
		pending string
	}{
		{"no history", nil, false, RoleUnknown, false, ""},
		{"probe found stopped", []LRMOp{probe7}, false, RoleStopped, false, ""},
		{"probe found running", []LRMOp{op("r_last_0", "monitor", 0, 1, 0, 0, 7)}, true, RoleStarted, false, ""},
		{"probe found promoted", []LRMOp{op("r_last_0", "monitor", 0, 1, 8, 0, 7)}, true, RolePromoted, false, ""},
		{"probe: agent not installed is stopped, not failed", []LRMOp{op("r_last_failure_0", "monitor", 0, 1, 5, 0, 7)}, false, RoleStopped, false, ""},
		{"started, out of order in the CIB", []LRMOp{mon, start, probe7}, true, RoleStarted, false, ""},
		{"degraded monitor is running", []LRMOp{start, op("r_monitor_10000", "monitor", 10000, 6, 190, 0, 0)}, true, RoleStarted, false, ""},
		{"monitor found stopped: failed, still taken as active", []LRMOp{start, op("r_last_failure_0", "monitor", 10000, 6, 7, 0, 0)}, true, RoleStarted, true, ""},
		{"monitor timed out", []LRMOp{start, op("r_last_failure_0", "monitor", 10000, 6, 1, 2, 0)}, true, RoleStarted, true, ""},
		{"failure, then a start: resolved", []LRMOp{op("r_last_failure_0", "monitor", 10000, 6, 7, 0, 0), op("r_last_0", "start", 0, 9, 0, 0, 0)}, true, RoleStarted, false, ""},
		{"failure, then the same monitor passes: resolved", []LRMOp{start, op("r_last_failure_0", "monitor", 10000, 6, 1, 0, 0), op("r_monitor_10000", "monitor", 10000, 7, 0, 0, 0)}, true, RoleStarted, false, ""},
		{"failure, then another monitor passes: unresolved", []LRMOp{start, op("r_last_failure_0", "monitor", 10000, 6, 1, 0, 0), op("r_monitor_20000", "monitor", 20000, 7, 0, 0, 0)}, true, RoleStarted, true, ""},
		{"failed stop, then a start: still unresolved", []LRMOp{op("r_last_failure_0", "stop", 0, 6, 1, 0, 0), op("r_last_0", "start", 0, 9, 0, 0, 0)}, true, RoleStarted, true, ""},
		{"not configured (rc 6) even when expected", []LRMOp{op("r_last_0", "start", 0, 5, 6, 0, 6)}, true, RoleStarted, true, ""},
		{"executor error with the expected rc is a success", []LRMOp{op("r_last_0", "start", 0, 5, 0, 4, 0)}, true, RoleStarted, false, ""},
		{"no transition key", []LRMOp{op("r_last_0", "start", 0, 5, 0, 0, -1)}, true, RoleStarted, true, ""},
		{"cancelled and notify ignored", []LRMOp{probe7, op("r_notify", "notify", 0, 3, 1, 0, 0), op("r_c", "monitor", 10000, 4, 0, 1, 0)}, false, RoleStopped, false, ""},
		{"pending probe not reported", []LRMOp{op("r_last_0", "monitor", 0, -1, 193, -1, 7)}, false, RoleUnknown, false, ""},
		{"pending promote", []LRMOp{start, op("r_last_0", "promote", 0, -1, 193, -1, 0)}, true, RolePromoted, false, "promote"},
		{"unknown executor status skipped", []LRMOp{probe7, op("r_x", "start", 0, 9, 0, 99, 0)}, false, RoleStopped, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LRMResource{ID: "r", Ops: tt.ops}.State()
			if got.Active != tt.active || got.Role != tt.role || got.Failed != tt.failed || got.Pending != tt.pending || (got.FailedOp != nil) != tt.failed {
				t.Errorf("State() = %+v; want active %v role %s failed %v pending %q", got, tt.active, tt.role, tt.failed, tt.pending)
			}
		})
	}
}
