package bridge

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/vnfha/vnfha/bridge/haproxy"
)

// Want is what the bridge wants of one instance's server in a pool.
type Want string

const (
	// Serve: in rotation, once HAProxy's own check passes.
	Serve Want = "serve"
	// Drain: a planned stop: no new sessions, the running ones finish (up
	// to the service's drain_timeout), then maintenance.
	Drain Want = "drain"
	// Fail: a failure: maintenance at once and its sessions shut, since
	// they are dead anyway.
	Fail Want = "fail"
	// Hold: an operator holds the server; it is left exactly as it is.
	Hold Want = "hold"
	// Keep: what runs is not known for a moment (the instance's history
	// was erased by a cleanup or a new DC, and not probed yet): the server
	// is left as it is, and none is added, until the probe says.
	Keep Want = "keep"
)

// View is the bridge's picture of the cluster: for every configured
// service, every instance the CIB knows of and what its server should be.
// It is rebuilt whole from each CIB snapshot, never patched.
type View struct {
	// Version is the CIB's admin_epoch.epoch.num_updates.
	Version  string        `json:"version"`
	Built    time.Time     `json:"built"`
	Services []ServiceView `json:"services"`
	Nodes    []NodeView    `json:"nodes"`
}

// ServiceView is one service's instances.
type ServiceView struct {
	Name      string     `json:"name"`
	Resource  string     `json:"resource"`
	Backend   string     `json:"backend"`
	Instances []Instance `json:"instances"`
	// Err says why the service has no instances at all (an unknown
	// resource id, for example).
	Err string `json:"error,omitempty"`
}

// Instance is one instance of a service's resource on one node.
type Instance struct {
	// ID is the instance's id in the status section: the primitive's id,
	// with :N for a globally unique clone.
	ID     string `json:"id"`
	Node   string `json:"node"`
	Server string `json:"server"`
	Want   Want   `json:"want"`
	// Reason says why, in words an operator knows: "running", "failed:
	// monitor returned 7 (not running)", "node standby", "banned", ...
	Reason string     `json:"reason"`
	Addr   netip.Addr `json:"addr"`
	Port   uint16     `json:"port"`
	// Err is set when the instance cannot be put in a pool at all (no
	// service address for its node); such an instance is left out.
	Err string `json:"error,omitempty"`
}

// NodeView is a node as the view sees it.
type NodeView struct {
	Name    string `json:"name"`
	Online  bool   `json:"online"`
	Remote  bool   `json:"remote,omitempty"`
	Standby bool   `json:"standby,omitempty"`
}

// clusterFacts is what the view needs from the CIB, in the bridge's own
// terms; facts.go derives it from a parsed CIB. Keeping this seam makes
// the rules below testable with a table instead of a cluster.
type clusterFacts struct {
	Version string
	// Maintenance: the cluster property maintenance-mode is on, so
	// Pacemaker recovers nothing and nothing is reported unrecoverable.
	Maintenance bool
	Nodes       map[string]*nodeFacts
	Resources   map[string]*resourceFacts // by configured id
}

type nodeFacts struct {
	Name string
	// Online: a member with its controller up and joined, or a connected
	// Pacemaker Remote node. A lost node is offline until fenced and
	// after.
	Online  bool
	Remote  bool
	Standby bool
	// HistoryUnknown: an online node whose operation history is being
	// rewritten by the DC (its lrm section is missing): the CIB says
	// nothing of its instances until the rewrite ends, milliseconds
	// later.
	HistoryUnknown bool
	// Maintenance: the node attribute maintenance is on (Pacemaker
	// starts nothing there).
	Maintenance bool
	// Ran is the node's vnfha-ran record (ran.go): what ran there when the
	// bridge last wrote it; nil when there is none or it does not parse,
	// and then RanErr says why (nil when there is none).
	Ran    *ranRecord
	RanErr error
	// Attr looks up a node attribute, transient first.
	Attr func(name string) (string, bool)
}

