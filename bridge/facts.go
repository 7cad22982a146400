package bridge

import (
	"fmt"
	"strings"

	"github.com/vnfha/vnfha/crmwrap/cib"
)

// factsFromCIB derives what the view needs from a whole parsed CIB: nodes
// with their membership, standby and attributes; and for every resource a
// service may name, its instances on every node from the operation
// history, and what the configuration says about stopping it.
func factsFromCIB(c *cib.CIB) *clusterFacts {
	f := &clusterFacts{
		Version:   fmt.Sprintf("%d.%d.%d", c.AdminEpoch, c.Epoch, c.NumUpdates),
		Nodes:     map[string]*nodeFacts{},
		Resources: map[string]*resourceFacts{},
	}
	permanent := map[string][]cib.NVSet{}
	for _, n := range c.Configuration.Nodes {
		permanent[n.Uname] = n.Attributes
	}
	for _, ns := range c.Status {
		name := ns.Uname
		if name == "" {
			continue
		}
		transient, perm := ns.Attributes, permanent[name]
		attr := func(k string) (string, bool) {
			if v, ok := cib.LookupNV(transient, k); ok {
				return v, true
			}
			return cib.LookupNV(perm, k)
		}
		online := ns.Online()
		if ns.Remote {
			// A Pacemaker Remote node has no controller of its own: it is
			// up while its connection resource runs (in_ccm true).
			online = ns.InCCM
		}
		sb, _ := attr("standby")
		f.Nodes[name] = &nodeFacts{Name: name, Online: online, Remote: ns.Remote, Standby: isTrue(sb), Attr: attr,
			HistoryUnknown: online && !ns.HasLRM}
	}
	// Nodes configured but never seen have no node_state: they are
	// offline, and run nothing.
	for name, attrs := range permanent {
		if _, ok := f.Nodes[name]; !ok && name != "" {
			attrs := attrs
			sb, _ := cib.LookupNV(attrs, "standby")
			f.Nodes[name] = &nodeFacts{Name: name, Standby: isTrue(sb),
				Attr: func(k string) (string, bool) { return cib.LookupNV(attrs, k) }}
		}
	}
	for _, t := range topology(c) {
		f.Resources[t.id] = resourceFrom(c, t)
	}
	return f
}

// shape is a resource a service may name, resolved to what makes one of
// its instances.
type shape struct {
	id         string
	members    []string // primitive ids whose histories make one instance
	group      string   // the group's id, if the instance is a group
	ancestors  []string // the resource and its parents, for target-role and bans
	promotable bool
	meta       [][]cib.NVSet
}

// topology lists every id a service may name: top-level primitives and
// groups, clones, and the primitive or group inside a clone (which means
// the clone).
func topology(c *cib.CIB) []shape {
	var out []shape
	r := c.Configuration.Resources
	for _, p := range r.Primitives {
		out = append(out, shape{id: p.ID, members: []string{p.ID}, ancestors: []string{p.ID}, meta: [][]cib.NVSet{p.Meta}})
	}
	for _, g := range r.Groups {
		out = append(out, groupShape(g.ID, g, nil, nil))
	}
	for _, cl := range r.Clones {
		switch {
		case cl.Primitive != nil:
			s := shape{members: []string{cl.Primitive.ID}, ancestors: []string{cl.ID, cl.Primitive.ID},
				promotable: cl.Promotable, meta: [][]cib.NVSet{cl.Meta, cl.Primitive.Meta}}
			for _, id := range []string{cl.ID, cl.Primitive.ID} {
				s.id = id
				out = append(out, s)
			}
		case cl.Group != nil:
			for _, id := range []string{cl.ID, cl.Group.ID} {
				s := groupShape(id, *cl.Group, []string{cl.ID}, cl.Meta)
				s.promotable = cl.Promotable
				out = append(out, s)
			}
		}
	}
	return out
}

