package bridge

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
)

// vnfcDerived is what vnfcEvents derives from one snapshot.
type vnfcDerived struct {
	Events []delivery.Event
	// RecheckAt is the earliest time after now at which a failed instance
	// passes its service's unrecoverable_after while the CIB may not change
	// at all: the bridge derives the events again then (zero: no such
	// time).
	RecheckAt time.Time
	// Problems say why a VNFM id in the CIB was ignored, for the log; the
	// same snapshot gives the same problems, so log a change only.
	Problems []string
}

// vnfcEvents derives, from one snapshot's facts, the facts about the
// services' instances as the VNFM and webhooks get them:
//
//   - vnfc.failed for every failure the CIB records (resolved or not), and
//     vnfc.recovered for every one the instance has since recovered from;
//   - vnfc.unrecoverable when Pacemaker's own recovery gave up
//     (unrecoverable, below);
//   - vnfc.lost for every instance a node's vnfha-ran record lists, for
//     every successful fencing of that node completed at or after the
//     record was written. fences is the fencer's history; it needs to be
//     read only when needFenceHistory says so, and nil gives no vnfc.lost.
//
// Each event's id is made of the fact alone (the cluster, the resource
// instance, its node, and the failed operation's call id and rc-change
// time, or the fencing's completion time), so every snapshot, and every
// bridge after a failover, derives the same ids for the same facts; the
// queue drops what a sink already has. now only decides whether an
// unrecoverable_after has passed; no id or time comes from it.
//
// A failure cleaned up (crm_resource --cleanup) is gone from the CIB, and
// with it the fact: the queue's store is what keeps an event the bridge
// saw before the cleanup.
func vnfcEvents(cfg *Config, f *clusterFacts, fences []crmwrap.Fencing, now time.Time) vnfcDerived {
	var d vnfcDerived
	seen := map[string]bool{}
	add := func(e delivery.Event) {
		if seen[e.ID] {
			return // a resource in two services is one fact
		}
		seen[e.ID] = true
		d.Events = append(d.Events, e)
	}
	reported := map[string]bool{}
	for _, s := range cfg.Services {
		r := f.Resources[s.Resource]
		if r == nil {
			continue
		}
		for _, err := range r.IDsErr {
			if msg := fmt.Sprintf("service %s: %v", s.Name, err); !reported[msg] {
				reported[msg] = true
				d.Problems = append(d.Problems, msg)
			}
		}
		ev := eventMaker{cfg: cfg, s: s, r: r}
		for _, in := range r.Instances {
			lf := in.LastFailure
			if lf == nil {
				continue
			}
			rc := lf.RC
			data := ev.data(in.ID, in.Node)
			data.Operation, data.RC, data.Reason = lf.Operation, &rc, lf.Reason
			id := ev.id(in.ID, in.Node, "failed", fmt.Sprintf("%d-%d", lf.CallID, lf.RCChange))
			add(ev.event(id, delivery.VNFCFailed, in.ID, in.Node, unixTime(lf.RCChange), data))
			if lf.RecoveredAt > 0 && in.Active && !in.Failed {
				rec := ev.data(in.ID, in.Node)
				rec.Reason = "running again after: " + lf.Reason
				add(ev.event(id+"/recovered", delivery.VNFCRecovered, in.ID, in.Node, unixTime(lf.RecoveredAt), rec))
			}
		}
		for _, u := range unrecoverable(s, r, f, now) {
			if u.due.After(now) {
				if d.RecheckAt.IsZero() || u.due.Before(d.RecheckAt) {
					d.RecheckAt = u.due
				}
				continue
			}
			lf := u.in.LastFailure
			rc := lf.RC
			data := ev.data(u.in.ID, u.in.Node)
			data.Operation, data.RC, data.Reason = lf.Operation, &rc, u.reason
			id := ev.id(u.in.ID, u.in.Node, "unrecoverable", fmt.Sprintf("%d-%d", lf.CallID, lf.RCChange))
			add(ev.event(id, delivery.VNFCUnrecoverable, u.in.ID, u.in.Node, u.due, data))
		}
		for _, l := range lost(r, f, fences) {
			data := ev.data(l.instance, l.node)
			data.Reason = l.reason
			id := ev.id(l.instance, l.node, "lost", fmt.Sprint(l.at.Unix()))
			add(ev.event(id, delivery.VNFCLost, l.instance, l.node, l.at, data))
		}
	}
	return d
}

// eventMaker makes one service's events.
type eventMaker struct {
	cfg *Config
	s   ServiceConfig
	r   *resourceFacts
}

// id is cluster/instance/node/kind/fact, each part path-escaped.
func (m eventMaker) id(instance, node, kind, fact string) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s", url.PathEscape(m.cfg.Cluster), url.PathEscape(instance),
		url.PathEscape(node), kind, fact)
}

