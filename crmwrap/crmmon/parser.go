// Package crmmon decodes the cluster status crm_mon computes
// (`crm_mon --output-as=xml`): nodes, resources with their roles, failures,
// fence history, bans. It is the scheduler's view of the CIB, whose raw
// form crmwrap/cib decodes.
package crmmon

import (
	"fmt"
	"html"
	"strings"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Parse decodes the XML printed by `crm_mon --output-as=xml`. A result
// whose code is not 0 (crm_mon could not reach the cluster) is a status
// like any other: its Result says so.
func Parse(data []byte) (*Status, error) {
	st, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse crm_mon XML: %w", err)
	}
	return st, nil
}

func parse(data []byte) (*Status, error) {
	root, res, err := pcmkxml.ParseResult(data)
	if err != nil {
		return nil, err
	}
	st := &Status{APIVersion: root.SelectAttrValue("api-version", ""), Result: res}
	if el := root.SelectElement("pacemakerd"); el != nil {
		st.PacemakerdState = el.SelectAttrValue("state", "")
	}
	if el := root.SelectElement("summary"); el != nil {
		if st.Summary, err = parseSummary(el); err != nil {
			return nil, err
		}
	}
	if el := root.SelectElement("nodes"); el != nil {
		for _, n := range el.SelectElements("node") {
			node, err := parseNode(n)
			if err != nil {
				return nil, err
			}
			st.Nodes = append(st.Nodes, node)
		}
	}
	if el := root.SelectElement("resources"); el != nil {
		if st.Resources, err = parseResources(el); err != nil {
			return nil, err
		}
	}
	if el := root.SelectElement("node_attributes"); el != nil {
		for _, n := range el.SelectElements("node") {
			na := NodeAttributes{Node: n.SelectAttrValue("name", "")}
			for _, a := range n.SelectElements("attribute") {
				na.Attributes = append(na.Attributes, NodeAttribute{
					Name:     a.SelectAttrValue("name", ""),
					Value:    a.SelectAttrValue("value", ""),
					Expected: a.SelectAttrValue("expected", ""),
				})
			}
			st.NodeAttributes = append(st.NodeAttributes, na)
		}
	}
	if el := root.SelectElement("node_history"); el != nil {
		if st.NodeHistory, err = parseNodeHistory(el); err != nil {
			return nil, err
		}
	}
	if el := root.SelectElement("failures"); el != nil {
		for _, f := range el.SelectElements("failure") {
			fl, err := parseFailure(f)
			if err != nil {
				return nil, err
			}
			st.Failures = append(st.Failures, fl)
		}
	}
	if el := root.SelectElement("fence_history"); el != nil {
		for _, f := range el.SelectElements("fence_event") {
			a := pcmkxml.NewAttrs(f)
			st.FenceHistory = append(st.FenceHistory, FenceEvent{
				Target:         a.Str("target"),
				Action:         a.Str("action"),
				Delegate:       a.Str("delegate"),
				Client:         a.Str("client"),
				Origin:         a.Str("origin"),
				Status:         a.Str("status"),
				ExtendedStatus: a.Str("extended-status"),
				ExitReason:     a.Str("exit-reason"),
				Completed:      a.Str("completed"),
			})
		}
	}
	if el := root.SelectElement("tickets"); el != nil {
		for _, t := range el.SelectElements("ticket") {
			a := pcmkxml.NewAttrs(t)
			tk := Ticket{ID: a.Str("id"), Status: a.Str("status"), Standby: a.Bool("standby"), LastGranted: a.Str("last-granted")}
			if a.Err() != nil {
				return nil, a.Err()
			}
			st.Tickets = append(st.Tickets, tk)
		}
	}
	if el := root.SelectElement("bans"); el != nil {
		for _, b := range el.SelectElements("ban") {
			a := pcmkxml.NewAttrs(b)
			ban := Ban{ID: a.Str("id"), Resource: a.Str("resource"), Node: a.Str("node"), Weight: a.Int("weight")}
			// promoted-only replaced master_only in 2.1.x; accept either.
			if a.Has("promoted-only") {
				ban.PromotedOnly = a.Bool("promoted-only")
			} else {
				ban.PromotedOnly = a.Bool("master_only")
			}
			if a.Err() != nil {
				return nil, a.Err()
			}
			st.Bans = append(st.Bans, ban)
		}
	}
	return st, nil
}