func groupShape(id string, g cib.Group, parents []string, parentMeta []cib.NVSet) shape {
	s := shape{id: id, group: g.ID, ancestors: append(append([]string{}, parents...), g.ID), meta: [][]cib.NVSet{parentMeta, g.Meta}}
	for _, p := range g.Primitives {
		s.members = append(s.members, p.ID)
		s.ancestors = append(s.ancestors, p.ID)
		s.meta = append(s.meta, p.Meta)
	}
	return s
}

func resourceFrom(c *cib.CIB, s shape) *resourceFacts {
	r := &resourceFacts{ID: s.id, Promotable: s.promotable, Banned: map[string]bool{}}
	for _, m := range s.meta {
		switch v, _ := cib.LookupNV(m, "target-role"); strings.ToLower(v) {
		case "stopped":
			r.Stopped = true
		case "unpromoted", "slave":
			r.Unpromoted = true
		}
	}
	anc := map[string]bool{}
	for _, a := range s.ancestors {
		anc[a] = true
	}
	for _, l := range c.Configuration.Constraints.Locations {
		if anc[l.Rsc] && l.Node != "" && !l.HasRule && isMinusInfinity(l.Score) && (l.Role == "" || strings.EqualFold(l.Role, "Started")) {
			r.Banned[l.Node] = true
		}
	}
	for _, ns := range c.Status {
		// One instance per clone-instance suffix ("" for anonymous
		// clones and plain resources, ":N" for globally unique ones).
		bySuffix := map[string][]memberState{}
		var suffixes []string
		for _, lr := range ns.Resources {
			for _, m := range s.members {
				suffix, ok := instanceSuffix(lr.ID, m)
				if !ok {
					continue
				}
				if _, seen := bySuffix[suffix]; !seen {
					suffixes = append(suffixes, suffix)
				}
				bySuffix[suffix] = append(bySuffix[suffix], memberState{stateOf(lr), ranHere(lr)})
			}
		}
		for _, suffix := range suffixes {
			in, ok := foldInstance(bySuffix[suffix], len(s.members))
			if !ok {
				continue
			}
			id := s.members[0]
			if s.group != "" {
				id = s.group
			}
			in.ID, in.Node = id+suffix, ns.Uname
			r.Instances = append(r.Instances, in)
		}
	}
	return r
}

// instanceSuffix matches an lrm_resource id to a member: "web" for an
// anonymous clone's instance, "web:2" for a globally unique one.
func instanceSuffix(lrmID, member string) (string, bool) {
	if lrmID == member {
		return "", true
	}
	if rest, ok := strings.CutPrefix(lrmID, member+":"); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
		return ":" + rest, true
	}
	return "", false
}

// memberState is one member primitive's state on a node.
type memberState struct {
	cib.ResourceState
	// ran: the history shows the member was stopped here after running,
	// as opposed to only probed.
	ran bool
}

// stateOf is lr.State(), the history replayed as Pacemaker's scheduler
// replays it, with one correction for what the bridge needs: a failure is
// resolved by a recurring monitor that passed and is newer than it (a
// greater call-id).
//
// The history keeps one entry for the newest non-recurring operation
// (<rsc>_last_0). The start that resolved a failure lives there until the
// next operation overwrites it; a stop recorded as pending (record-pending)
// does, while <rsc>_last_failure_0 still holds the old failure. Replayed
// as is, every planned stop (standby, ban, disable) of an instance that
// once recovered from a failure reads as failed, and its server would be
// failed (sessions shut) instead of drained. The recurring monitor
// survives: it is scheduled only after a successful start, promote or
// demote, so a passing one newer than the failure proves the recovery
// that _last_0 no longer shows. A failed stop is never resolved.
func stateOf(lr cib.LRMResource) cib.ResourceState {
	st := lr.State()
	if !st.Failed || st.StopFailed || st.FailedOp == nil || st.FailedOp.CallID < 0 {
		return st
	}
	for _, op := range lr.Ops {
		if op.Operation == "monitor" && op.IntervalMs > 0 && op.CallID > st.FailedOp.CallID &&
			op.OpStatus == 0 && monitorPassed(op) {
			st.Failed, st.FailedOp = false, nil
			return st
		}
	}
	return st
}

