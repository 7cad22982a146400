package bridge

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vnfha/vnfha/crmwrap/cib"
)

// factsFromCIB derives what the view needs from a whole parsed CIB: nodes
// with their membership, standby and attributes; and for every resource a
// service may name, its instances on every node from the operation
// history, and what the configuration says about stopping it.
//
// Only the resources in want are looked at (all of them when want is nil):
// a cluster may run thousands the bridge has no service for.
func factsFromCIB(c *cib.CIB, want []string) *clusterFacts {
	f := &clusterFacts{
		Version:   fmt.Sprintf("%d.%d.%d", c.AdminEpoch, c.Epoch, c.NumUpdates),
		Nodes:     map[string]*nodeFacts{},
		Resources: map[string]*resourceFacts{},
	}
	if v, ok := cib.LookupNV(c.Configuration.CRMConfig, "maintenance-mode"); ok {
		f.Maintenance = isTrue(v)
	}
	permanent := map[string][]cib.NVSet{}
	configID := map[string]string{}
	for _, n := range c.Configuration.Nodes {
		permanent[n.Uname] = n.Attributes
		configID[n.Uname] = n.ID
	}
	status := liveNodeStates(c.Status, configID)
	for _, ns := range status {
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
		mt, _ := attr("maintenance")
		n := &nodeFacts{Name: name, Online: online, Remote: ns.Remote, Standby: isTrue(sb), Attr: attr,
			HistoryUnknown: online && !ns.HasLRM, Maintenance: isTrue(mt)}
		n.Ran, n.RanErr = ranFromAttributes(perm)
		f.Nodes[name] = n
	}
	// Nodes configured but never seen have no node_state: they are
	// offline, and run nothing.
	for name, attrs := range permanent {
		if _, ok := f.Nodes[name]; !ok && name != "" {
			attrs := attrs
			sb, _ := cib.LookupNV(attrs, "standby")
			mt, _ := cib.LookupNV(attrs, "maintenance")
			n := &nodeFacts{Name: name, Standby: isTrue(sb), Maintenance: isTrue(mt),
				Attr: func(k string) (string, bool) { return cib.LookupNV(attrs, k) }}
			n.Ran, n.RanErr = ranFromAttributes(attrs)
			f.Nodes[name] = n
		}
	}
	online := map[string]bool{}
	for name, n := range f.Nodes {
		online[name] = n.Online
	}
	wanted := map[string]bool{}
	for _, id := range want {
		wanted[id] = true
	}
	idx := indexHistories(status)
	for _, t := range topology(c) {
		if want == nil || wanted[t.id] {
			r := resourceFrom(c, status, idx, t, online)
			resourceMeta(c, t, r, len(f.Nodes))
			f.Resources[t.id] = r
		}
	}
	return f
}

// liveNodeStates keeps one node_state per node name. Two can share a name
// when a node was re-added under a new id and the old entry was never
// purged (crm_node --remove); the one whose id the configuration gives
// the node is the live one, else the first. Reading both would list the
// node's servers twice, which HAProxy's reconcile refuses for the whole
// backend.
func liveNodeStates(states []cib.NodeState, configID map[string]string) []cib.NodeState {
	return keepOne(slices.Clone(states), func(ns cib.NodeState) string { return ns.Uname },
		func(ns, kept cib.NodeState) bool { return ns.ID == configID[ns.Uname] && kept.ID != configID[ns.Uname] })
}