func parseSummary(el *etree.Element) (Summary, error) {
	var s Summary
	if e := el.SelectElement("stack"); e != nil {
		s.Stack = e.SelectAttrValue("type", "")
	}
	if e := el.SelectElement("current_dc"); e != nil {
		a := pcmkxml.NewAttrs(e)
		s.DCPresent = a.Bool("present")
		s.DCName, s.DCID, s.DCVersion = a.Str("name"), a.Str("id"), a.Str("version")
		s.WithQuorum = a.Bool("with_quorum")
		s.MixedVersion = a.Bool("mixed_version")
		if a.Err() != nil {
			return s, a.Err()
		}
	}
	if e := el.SelectElement("last_update"); e != nil {
		s.LastUpdate = e.SelectAttrValue("time", "")
	}
	if e := el.SelectElement("last_change"); e != nil {
		a := pcmkxml.NewAttrs(e)
		s.LastChange = LastChange{Time: a.Str("time"), User: a.Str("user"), Client: a.Str("client"), Origin: a.Str("origin")}
	}
	if e := el.SelectElement("nodes_configured"); e != nil {
		a := pcmkxml.NewAttrs(e)
		s.NodesConfigured = a.Int("number")
		if a.Err() != nil {
			return s, a.Err()
		}
	}
	if e := el.SelectElement("resources_configured"); e != nil {
		a := pcmkxml.NewAttrs(e)
		s.ResourcesConfigured = a.Int("number")
		s.ResourcesDisabled = a.Int("disabled")
		s.ResourcesBlocked = a.Int("blocked")
		if a.Err() != nil {
			return s, a.Err()
		}
	}
	if e := el.SelectElement("cluster_options"); e != nil {
		a := pcmkxml.NewAttrs(e)
		s.Options = ClusterOptions{
			StonithEnabled:         a.Bool("stonith-enabled"),
			SymmetricCluster:       a.Bool("symmetric-cluster"),
			NoQuorumPolicy:         a.Str("no-quorum-policy"),
			MaintenanceMode:        a.Bool("maintenance-mode"),
			StopAllResources:       a.Bool("stop-all-resources"),
			StonithTimeoutMs:       a.Int("stonith-timeout-ms"),
			PriorityFencingDelayMs: a.Int("priority-fencing-delay-ms"),
		}
		if a.Err() != nil {
			return s, a.Err()
		}
	}
	return s, nil
}

func parseNode(el *etree.Element) (Node, error) {
	a := pcmkxml.NewAttrs(el)
	n := Node{
		Name:             a.Str("name"),
		ID:               a.Str("id"),
		Online:           a.Bool("online"),
		Standby:          a.Bool("standby"),
		StandbyOnFail:    a.Bool("standby_onfail"),
		Maintenance:      a.Bool("maintenance"),
		Pending:          a.Bool("pending"),
		Unclean:          a.Bool("unclean"),
		Health:           a.Str("health"),
		FeatureSet:       a.Str("feature_set"),
		Shutdown:         a.Bool("shutdown"),
		ExpectedUp:       a.Bool("expected_up"),
		IsDC:             a.Bool("is_dc"),
		ResourcesRunning: a.Int("resources_running"),
		Type:             a.Str("type"),
		IDAsResource:     a.Str("id_as_resource"),
	}
	if n.IDAsResource == "" {
		// crm_mon 1.1.13 named it container_id.
		n.IDAsResource = a.Str("container_id")
	}
	if a.Err() != nil {
		return n, a.Err()
	}
	// With --group-by-node the node carries its resources.
	if len(el.ChildElements()) > 0 {
		rs, err := parseResources(el)
		if err != nil {
			return n, err
		}
		n.Resources = &rs
	}
	return n, nil
}

// maxResourceDepth bounds recursion: Pacemaker nests at most
// clone > group > primitive, so anything deeper is not crm_mon output.
const maxResourceDepth = 8

func parseResources(el *etree.Element) (Resources, error) {
	return parseResourcesDepth(el, 0)
}

