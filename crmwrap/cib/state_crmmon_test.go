package cib_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/cib"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

// monPending is crm_mon's spelling of a pending operation.
var monPending = map[string]string{"start": "Starting", "stop": "Stopping", "promote": "Promoting", "demote": "Demoting", "migrate_to": "Migrating", "migrate_from": "Migrating"}

// TestStateAgreesWithCrmMon replays every recorded history with State and
// compares the result with what crm_mon (Pacemaker's scheduler, from the
// same CIB) says of each resource on each node: where it is active, in
// which role, failed or not, and what is pending. Each pair of files was
// recorded together: the CIB and crm_mon's view of it.
func TestStateAgreesWithCrmMon(t *testing.T) {
	pairs := map[string]string{}
	for _, name := range fixture.Cases(t, "testdata", ".xml") {
		pairs[filepath.Join("testdata", name+".xml")] = filepath.Join("..", "crmmon", "testdata", name+".xml")
	}
	for _, name := range fixture.Cases(t, "testdata/history", ".xml") {
		pairs[filepath.Join("testdata", "history", name+".xml")] = filepath.Join("testdata", "history", "crm_mon", name+".xml")
	}
	for cibFile, monFile := range pairs {
		t.Run(cibFile, func(t *testing.T) {
			c, err := cib.Parse(fixture.Read(t, cibFile))
			if err != nil {
				t.Fatal(err)
			}
			st, err := crmmon.Parse(fixture.Read(t, monFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range compareWithCrmMon(c, st) {
				t.Error(d)
			}
		})
	}
}

// compareWithCrmMon lists where State and crm_mon disagree.
func compareWithCrmMon(c *cib.CIB, st *crmmon.Status) []string {
	type where struct{ node, rsc string }
	states := map[where]cib.ResourceState{}
	for _, ns := range c.Status {
		for _, r := range ns.Resources {
			states[where{ns.Uname, r.ID}] = r.State()
		}
	}
	var diffs []string
	// Where crm_mon says a resource is active, State says so too, in the
	// same role, with the same operation pending.
	monActive := map[where]bool{}
	for _, in := range st.Instances() {
		failed := false
		for _, n := range in.Nodes {
			w := where{n.Name, in.ID}
			monActive[w] = true
			s := states[w]
			failed = failed || s.Failed
			if !s.Active {
				diffs = append(diffs, fmt.Sprintf("%s on %s: crm_mon active, State %+v", in.ID, n.Name, s))
				continue
			}
			role := string(s.Role)
			if s.Role == cib.RoleStarted && in.Promotable {
				role = string(cib.RoleUnpromoted)
			}
			if s.Pending != "" {
				// crm_mon 2.1.5 puts the pending operation in the role.
				role = monPending[s.Pending]
			}
			if role != in.Role {
				diffs = append(diffs, fmt.Sprintf("%s on %s: State role %s (pending %q), crm_mon %s", in.ID, n.Name, s.Role, s.Pending, in.Role))
			}
		}
		// crm_mon's failed is the resource's, not the node's: a
		// primitive active on two nodes is failed if it failed on either.
		if len(in.Nodes) > 0 && failed != in.Failed {
			diffs = append(diffs, fmt.Sprintf("%s on %v: State failed %v, crm_mon failed %v", in.ID, in.NodeNames(), failed, in.Failed))
		}
	}
	// Where State says active, crm_mon does too, except on a node crm_mon
	// knows is down and clean (fenced, or shut down): that history is
	// stale.
	for w, s := range states {
		if !s.Active || monActive[w] {
			continue
		}
		if n, _ := st.Node(w.node); n.Online || n.Unclean {
			diffs = append(diffs, fmt.Sprintf("%s on %s: State active (%+v), crm_mon not", w.rsc, w.node, s))
		}
	}
	slices.Sort(diffs)
	return diffs
}