type resourceFacts struct {
	ID string
	// Promotable is set for a promotable clone (or one of its children).
	Promotable bool
	// Stopped: target-role Stopped on the resource or an ancestor.
	Stopped bool
	// Unpromoted: target-role Unpromoted on the resource or an ancestor.
	Unpromoted bool
	// Banned are the nodes a -INFINITY location keeps the resource off.
	Banned map[string]bool
	// BannedPromoted are the nodes where a -INFINITY location with role
	// Promoted keeps it from the Promoted role (pcs resource ban
	// --promoted): it is demoted there.
	BannedPromoted map[string]bool
	Instances      []instanceFacts

	// Base is the id the resource's instances carry before a clone
	// suffix: the primitive's, or the group's.
	Base string
	// Clone: the resource is a clone (or its child); CloneMax is its
	// clone-max (0: unset, one per node) and CloneNodeMax its
	// clone-node-max (1 unless set).
	Clone        bool
	CloneMax     int
	CloneNodeMax int
	// Unmanaged: is-managed=false or maintenance=true on the resource or
	// an ancestor: Pacemaker recovers nothing of it.
	Unmanaged bool
	// MigrationThreshold is the resource's migration-threshold (its meta
	// attributes, else rsc_defaults, else INFINITY as 1000000); 0 turns
	// the ban off.
	MigrationThreshold int
	// FailCount is, per node, the highest fail count of the resource's
	// members there (fail-count-<rsc>#<op>_<interval> summed per member;
	// INFINITY as 1000000).
	FailCount map[string]int
	// VNFInstanceID and VNFCInstanceIDs are the VNFM ids the resource's
	// meta attributes give (vnfha-vnf-instance-id, vnfha-vnfc-instance-ids;
	// a clone's and its child's both count). IDsErr says why one was
	// ignored.
	VNFInstanceID   string
	VNFCInstanceIDs map[string]string
	IDsErr          []error
}

// instanceFacts is one instance's state on one node, from its operation
// history (a group's instance folds its members: active when all are,
// failed when any is).
type instanceFacts struct {
	ID     string
	Node   string
	Active bool
	// Role is Started, Promoted, Unpromoted or Stopped.
	Role string
	// Failed is an unresolved failure: the newest operation failed and no
	// successful start came after it.
	Failed bool
	// FailedOp describes the failed operation.
	FailedOp string
	// Pending is the operation in flight, if the CIB records one (stop,
	// start, promote, demote, migrate_to, ...).
	Pending string
	// Unknown: the node is online but has no usable history of the
	// instance (or of one of its members): a cleanup or a new DC erased
	// it, and Pacemaker has not probed it again yet.
	Unknown bool
	// LastFailure is the newest failure the CIB records for the instance
	// here (of any member), resolved or not; nil when none.
	LastFailure *failureFact
	// LastRunning is the newest rc-change of a successful start, promote
	// or passing recurring monitor in the instance's history here: when
	// it was last seen running (0: never).
	LastRunning int64
}

// buildView applies the pool rules of docs/bridge.md to the facts:
// an instance serves exactly when it is active on an online node without
// an unresolved failure, nothing plans to stop it, and (for a promoted-only
// service) it is Promoted.
func buildView(cfg *Config, f *clusterFacts, now time.Time) *View {
	v := &View{Version: f.Version, Built: now}
	for _, n := range sortedNodes(f.Nodes) {
		v.Nodes = append(v.Nodes, NodeView{Name: n.Name, Online: n.Online, Remote: n.Remote, Standby: n.Standby})
	}
	for _, s := range cfg.Services {
		sv := ServiceView{Name: s.Name, Resource: s.Resource, Backend: s.Backend}
		r, ok := f.Resources[s.Resource]
		if !ok {
			sv.Err = fmt.Sprintf("resource %s is not in the CIB's configuration", s.Resource)
			v.Services = append(v.Services, sv)
			continue
		}
		for _, in := range r.Instances {
			inst := Instance{ID: in.ID, Node: in.Node, Port: uint16(s.Port)}
			inst.Server = serverName(cfg.ServerPrefix, in.ID, in.Node)
			inst.Want, inst.Reason = want(s, r, in, f.Nodes[in.Node])
			if held(cfg, s.Name, f.Nodes[in.Node]) {
				inst.Want, inst.Reason = Hold, "held by node attribute "+cfg.HoldAttribute+" (was: "+string(inst.Want)+", "+inst.Reason+")"
			}
			var attr func(string) (string, bool)
			if n := f.Nodes[in.Node]; n != nil {
				attr = n.Attr
			}
			a, err := cfg.Address(in.Node, attr)
			if err != nil {
				inst.Err = err.Error()
			} else {
				inst.Addr = a
			}
			sv.Instances = append(sv.Instances, inst)
		}
		sv.Instances = uniqueServers(sv.Instances)
		sort.Slice(sv.Instances, func(i, j int) bool {
			a, b := sv.Instances[i], sv.Instances[j]
			if a.Node != b.Node {
				return a.Node < b.Node
			}
			return a.ID < b.ID
		})
		v.Services = append(v.Services, sv)
	}
	return v
}