func parseResourcesDepth(el *etree.Element, depth int) (Resources, error) {
	var rs Resources
	if depth > maxResourceDepth {
		return rs, fmt.Errorf("resources nested deeper than %d levels", maxResourceDepth)
	}
	for _, child := range el.ChildElements() {
		switch child.Tag {
		case "resource":
			p, err := parsePrimitive(child)
			if err != nil {
				return rs, err
			}
			rs.Primitives = append(rs.Primitives, p)
		case "group":
			a := pcmkxml.NewAttrs(child)
			g := Group{ID: a.Str("id"), NumberResources: a.Int("number_resources"), Managed: a.Bool("managed"), Disabled: a.Bool("disabled")}
			if a.Err() != nil {
				return rs, a.Err()
			}
			for _, r := range child.SelectElements("resource") {
				p, err := parsePrimitive(r)
				if err != nil {
					return rs, fmt.Errorf("group %q: %w", g.ID, err)
				}
				g.Primitives = append(g.Primitives, p)
			}
			rs.Groups = append(rs.Groups, g)
		case "clone":
			a := pcmkxml.NewAttrs(child)
			cl := Clone{
				ID:             a.Str("id"),
				Promotable:     a.Bool("multi_state"),
				Unique:         a.Bool("unique"),
				Managed:        a.Bool("managed"),
				Disabled:       a.Bool("disabled"),
				Failed:         a.Bool("failed"),
				FailureIgnored: a.Bool("failure_ignored"),
				TargetRole:     a.Str("target_role"),
			}
			if a.Err() != nil {
				return rs, a.Err()
			}
			inner, err := parseResourcesDepth(child, depth+1)
			if err != nil {
				return rs, fmt.Errorf("clone %q: %w", cl.ID, err)
			}
			cl.Resources = inner
			rs.Clones = append(rs.Clones, cl)
		case "bundle":
			a := pcmkxml.NewAttrs(child)
			b := Bundle{ID: a.Str("id"), Type: a.Str("type"), Image: a.Str("image"), Unique: a.Bool("unique"), Managed: a.Bool("managed"), Failed: a.Bool("failed")}
			if a.Err() != nil {
				return rs, a.Err()
			}
			for _, r := range child.SelectElements("replica") {
				rep := Replica{ID: r.SelectAttrValue("id", "")}
				for _, p := range r.SelectElements("resource") {
					prim, err := parsePrimitive(p)
					if err != nil {
						return rs, fmt.Errorf("bundle %q: %w", b.ID, err)
					}
					rep.Primitives = append(rep.Primitives, prim)
				}
				b.Replicas = append(b.Replicas, rep)
			}
			rs.Bundles = append(rs.Bundles, b)
		}
	}
	return rs, nil
}

func parsePrimitive(el *etree.Element) (Primitive, error) {
	a := pcmkxml.NewAttrs(el)
	p := Primitive{
		ID:             a.Str("id"),
		Agent:          a.Str("resource_agent"),
		Role:           a.Str("role"),
		TargetRole:     a.Str("target_role"),
		Active:         a.Bool("active"),
		Orphaned:       a.Bool("orphaned"),
		Blocked:        a.Bool("blocked"),
		Managed:        a.Bool("managed"),
		Failed:         a.Bool("failed"),
		FailureIgnored: a.Bool("failure_ignored"),
		NodesRunningOn: a.Int("nodes_running_on"),
		Pending:        a.Str("pending"),
		LockedTo:       a.Str("locked_to"),
	}
	for _, n := range el.SelectElements("node") {
		na := pcmkxml.NewAttrs(n)
		p.Nodes = append(p.Nodes, ResourceNode{Name: na.Str("name"), ID: na.Str("id"), Cached: na.Bool("cached")})
		if na.Err() != nil {
			return p, na.Err()
		}
	}
	return p, a.Err()
}

