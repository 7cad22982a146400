package cib

import (
	"cmp"
	"slices"
)

// Role is a resource's role on one node, in Pacemaker's spelling.
type Role string

// The roles State reports. Their order is Pacemaker's (enum rsc_role_e):
// a role "below Started" means the resource is not running there.
const (
	// RoleUnknown: the history says nothing about the resource's state
	// (only pending probes, cancelled or ignored operations). Pacemaker
	// would probe it.
	RoleUnknown    Role = "Unknown"
	RoleStopped    Role = "Stopped"
	RoleStarted    Role = "Started"
	RoleUnpromoted Role = "Unpromoted"
	RolePromoted   Role = "Promoted"
)

func (r Role) rank() int {
	switch r {
	case RoleStopped:
		return 1
	case RoleStarted:
		return 2
	case RoleUnpromoted:
		return 3
	case RolePromoted:
		return 4
	}
	return 0
}

// ResourceState is what the operation history of one resource on one
// node says about it there, as Pacemaker's scheduler reads that history.
type ResourceState struct {
	// Active: the resource is (or may be) running on the node: Role is
	// Started, Unpromoted or Promoted. A failed start or a failed
	// monitor leaves it active, as Pacemaker sees it, until a stop
	// succeeds: it may be half running.
	Active bool `json:"active"`
	// Role is the resource's role. A started instance of a promotable
	// clone reads Started, not Unpromoted, unless it was demoted: the
	// history alone does not say whether the resource is promotable
	// (the configuration does: Clone.Promotable).
	Role Role `json:"role"`
	// Failed: an operation failed and nothing since resolved it (a
	// successful start, stop, promote, migrate_from, a "not running"
	// result, or a success of the very monitor that failed). It stays
	// set after a demote, as in Pacemaker with the default on-fail.
	Failed bool `json:"failed"`
	// FailedOp is the newest unresolved failure when Failed is set.
	FailedOp *LRMOp `json:"failed_op,omitempty"`
	// StopFailed: a stop failed. With fencing the node is fenced
	// (which erases its history); without, the resource is blocked
	// until an administrator cleans it up. Nothing in the history
	// resolves it.
	StopFailed bool `json:"stop_failed,omitempty"`
	// Pending names an operation in flight (recorded with op-status -1
	// because record-pending is on), such as "start" or "stop". A
	// pending probe is not reported, as crm_mon does not report it.
	Pending string `json:"pending,omitempty"`
	// MigratedTo is the target node of a successful migrate_to from this
	// node that no later start, stop, promote, demote or migrate_from
	// followed: a live migration whose source still counts as active
	// here. Whether the target has taken over is in the target's history.
	MigratedTo string `json:"migrated_to,omitempty"`
}

// failure severity, after Pacemaker's on-fail handling with the default
// on-fail of each operation.
const (
	failNone    = iota
	failRecover // on-fail=restart: cleared by a later success
	failSticky  // a failed stop: on-fail=fence (or block), never cleared
)

// OCF exit codes and executor statuses that State tells apart.
const (
	rcOK               = 0
	rcInvalidParam     = 2
	rcNotInstalled     = 5
	rcNotRunning       = 7
	rcRunningPromoted  = 8
	rcFailedPromoted   = 9
	rcDegraded         = 190
	rcDegradedPromoted = 191

	statusPending      = -1
	statusDone         = 0
	statusCancelled    = 1
	statusError        = 4
	statusNotInstalled = 7
	statusMax          = 11 // PCMK_EXEC_NO_SECRETS
)