// want decides one instance's server; the first rule that matches wins,
// and the order matters: a failure outranks a planned stop, because its
// sessions are dead and draining them only delays the clients' retries.
func want(s ServiceConfig, r *resourceFacts, in instanceFacts, n *nodeFacts) (Want, string) {
	switch {
	case n == nil || !n.Online:
		return Fail, "node " + in.Node + " is offline"
	case in.Failed:
		return Fail, "failed: " + in.FailedOp
	case in.Unknown:
		return Keep, "no operation history on " + in.Node + " yet (cleanup, refresh or a new DC): left as it is until Pacemaker probes it"
	case !in.Active && in.Pending != "":
		return Drain, in.Pending + " pending"
	case !in.Active:
		return Drain, "stopped"
	case r.Stopped:
		return Drain, "target-role is Stopped"
	case r.Banned[in.Node]:
		return Drain, "banned from " + in.Node
	case n.Standby:
		return Drain, "node " + in.Node + " is in standby"
	case in.Pending == "stop" || in.Pending == "migrate_to":
		return Drain, in.Pending + " pending"
	case s.PromotedOnly && in.Role != "Promoted":
		return Drain, "not promoted (" + in.Role + ")"
	case s.PromotedOnly && (r.Unpromoted || in.Pending == "demote"):
		return Drain, "being demoted"
	case s.PromotedOnly && r.BannedPromoted[in.Node]:
		return Drain, "banned from the Promoted role on " + in.Node + ": being demoted"
	case s.PromotedOnly && in.Pending == "promote":
		// The history reads a pending promote as Promoted already; the
		// instance serves once the promote has succeeded.
		return Drain, "promote pending"
	}
	return Serve, "running"
}

// held reports whether the node's hold attribute names the service (or is
// "*"): an operator's hand on the pool that drift correction respects.
func held(cfg *Config, service string, n *nodeFacts) bool {
	if n == nil || n.Attr == nil {
		return false
	}
	v, ok := n.Attr(cfg.HoldAttribute)
	if !ok {
		return false
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if f == "*" || f == service {
			return true
		}
	}
	return false
}

// uniqueServers keeps one instance per server name, the most cautious
// (fail, then drain, then keep, then serve): a pool that names a server
// twice is refused whole by HAProxy's reconcile.
func uniqueServers(in []Instance) []Instance {
	rank := map[Want]int{Serve: 0, Keep: 1, Drain: 2, Fail: 3, Hold: 4}
	return keepOne(in, func(x Instance) string { return x.Server },
		func(x, kept Instance) bool { return rank[x.Want] > rank[kept.Want] })
}

// keepOne keeps one element of in per key, in first-seen order: the
// first, unless a later one is better. It reuses in's array.
func keepOne[T any](in []T, key func(T) string, better func(x, kept T) bool) []T {
	at := map[string]int{}
	out := in[:0]
	for _, x := range in {
		i, dup := at[key(x)]
		switch {
		case !dup:
			at[key(x)] = len(out)
			out = append(out, x)
		case better(x, out[i]):
			out[i] = x
		}
	}
	return out
}

func sortedNodes(m map[string]*nodeFacts) []*nodeFacts {
	out := make([]*nodeFacts, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// serverName is the HAProxy server of an instance: the prefix that marks
// the bridge's servers, then the instance and its node, so that the same
// instance always gets the same name and every reconcile is idempotent.
func serverName(prefix, id, node string) string {
	return prefix + haproxy.ServerName(id, node)
}