// shape is a resource a service may name, resolved to what makes one of
// its instances.
type shape struct {
	id         string
	members    []string // primitive ids whose histories make one instance
	group      string   // the group's id, if the instance is a group
	ancestors  []string // the resource and its parents, for target-role and bans
	promotable bool
	clone      bool
	// meta are the meta attribute blocks of the resource and its
	// ancestors, outermost first (a clone's, then its child's).
	meta [][]cib.NVSet
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
				promotable: cl.Promotable, clone: true, meta: [][]cib.NVSet{cl.Meta, cl.Primitive.Meta}}
			for _, id := range []string{cl.ID, cl.Primitive.ID} {
				s.id = id
				out = append(out, s)
			}
		case cl.Group != nil:
			for _, id := range []string{cl.ID, cl.Group.ID} {
				s := groupShape(id, *cl.Group, []string{cl.ID}, cl.Meta)
				s.promotable, s.clone = cl.Promotable, true
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

// historyIndex gives, per node and per primitive id, the operation
// histories of that primitive's instances on the node ("web" and "web:N"),
// so that each resource reads its own histories only: scanning every
// history of every node for each of thousands of resources is quadratic.
type historyIndex map[string]map[string][]*cib.LRMResource

func indexHistories(status []cib.NodeState) historyIndex {
	idx := make(historyIndex, len(status))
	for i := range status {
		ns := &status[i]
		m := make(map[string][]*cib.LRMResource, len(ns.Resources))
		for j := range ns.Resources {
			lr := &ns.Resources[j]
			base, _, _ := strings.Cut(lr.ID, ":")
			m[base] = append(m[base], lr)
		}
		idx[ns.Uname] = m
	}
	return idx
}

func resourceFrom(c *cib.CIB, status []cib.NodeState, idx historyIndex, s shape, online map[string]bool) *resourceFacts {
	r := &resourceFacts{ID: s.id, Promotable: s.promotable, Banned: map[string]bool{}, BannedPromoted: map[string]bool{},
		FailCount: map[string]int{}}
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
		if !anc[l.Rsc] || l.Node == "" || l.HasRule || !isMinusInfinity(l.Score) {
			continue
		}
		switch strings.ToLower(l.Role) {
		case "", "started":
			r.Banned[l.Node] = true
		case "promoted", "master":
			r.BannedPromoted[l.Node] = true
		}
	}
	for _, ns := range status {
		if fc := failCount(ns.Attributes, s.members); fc > 0 {
			r.FailCount[ns.Uname] = fc
		}
		// One instance per clone-instance suffix ("" for anonymous
		// clones and plain resources, ":N" for globally unique ones),
		// each member's state once.
		bySuffix := map[string]map[string]memberState{}
		var suffixes []string
		for _, m := range s.members {
			for _, lr := range idx[ns.Uname][m] {
				suffix, ok := instanceSuffix(lr.ID, m)
				if !ok {
					continue
				}
				if _, seen := bySuffix[suffix]; !seen {
					suffixes = append(suffixes, suffix)
					bySuffix[suffix] = map[string]memberState{}
				}
				bySuffix[suffix][m] = memberState{stateOf(*lr), ranHere(*lr), failureRecord(*lr), lastRunning(*lr)}
			}
		}
		if len(suffixes) == 0 && online[ns.Uname] {
			// No history at all on an online node: a cleanup or a new
			// DC erased it and the probe is still to come, or the
			// resource never ran here. Either way nothing here is known
			// to have stopped; an instance with no server stays without
			// one (see want).
			suffixes = append(suffixes, "")
		}
		for _, suffix := range suffixes {
			in, ok := foldInstance(s.members, bySuffix[suffix])
			if !ok {
				continue
			}
			if in.Unknown && !online[ns.Uname] {
				// An offline node's history is gone for good once it is
				// fenced: nothing runs there.
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
	if len(lrmID) > len(member)+1 && lrmID[:len(member)] == member && lrmID[len(member)] == ':' {
		rest := lrmID[len(member)+1:]
		if strings.Trim(rest, "0123456789") == "" {
			return lrmID[len(member):], true
		}
	}
	return "", false
}

// memberState is one member primitive's state on a node.
type memberState struct {
	cib.ResourceState
	// ran: the history shows the member was stopped here after running,
	// as opposed to only probed.
	ran bool
	// failure is the member's newest failure record here, resolved or
	// not (nil: none).
	failure *failureFact
	// lastOK is lastRunning's answer for the member.
	lastOK int64
}

// failureFact is a failure as the CIB keeps it (<rsc>_last_failure_0)
// until a cleanup, and whether the instance has recovered from it. Its
// call id and rc-change time make the failure's identity: the same
// failure always reads the same, a later one never does.
type failureFact struct {
	Member    string
	Operation string
	RC        int
	CallID    int
	RCChange  int64  // seconds since the epoch
	Reason    string // describeFailure's words
	// RecoveredAt is when an operation newer than the failure last
	// succeeded (a recurring monitor's or a start's rc-change); 0 while
	// it has not.
	RecoveredAt int64
}

// failureRecord reads a history's failure record and, from the same
// history, whether a successful start, promote or recurring monitor came
// after it (a greater call id).
func failureRecord(lr cib.LRMResource) *failureFact {
	var f *failureFact
	for _, op := range lr.Ops {
		if strings.HasSuffix(op.ID, "_last_failure_0") && op.CallID >= 0 {
			st := cib.ResourceState{FailedOp: &op}
			f = &failureFact{Member: lr.ID, Operation: op.Operation, RC: op.RCCode, CallID: op.CallID,
				RCChange: op.LastRCChange, Reason: describeFailure(st)}
			break
		}
	}
	if f == nil {
		return nil
	}
	for _, op := range lr.Ops {
		if op.CallID <= f.CallID || op.OpStatus != 0 || !monitorPassed(op) {
			continue
		}
		recurring := op.Operation == "monitor" && op.IntervalMs > 0
		if recurring || op.Operation == "start" || op.Operation == "promote" {
			f.RecoveredAt = max(f.RecoveredAt, op.LastRCChange)
		}
	}
	return f
}

// lastRunning is the newest rc-change of a successful start or promote,
// or of a recurring monitor that passed, in one history: when the member
// was last known to run there.
func lastRunning(lr cib.LRMResource) int64 {
	var t int64
	for _, op := range lr.Ops {
		if op.OpStatus != 0 || !monitorPassed(op) {
			continue
		}
		if (op.Operation == "monitor" && op.IntervalMs > 0) || op.Operation == "start" || op.Operation == "promote" {
			t = max(t, op.LastRCChange)
		}
	}
	return t
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

// foldInstance makes one instance of its members' states on a node. It is
// reported only when it matters to a pool: running, failed, stopped after
// it ran there (so that its server stays, in maintenance, while the CIB
// remembers it), with an operation in flight, or unknown. An instance only
// probed there is left out, and so is one whose history is gone on an
// offline node (it was fenced): its server, if any, is drained and
// deleted.
//
// Unknown is a member with no history or an unknown role: its history was
// erased (cleanup, refresh, a new DC reading the node again; a group's
// members are erased one by one) and not yet probed. What runs there is
// then not known, and an instance is not taken to be stopped because its
// history is missing; a failure recorded on another member still counts.
func foldInstance(members []string, states map[string]memberState) (instanceFacts, bool) {
	in := instanceFacts{Active: true, Role: string(cib.RoleStarted)}
	interesting := false
	for _, m := range members {
		st, ok := states[m]
		if !ok || (st.Role == cib.RoleUnknown && st.Pending == "" && !st.Failed && !st.StopFailed) {
			in.Unknown = true
			in.Active = false
			continue
		}
		if !st.Active {
			in.Active = false
		} else {
			interesting = true
		}
		if st.ran {
			interesting = true
		}
		in.LastRunning = max(in.LastRunning, st.lastOK)
		if r := st.Role; r == cib.RolePromoted || r == cib.RoleUnpromoted {
			in.Role = string(r)
		}
		if (st.Failed || st.StopFailed) && !in.Failed {
			in.Failed, in.FailedOp = true, describeFailure(st.ResourceState)
			interesting = true
		}
		if f := st.failure; f != nil && (in.LastFailure == nil || f.RCChange > in.LastFailure.RCChange ||
			(f.RCChange == in.LastFailure.RCChange && f.CallID > in.LastFailure.CallID)) {
			in.LastFailure = f
		}
		if st.Pending != "" && (in.Pending == "" || st.Pending == "stop") {
			in.Pending = st.Pending
			interesting = true
		}
	}
	if in.Failed || in.Pending != "" {
		// What is known outranks what is not.
		in.Unknown = false
	}
	if in.Unknown {
		interesting = true
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

// isMinusInfinity reads a score as Pacemaker does: -INFINITY, or any
// number at or below -1000000, which it takes for -INFINITY.
func isMinusInfinity(score string) bool {
	s := strings.ToLower(strings.TrimSpace(score))
	switch s {
	case "-infinity", "-inf":
		return true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Beyond int64 is beyond -1000000 too.
		var ne *strconv.NumError
		return errors.As(err, &ne) && ne.Err == strconv.ErrRange && strings.HasPrefix(s, "-")
	}
	return n <= -1000000
}

// The meta attributes through which a resource gives its VNFM ids, for a
// service whose config does not (docs/bridge.md).
const (
	metaVNFInstanceID   = "vnfha-vnf-instance-id"
	metaVNFCInstanceIDs = "vnfha-vnfc-instance-ids"
)

// infinity is Pacemaker's INFINITY score, which fail counts and
// thresholds saturate at.
const infinity = 1000000

// resourceMeta completes r from the configuration: what it is made of,
// what stops Pacemaker's recovery of it, and the VNFM ids its meta
// attributes give. nodes is the number of nodes, clone-max's default.
//
// Meta attributes are looked up innermost first (a clone's primitive,
// then the clone), as Pacemaker lets a child's own value win over what it
// inherits; pcs resource meta <clone> sets them on the clone.
func resourceMeta(c *cib.CIB, s shape, r *resourceFacts, nodes int) {
	meta := func(name string) (string, bool) {
		for i := len(s.meta) - 1; i >= 0; i-- {
			if v, ok := cib.LookupNV(s.meta[i], name); ok {
				return v, true
			}
		}
		return "", false
	}
	r.Base = s.members[0]
	if s.group != "" {
		r.Base = s.group
	}
	r.Clone = s.clone
	if s.clone {
		r.CloneMax, r.CloneNodeMax = nodes, 1
		if v, ok := meta("clone-max"); ok {
			r.CloneMax = max(0, parseScore(v))
		}
		if v, ok := meta("clone-node-max"); ok {
			r.CloneNodeMax = max(0, parseScore(v))
		}
	}
	if v, ok := meta("is-managed"); ok && !isTrue(v) {
		r.Unmanaged = true
	}
	if v, ok := meta("maintenance"); ok && isTrue(v) {
		r.Unmanaged = true
	}
	r.MigrationThreshold = infinity
	if v, ok := meta("migration-threshold"); ok {
		r.MigrationThreshold = max(0, parseScore(v))
	} else if v, ok := cib.LookupNV(c.Configuration.RscDefaults, "migration-threshold"); ok {
		r.MigrationThreshold = max(0, parseScore(v))
	}
	if v, ok := meta(metaVNFInstanceID); ok && v != "" {
		if err := checkIdentifier(v); err != nil {
			r.IDsErr = append(r.IDsErr, fmt.Errorf("resource %s: meta attribute %s ignored: %w", s.id, metaVNFInstanceID, err))
		} else {
			r.VNFInstanceID = v
		}
	}
	if v, ok := meta(metaVNFCInstanceIDs); ok && v != "" {
		ids, err := parseVNFCInstanceIDs(v)
		if err != nil {
			r.IDsErr = append(r.IDsErr, fmt.Errorf("resource %s: meta attribute %s ignored: %w", s.id, metaVNFCInstanceIDs, err))
		} else {
			r.VNFCInstanceIDs = ids
		}
	}
}

// parseVNFCInstanceIDs reads "node1=id1,node2=id2" strictly: no spaces,
// no empty item, node or id, no node twice, every id an ETSI Identifier.
// A value with any fault is refused whole: a VNFC id given to the wrong
// node would heal a VNFC that did not fail.
func parseVNFCInstanceIDs(v string) (map[string]string, error) {
	if len(v) > 64<<10 {
		return nil, fmt.Errorf("%d bytes", len(v))
	}
	out := map[string]string{}
	for i, item := range strings.Split(v, ",") {
		node, id, ok := strings.Cut(item, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("item %d (%q) is not node=id", i+1, item)
		case node == "" || id == "":
			return nil, fmt.Errorf("item %d (%q) has an empty node or id", i+1, item)
		case strings.ContainsFunc(node, func(r rune) bool { return r <= 0x20 || r == 0x7f || r == '=' }):
			return nil, fmt.Errorf("item %d: node %q holds a space or a control character", i+1, node)
		}
		if _, dup := out[node]; dup {
			return nil, fmt.Errorf("node %q is given twice", node)
		}
		if err := checkIdentifier(id); err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		out[node] = id
	}
	return out, nil
}

// failCount is the highest fail count among members on a node, from its
// transient attributes: a member's is the sum of its
// fail-count-<member>[:N]#<op>_<interval> values, as Pacemaker sums
// them, each INFINITY-capped.
func failCount(attrs []cib.NVSet, members []string) int {
	high := 0
	for _, m := range members {
		sum := map[string]int{} // by clone suffix
		for _, set := range attrs {
			for _, p := range set.Pairs {
				name, ok := strings.CutPrefix(p.Name, "fail-count-")
				if !ok {
					continue
				}
				rsc, _, ok := strings.Cut(name, "#")
				if !ok {
					continue
				}
				suffix, ok := instanceSuffix(rsc, m)
				if !ok {
					continue
				}
				sum[suffix] = min(infinity, sum[suffix]+max(0, parseScore(p.Value)))
			}
		}
		for _, n := range sum {
			high = max(high, n)
		}
	}
	return high
}

// parseScore reads a Pacemaker score: an integer or [+-]INFINITY,
// saturated at ±1000000; garbage reads 0, as Pacemaker's char2score.
func parseScore(v string) int {
	s := strings.ToLower(strings.TrimSpace(v))
	switch strings.TrimPrefix(s, "+") {
	case "infinity", "inf":
		return infinity
	}
	if isMinusInfinity(s) {
		return -infinity
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return infinity
		}
		return 0
	}
	return int(max(-infinity, min(infinity, n)))
}