func parseNodeHistory(el *etree.Element) ([]NodeHistory, error) {
	var out []NodeHistory
	for _, n := range el.SelectElements("node") {
		nh := NodeHistory{Node: n.SelectAttrValue("name", "")}
		for _, r := range n.SelectElements("resource_history") {
			a := pcmkxml.NewAttrs(r)
			rh := ResourceHistory{
				ID:                 a.Str("id"),
				Orphan:             a.Bool("orphan"),
				MigrationThreshold: a.Int("migration-threshold"),
				FailCount:          a.Str("fail-count"),
				LastFailure:        a.Str("last-failure"),
			}
			if a.Err() != nil {
				return nil, a.Err()
			}
			for _, o := range r.SelectElements("operation_history") {
				oa := pcmkxml.NewAttrs(o)
				rh.Operations = append(rh.Operations, OperationHistory{
					Call:         oa.Str("call"),
					Task:         oa.Str("task"),
					Interval:     oa.Str("interval"),
					LastRCChange: oa.Str("last-rc-change"),
					LastRun:      oa.Str("last-run"),
					ExecTime:     oa.Str("exec-time"),
					QueueTime:    oa.Str("queue-time"),
					RC:           oa.Int("rc"),
					RCText:       oa.Str("rc_text"),
				})
				if oa.Err() != nil {
					return nil, oa.Err()
				}
			}
			nh.Resources = append(nh.Resources, rh)
		}
		out = append(out, nh)
	}
	return out, nil
}

// unescapeTwice undoes the second escaping crm_mon 2.1.5 gives a failure's
// exit reason in its XML: the reason "x \"y\"" arrives as
// exitreason="x &amp;quot;y&amp;quot;", so one XML decode leaves
// "x &quot;y&quot;" (recorded in testdata/crm_mon/failed-start-reason.xml).
// A version that escapes once leaves no entity after the XML decode unless
// the reason itself holds one, which agents do not write.
func unescapeTwice(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return html.UnescapeString(s)
}

func parseFailure(el *etree.Element) (Failure, error) {
	a := pcmkxml.NewAttrs(el)
	f := Failure{
		OpKey:        a.Str("op_key"),
		Node:         a.Str("node"),
		ExitStatus:   a.Str("exitstatus"),
		ExitReason:   unescapeTwice(a.Str("exitreason")),
		ExitCode:     a.Int("exitcode"),
		Call:         a.Int("call"),
		Status:       a.Str("status"),
		LastRCChange: a.Str("last-rc-change"),
		QueuedMs:     a.Int("queued"),
		ExecMs:       a.Int("exec"),
		IntervalMs:   a.Int("interval"),
		Task:         a.Str("task"),
	}
	if f.OpKey == "" {
		f.OpKey = a.Str("id")
	}
	return f, a.Err()
}

// Quorate reports whether a DC is elected and it has quorum: the state in
// which the cluster can run resources.
func (s *Status) Quorate() bool {
	return s.Summary.DCPresent && s.Summary.WithQuorum
}

// Node returns the node with the given name.
func (s *Status) Node(name string) (Node, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// NodeNames returns the names of the nodes the instance is active on.
func (i Instance) NodeNames() []string {
	names := make([]string, 0, len(i.Nodes))
	for _, n := range i.Nodes {
		names = append(names, n.Name)
	}
	return names
}

// Instances flattens the resource tree into its primitive instances, so a
// caller can ask "where does each copy of X run, in which role" without
// walking groups and clones.
func (s *Status) Instances() []Instance {
	var out []Instance
	flattenResources(&out, s.Resources, Instance{})
	return out
}

// Roles maps each node where an instance of the primitive rsc runs
// healthy (active, not failed, on that one node) to the instance's role:
// "where is X up, and which one is promoted", as tests and tools ask it.
func (s *Status) Roles(rsc string) map[string]string {
	out := map[string]string{}
	for _, i := range s.Instances() {
		if i.ID == rsc && i.Active && !i.Failed && len(i.Nodes) == 1 {
			out[i.Nodes[0].Name] = i.Role
		}
	}
	return out
}

func flattenResources(out *[]Instance, rs Resources, ctx Instance) {
	for _, p := range rs.Primitives {
		in := ctx
		in.Primitive = p
		*out = append(*out, in)
	}
	for _, g := range rs.Groups {
		gctx := ctx
		gctx.Group = g.ID
		flattenResources(out, Resources{Primitives: g.Primitives}, gctx)
	}
	for _, c := range rs.Clones {
		cctx := ctx
		cctx.Clone, cctx.Promotable = c.ID, c.Promotable
		flattenResources(out, c.Resources, cctx)
	}
	for _, b := range rs.Bundles {
		bctx := ctx
		bctx.Bundle = b.ID
		for _, r := range b.Replicas {
			flattenResources(out, Resources{Primitives: r.Primitives}, bctx)
		}
	}
}