// State replays the operation history of the resource on its node, in
// call-id order, the way Pacemaker 2.1.5's scheduler does
// (unpack_lrm_resource, unpack_rsc_op and remap_operation in
// lib/pengine/unpack.c), and returns where that leaves the resource.
//
// What it reads: the expected rc of every operation (from its
// transition key: a probe expects 7 where the resource should not run, a
// monitor of a promoted instance 8), probes that find the resource
// stopped (rc 7) or promoted (rc 8), degraded results (190, 191) as
// success, probes that find the agent not installed or misconfigured (rc
// 5 or 2) as "stopped", not failed, every other executor status (timeout,
// error, not installed, ...) as a failure, pending operations, and which
// later successes resolve an earlier failure.
//
// Where it simplifies, because one resource's history on one node is all
// it sees:
//   - on-fail is taken as its default: restart for every operation, fence
//     (or block) for a stop. A resource configured with on-fail=ignore
//     still reads as failed; with on-fail=demote a demote does not resolve
//     a failure here, as it would there.
//   - failure-timeout is not applied: an expired failure still counts
//     until the history is cleaned up (Pacemaker cleans it up itself when
//     it expires).
//   - is-managed=false is not known, so a monitor of an unmanaged resource
//     that finds it stopped reads as a failure, where Pacemaker takes it as
//     "stopped".
//   - a live migration is settled from both nodes' histories in
//     Pacemaker; here a successful migrate_to leaves the source active,
//     with MigratedTo set, until a later operation says otherwise.
//   - the node's own state (offline, unclean, being fenced) is not part
//     of it: NodeState says that.
//
// Operations whose call-id is negative (pending ones) sort last, the
// place Pacemaker gives them when they belong to the current transition.
func (r LRMResource) State() ResourceState {
	ops := slices.Clone(r.Ops)
	slices.SortStableFunc(ops, func(a, b LRMOp) int {
		if pa, pb := a.CallID < 0, b.CallID < 0; pa != pb {
			if pa {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.CallID, b.CallID); c != 0 {
			return c
		}
		return cmp.Compare(a.LastRCChange, b.LastRCChange)
	})

	h := replay{st: ResourceState{Role: RoleUnknown}}
	for i := range ops {
		h.apply(&ops[i])
	}
	st := h.st
	st.Active = st.Role.rank() > RoleStopped.rank()
	if h.fail != failNone {
		st.Failed = true
		st.FailedOp = h.failedOp
	}
	return st
}

// replay is State's fold over the sorted history.
type replay struct {
	st          ResourceState
	fail        int
	failedOp    *LRMOp
	lastFailure *LRMOp // the newest failure, resolved or not
}

// setActive marks the resource running if nothing says more (Pacemaker's
// set_active, without the promotable case: see ResourceState.Role).
func (h *replay) setActive() {
	if h.st.Role.rank() < RoleStarted.rank() {
		h.st.Role = RoleStarted
	}
}

func (h *replay) clearFailure() {
	if h.fail == failRecover {
		h.fail, h.failedOp = failNone, nil
	}
}

func (h *replay) apply(op *LRMOp) {
	task := op.Operation
	probe := task == "monitor" && op.IntervalMs == 0
	switch task {
	case "notify", "meta-data":
		return // never part of the state
	}
	switch op.OpStatus {
	case statusPending:
		switch task {
		case "start":
			h.setActive()
		case "promote":
			h.st.Role = RolePromoted
		}
		if h.st.Pending == "" && !probe {
			h.st.Pending = task
		}
		return
	case statusCancelled:
		return
	}
	if op.OpStatus < statusPending || op.OpStatus > statusMax {
		return // not an executor status: Pacemaker skips the entry
	}

	rc := op.RCCode
	if task == "monitor" {
		// Degraded is running, for a monitor.
		switch rc {
		case rcDegraded:
			rc = rcOK
		case rcDegradedPromoted:
			rc = rcRunningPromoted
		}
	}
	if probe && (rc == rcNotInstalled || rc == rcInvalidParam || op.OpStatus == statusNotInstalled) {
		// A probe that cannot run here means "not running here": the
		// scheduler bans the node instead of recovering.
		h.st.Role = RoleStopped
		return
	}

	failed := op.OpStatus != statusDone && op.OpStatus != statusError
	if !failed {
		failed = op.ExpectedRC < 0 || rc != op.ExpectedRC
		switch rc {
		case rcOK:
			if probe && op.ExpectedRC == rcNotRunning {
				failed = false // found active: news, not a failure
			}
		case rcNotRunning:
			if probe || op.ExpectedRC == rc {
				failed = false
				h.st.Role = RoleStopped
				h.clearFailure()
			}
		case rcRunningPromoted:
			if probe {
				failed = false
			}
			h.st.Role = RolePromoted
		case rcFailedPromoted, rcDegradedPromoted:
			h.st.Role = RolePromoted
			failed = true
		default:
			// Hard and fatal errors, and any rc Pacemaker does not
			// know, even if it was the expected one.
			failed = true
		}
	}

	if failed {
		h.failure(op)
		return
	}
	h.success(op, rc)
}

// success is Pacemaker's update_resource_state.
func (h *replay) success(op *LRMOp, rc int) {
	task := op.Operation
	if task != "monitor" {
		h.st.MigratedTo = ""
	}
	switch {
	case rc == rcNotRunning:
		h.clearFailure()
	case task == "monitor":
		if h.lastFailure != nil && opKey(*h.lastFailure) == opKey(*op) {
			h.clearFailure() // the monitor that failed passes again
		}
		h.setActive()
	case task == "start", task == "migrate_from":
		h.st.Role = RoleStarted
		h.clearFailure()
	case task == "stop":
		h.st.Role = RoleStopped
		h.clearFailure()
	case task == "promote":
		h.st.Role = RolePromoted
		h.clearFailure()
	case task == "demote":
		h.st.Role = RoleUnpromoted // resolves nothing with the default on-fail
	case task == "migrate_to":
		h.st.Role = RoleStarted
		h.st.MigratedTo = op.MigrateTarget
	default:
		h.setActive()
	}
}

// failure is Pacemaker's unpack_rsc_op_failure.
func (h *replay) failure(op *LRMOp) {
	h.lastFailure = op
	level := failRecover
	switch op.Operation {
	case "stop":
		level = failSticky
		h.st.StopFailed = true
	case "migrate_to", "migrate_from":
		h.st.Role = RoleStarted
	case "promote":
		h.st.Role = RolePromoted
	case "demote":
		// Pacemaker keeps a failed demote out of the promoted role (a
		// loop otherwise) and, even when it found the resource stopped,
		// then takes it as active: Unpromoted, the resource being
		// promotable.
		h.st.Role = RoleUnpromoted
	}
	if level >= h.fail {
		h.fail, h.failedOp = level, op
	}
	h.setActive()
}

// opKey is the operation key Pacemaker compares: resource_task_interval.
func opKey(op LRMOp) string {
	if op.OperationKey != "" {
		return op.OperationKey
	}
	return op.ID
}