// monitorPassed: a recurring monitor found the resource as expected
// (degraded counts as running, as for Pacemaker).
func monitorPassed(op cib.LRMOp) bool {
	switch {
	case op.ExpectedRC < 0:
		return false
	case op.RCCode == op.ExpectedRC:
		return true
	case op.ExpectedRC == 0 && op.RCCode == 190, op.ExpectedRC == 8 && op.RCCode == 191:
		return true
	}
	return false
}

// ranHere reports whether the resource's last non-recurring operation on
// the node was a successful stop: it ran there and was stopped.
func ranHere(lr cib.LRMResource) bool {
	for _, op := range lr.Ops {
		if strings.HasSuffix(op.ID, "_last_0") {
			return op.Operation == "stop" && op.RCCode == 0 && op.OpStatus == 0
		}
	}
	return false
}

// foldInstance makes one instance of the members' states on a node. It is
// reported only when it matters to a pool: running, failed, stopped after
// it ran there (so that its server stays, in maintenance, while the CIB
// remembers it), or with an operation in flight. An instance only probed
// there is left out, and so is one whose history is gone (the node was
// fenced, the resource cleaned up or deleted): its server, if any, is
// drained and deleted.
func foldInstance(states []memberState, members int) (instanceFacts, bool) {
	in := instanceFacts{Active: len(states) == members, Role: string(cib.RoleStarted)}
	interesting := false
	for _, st := range states {
		if !st.Active {
			in.Active = false
		} else {
			interesting = true
		}
		if st.ran {
			interesting = true
		}
		if r := st.Role; r == cib.RolePromoted || r == cib.RoleUnpromoted {
			in.Role = string(r)
		}
		if (st.Failed || st.StopFailed) && !in.Failed {
			in.Failed, in.FailedOp = true, describeFailure(st.ResourceState)
			interesting = true
		}
		if st.Pending != "" && (in.Pending == "" || st.Pending == "stop") {
			in.Pending = st.Pending
			interesting = true
		}
	}
	if !in.Active {
		in.Role = string(cib.RoleStopped)
	}
	return in, interesting
}

// describeFailure says what failed in the words of crm_mon's failure
// list: the operation, its rc and the agent's reason.
func describeFailure(st cib.ResourceState) string {
	op := st.FailedOp
	if op == nil {
		if st.StopFailed {
			return "stop failed"
		}
		return "an operation failed"
	}
	name := op.Operation
	if name == "asyncmon" {
		// vnfc's supervisor reports a death through the controller,
		// which 2.1.5 records as an "asyncmon" operation.
		name = "monitor (reported at once)"
	}
	d := fmt.Sprintf("%s returned %d (%s)", name, op.RCCode, rcText(op.RCCode))
	if op.OpStatus != 0 {
		d = fmt.Sprintf("%s: %s", name, execStatusText(op.OpStatus))
	}
	if op.ExitReason != "" {
		d += ": " + op.ExitReason
	}
	return d
}

func rcText(rc int) string {
	switch rc {
	case 0:
		return "ok"
	case 1:
		return "error"
	case 2:
		return "invalid parameter"
	case 3:
		return "unimplemented feature"
	case 4:
		return "insufficient privileges"
	case 5:
		return "not installed"
	case 6:
		return "not configured"
	case 7:
		return "not running"
	case 8:
		return "promoted"
	case 9:
		return "promoted (failed)"
	}
	return "unknown"
}

func execStatusText(st int) string {
	switch st {
	case 2:
		return "timed out"
	case 3:
		return "not supported"
	case 4:
		return "error"
	case 5:
		return "hard error"
	case 6:
		return "fatal error"
	case 7:
		return "agent not installed"
	}
	return fmt.Sprintf("executor status %d", st)
}

func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "y", "1":
		return true
	}
	return false
}

func isMinusInfinity(score string) bool {
	switch strings.ToLower(strings.TrimSpace(score)) {
	case "-infinity", "-inf":
		return true
	}
	return false
}