// data is the payload every vnfc event of an instance carries, with the
// VNFM's ids: the service's config first, then the resource's meta
// attributes.
func (m eventMaker) data(instance, node string) delivery.Data {
	d := delivery.Data{Cluster: m.cfg.Cluster, Service: m.s.Name, Resource: instance, Node: node,
		VNFInstanceID: m.s.VNFInstanceID, VNFCInstanceID: m.s.VNFCInstanceIDs[node]}
	if d.VNFInstanceID == "" {
		d.VNFInstanceID = m.r.VNFInstanceID
	}
	if d.VNFCInstanceID == "" {
		d.VNFCInstanceID = m.r.VNFCInstanceIDs[node]
	}
	return d
}

func (m eventMaker) event(id, typ, instance, node string, at time.Time, data delivery.Data) delivery.Event {
	return delivery.Event{ID: id, Type: typ, Source: eventSource(m.cfg), Subject: instance + ":" + node, Time: at, Data: data}
}

// unrecoverableFact is an instance Pacemaker's recovery gave up on, or
// will be taken to have given up on at due (rule b).
type unrecoverableFact struct {
	in     instanceFacts
	due    time.Time
	reason string
}

// unrecoverable finds the instances of r whose recovery Pacemaker gave up
// on, by two rules (docs/bridge.md):
//
// (a) Banned with nowhere to go. The instance failed on node N; N's fail
// count for it has reached migration-threshold (a failed start counts
// INFINITY while start-failure-is-fatal is on, its default); it is not
// active on N; and no node can take it: a candidate is online, not in
// standby or maintenance, below the threshold, without a -INFINITY
// location for the resource (cli-ban included) and, for a clone with
// clone-node-max 1, without an instance already. It is reported at once,
// dated by the failure that exhausted the last node.
//
// (b) Not running for the service's unrecoverable_after since the
// failure's rc-change. For a primitive (or group): active nowhere, and
// seen running nowhere since that failure. For a clone's instance on N:
// N is online and neither in standby nor in maintenance (else the
// instance is stopped by plan, or lost); the instance has not run on N
// since the failure; and the clone runs fewer instances than it can:
// min(clone-max, clone-node-max × the nodes it may run on, ignoring fail
// counts). This catches what (a) does not model: rule-based locations,
// colocations, utilization, a start that hangs.
//
// Both rules name the same fact (the instance gave up after that
// failure), so they give the same id. Nothing is reported for a resource
// an operator stopped (target-role Stopped), unmanaged, or while the
// cluster is in maintenance-mode: Pacemaker is not recovering it then by
// choice.
//
// A primitive is one VNFC that moves: it is reported once, on the node
// where it failed while running (its newest failure of an operation other
// than a start), or, if it never ran, the newest failure. A clone's
// instances are one VNFC per node, each reported on its own node.
func unrecoverable(s ServiceConfig, r *resourceFacts, f *clusterFacts, now time.Time) []unrecoverableFact {
	if r.Stopped || r.Unmanaged || f.Maintenance {
		return nil
	}
	thr := r.MigrationThreshold
	banned := func(node string) bool { return thr > 0 && r.FailCount[node] >= thr }
	activeCount := 0
	activeOnNode := map[string]int{}
	for _, in := range r.Instances {
		if in.Active {
			activeCount++
			activeOnNode[in.Node]++
		}
	}
	usable := func(n *nodeFacts) bool {
		return n.Online && !n.Standby && !n.Maintenance && !r.Banned[n.Name]
	}
	// candidate: a node Pacemaker could place the instance on.
	candidate := func(n *nodeFacts) bool {
		if !usable(n) || banned(n.Name) {
			return false
		}
		return !r.Clone || activeOnNode[n.Name] < r.CloneNodeMax
	}
	anyCandidate := func() (bool, []string) {
		var why []string
		for _, n := range sortedNodes(f.Nodes) {
			if candidate(n) {
				return true, nil
			}
			why = append(why, n.Name+": "+whyNot(n, r, banned(n.Name), activeOnNode[n.Name]))
		}
		return false, why
	}
	after := s.UnrecoverableAfter.Duration
	var out []unrecoverableFact
	if !r.Clone {
		if activeCount > 0 {
			return nil
		}
		in, ok := primitiveFailure(r.Instances)
		if !ok {
			return nil
		}
		lf := in.LastFailure
		for _, o := range r.Instances {
			if o.LastRunning > lf.RCChange {
				return nil // it ran since, and was then stopped by plan
			}
		}
		if thr > 0 {
			var newest int64
			bannedSomewhere := false
			for _, o := range r.Instances {
				if o.LastFailure != nil && banned(o.Node) {
					bannedSomewhere = true
					newest = max(newest, o.LastFailure.RCChange)
				}
			}
			if ok, why := anyCandidate(); bannedSomewhere && !ok {
				return []unrecoverableFact{{in: in, due: unixTime(max(newest, lf.RCChange)),
					reason: "Pacemaker gave up after: " + lf.Reason + "; no node can run it (" + strings.Join(why, "; ") + ")"}}
			}
		}
		if after > 0 {
			out = append(out, unrecoverableFact{in: in, due: unixTime(lf.RCChange).Add(after),
				reason: fmt.Sprintf("not running anywhere %s after: %s", after, lf.Reason)})
		}
		return out
	}
	// A clone: one VNFC per node.
	if r.CloneMax > 0 && activeCount >= r.CloneMax {
		return nil // as many instances as it may run: nothing is missing
	}
	canRun := 0
	for _, n := range f.Nodes {
		if usable(n) {
			canRun += r.CloneNodeMax
		}
	}
	wanted := canRun
	if r.CloneMax > 0 {
		wanted = min(wanted, r.CloneMax)
	}
	for _, in := range r.Instances {
		lf := in.LastFailure
		if lf == nil || in.Active || in.LastRunning > lf.RCChange {
			continue
		}
		if banned(in.Node) {
			if ok, why := anyCandidate(); !ok {
				out = append(out, unrecoverableFact{in: in, due: unixTime(lf.RCChange),
					reason: "Pacemaker gave up after: " + lf.Reason + "; no node can run it (" + strings.Join(why, "; ") + ")"})
				continue
			}
		}
		n := f.Nodes[in.Node]
		if after <= 0 || n == nil || !n.Online || n.Standby || n.Maintenance || activeCount >= wanted {
			continue
		}
		out = append(out, unrecoverableFact{in: in, due: unixTime(lf.RCChange).Add(after),
			reason: fmt.Sprintf("not running on %s %s after: %s, and the clone runs %d of %d instances", in.Node, after, lf.Reason, activeCount, wanted)})
	}
	return out
}

// primitiveFailure picks the failure a primitive's unrecoverable fact
// follows: the newest of an operation other than a start (where it ran),
// else the newest.
func primitiveFailure(ins []instanceFacts) (instanceFacts, bool) {
	newer := func(a, b *failureFact) bool {
		return a.RCChange > b.RCChange || (a.RCChange == b.RCChange && a.CallID > b.CallID)
	}
	var ran, any *instanceFacts
	for i := range ins {
		lf := ins[i].LastFailure
		if lf == nil {
			continue
		}
		if any == nil || newer(lf, any.LastFailure) {
			any = &ins[i]
		}
		if lf.Operation != "start" && (ran == nil || newer(lf, ran.LastFailure)) {
			ran = &ins[i]
		}
	}
	switch {
	case ran != nil:
		return *ran, true
	case any != nil:
		return *any, true
	}
	return instanceFacts{}, false
}

// whyNot says why a node cannot take an instance, for the event's reason.
func whyNot(n *nodeFacts, r *resourceFacts, banned bool, active int) string {
	switch {
	case !n.Online:
		return "offline"
	case n.Standby:
		return "standby"
	case n.Maintenance:
		return "maintenance"
	case r.Banned[n.Name]:
		return "banned by a location constraint"
	case banned:
		fc := fmt.Sprint(r.FailCount[n.Name])
		if r.FailCount[n.Name] >= infinity {
			fc = "INFINITY"
		}
		return fmt.Sprintf("fail count %s, migration-threshold %d", fc, r.MigrationThreshold)
	case active > 0:
		return "runs an instance already"
	}
	return "?"
}

// lostFact is one instance lost with its node.
type lostFact struct {
	instance, node string
	at             time.Time
	reason         string
}

// lost lists r's instances lost with their node: every instance a node's
// vnfha-ran record lists, for the first fencing of that node that
// succeeded at or after the record was written (both to the second: a
// fencing in the record's own second counts, as a loss missed is worse
// than one repeated, and a repeat has the same id). A later fencing is a
// loss of what ran there only if the instances started again in between,
// and then ranUpdates has renewed the record: a node fenced twice, having
// run its instances between, is two losses with two ids; a node fenced
// again and again while it never came back is one. Fencings that failed
// or are pending, or of a name that is no node, count for nothing.
func lost(r *resourceFacts, f *clusterFacts, fences []crmwrap.Fencing) []lostFact {
	first := map[string]crmwrap.Fencing{}
	for _, fe := range fences {
		if !fe.Succeeded() {
			continue
		}
		n := f.Nodes[fe.Target]
		if n == nil || n.Ran == nil || fe.Completed.Unix() < n.Ran.At {
			continue
		}
		if p, ok := first[n.Name]; !ok || fe.Completed.Before(p.Completed) {
			first[n.Name] = fe
		}
	}
	var out []lostFact
	for name, fe := range first {
		n := f.Nodes[name]
		at := fe.Completed.Truncate(time.Second)
		by := fe.Delegate
		if by == "" {
			by = "the fencer"
		}
		for _, id := range ranInstancesOf(n.Ran, r) {
			out = append(out, lostFact{instance: id, node: n.Name, at: at,
				reason: fmt.Sprintf("node %s was fenced (%s, by %s, completed %s) while it ran %s", n.Name, fe.Action, by,
					at.Format(time.RFC3339), id)})
		}
	}
	slices.SortFunc(out, func(a, b lostFact) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.node+"/"+a.instance, b.node+"/"+b.instance)
	})
	return out
}

// eventSource is the CloudEvents source of the cluster's events.
func eventSource(cfg *Config) string {
	return "/vnfha/clusters/" + url.PathEscape(cfg.Cluster)
}

func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
