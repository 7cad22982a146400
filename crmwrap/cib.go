package crmwrap

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// ParseCIB decodes a whole CIB, as printed by `cibadmin --query` or saved
// by crm_simulate. Elements the model does not cover (ACLs, tags, bundles,
// tickets) are skipped.
func ParseCIB(data []byte) (*CIB, error) {
	cib, err := parseCIB(data)
	if err != nil {
		return nil, fmt.Errorf("parse CIB XML: %w", err)
	}
	return cib, nil
}

func parseCIB(data []byte) (*CIB, error) {
	root, err := parseXMLDoc(data)
	if err != nil {
		return nil, err
	}
	if root.Tag != "cib" {
		return nil, fmt.Errorf("root element is <%s>, want <cib>", root.Tag)
	}
	a := newAttrs(root)
	cib := &CIB{
		ValidateWith:  a.str("validate-with"),
		CRMFeatureSet: a.str("crm_feature_set"),
		AdminEpoch:    a.integer("admin_epoch"),
		Epoch:         a.integer("epoch"),
		NumUpdates:    a.integer("num_updates"),
		HaveQuorum:    a.boolean("have-quorum"),
		DCUUID:        a.str("dc-uuid"),
		LastWritten:   a.str("cib-last-written"),
		UpdateOrigin:  a.str("update-origin"),
		UpdateClient:  a.str("update-client"),
		UpdateUser:    a.str("update-user"),
	}
	if a.err != nil {
		return nil, a.err
	}
	if cfg := root.SelectElement("configuration"); cfg != nil {
		cib.Configuration = parseConfiguration(cfg)
	}
	if st := root.SelectElement("status"); st != nil {
		if cib.Status, err = ParseNodeStates(st); err != nil {
			return nil, err
		}
	}
	return cib, nil
}

func parseConfiguration(el *etree.Element) Configuration {
	var cfg Configuration
	if e := el.SelectElement("crm_config"); e != nil {
		cfg.CRMConfig = parseNVSets(e, "cluster_property_set")
	}
	if e := el.SelectElement("nodes"); e != nil {
		for _, n := range e.SelectElements("node") {
			a := newAttrs(n)
			cfg.Nodes = append(cfg.Nodes, CIBNode{
				ID:          a.str("id"),
				Uname:       a.str("uname"),
				Type:        a.str("type"),
				Attributes:  parseNVSets(n, "instance_attributes"),
				Utilization: parseNVSets(n, "utilization"),
			})
		}
	}
	if e := el.SelectElement("resources"); e != nil {
		cfg.Resources = parseCIBResources(e)
	}
	if e := el.SelectElement("constraints"); e != nil {
		cfg.Constraints = parseConstraints(e)
	}
	if e := el.SelectElement("rsc_defaults"); e != nil {
		cfg.RscDefaults = parseNVSets(e, "meta_attributes")
	}
	if e := el.SelectElement("op_defaults"); e != nil {
		cfg.OpDefaults = parseNVSets(e, "meta_attributes")
	}
	if e := el.SelectElement("alerts"); e != nil {
		for _, al := range e.SelectElements("alert") {
			a := newAttrs(al)
			alert := Alert{
				ID:          a.str("id"),
				Path:        a.str("path"),
				Description: a.str("description"),
				Meta:        parseNVSets(al, "meta_attributes"),
				Instance:    parseNVSets(al, "instance_attributes"),
			}
			for _, r := range al.SelectElements("recipient") {
				ra := newAttrs(r)
				alert.Recipients = append(alert.Recipients, Recipient{
					ID:       ra.str("id"),
					Value:    ra.str("value"),
					Meta:     parseNVSets(r, "meta_attributes"),
					Instance: parseNVSets(r, "instance_attributes"),
				})
			}
			cfg.Alerts = append(cfg.Alerts, alert)
		}
	}
	return cfg
}

// parseNVSets reads the child blocks named tag. A block that refers to
// another with id-ref is kept with its id-ref as id and no pairs: the
// reference is not resolved.
func parseNVSets(el *etree.Element, tag string) []NVSet {
	var sets []NVSet
	for _, s := range el.SelectElements(tag) {
		a := newAttrs(s)
		set := NVSet{ID: a.str("id"), Score: a.str("score"), HasRule: s.SelectElement("rule") != nil}
		if set.ID == "" {
			set.ID = a.str("id-ref")
		}
		for _, p := range s.SelectElements("nvpair") {
			pa := newAttrs(p)
			set.Pairs = append(set.Pairs, NVPair{ID: pa.str("id"), Name: pa.str("name"), Value: pa.str("value")})
		}
		sets = append(sets, set)
	}
	return sets
}

func parseCIBResources(el *etree.Element) CIBResources {
	var rs CIBResources
	for _, child := range el.ChildElements() {
		switch child.Tag {
		case "primitive":
			rs.Primitives = append(rs.Primitives, parseCIBPrimitive(child))
		case "group":
			rs.Groups = append(rs.Groups, parseCIBGroup(child))
		case "clone", "master":
			rs.Clones = append(rs.Clones, parseCIBClone(child))
		}
	}
	return rs
}

func parseCIBPrimitive(el *etree.Element) CIBPrimitive {
	a := newAttrs(el)
	p := CIBPrimitive{
		ID:          a.str("id"),
		Class:       a.str("class"),
		Provider:    a.str("provider"),
		Type:        a.str("type"),
		Description: a.str("description"),
		Meta:        parseNVSets(el, "meta_attributes"),
		Instance:    parseNVSets(el, "instance_attributes"),
		Utilization: parseNVSets(el, "utilization"),
	}
	if ops := el.SelectElement("operations"); ops != nil {
		for _, o := range ops.SelectElements("op") {
			oa := newAttrs(o)
			p.Operations = append(p.Operations, Op{
				ID:       oa.str("id"),
				Name:     oa.str("name"),
				Interval: oa.str("interval"),
				Timeout:  oa.str("timeout"),
				Role:     oa.str("role"),
				OnFail:   oa.str("on-fail"),
				Meta:     parseNVSets(o, "meta_attributes"),
				Instance: parseNVSets(o, "instance_attributes"),
			})
		}
	}
	return p
}

func parseCIBGroup(el *etree.Element) CIBGroup {
	g := CIBGroup{ID: el.SelectAttrValue("id", ""), Meta: parseNVSets(el, "meta_attributes")}
	for _, p := range el.SelectElements("primitive") {
		g.Primitives = append(g.Primitives, parseCIBPrimitive(p))
	}
	return g
}

func parseCIBClone(el *etree.Element) CIBClone {
	c := CIBClone{ID: el.SelectAttrValue("id", ""), Meta: parseNVSets(el, "meta_attributes")}
	if v, ok := LookupNV(c.Meta, "promotable"); ok {
		c.Promotable, _ = parsePcmkBool(v)
	}
	if el.Tag == "master" {
		c.Promotable = true
	}
	if p := el.SelectElement("primitive"); p != nil {
		prim := parseCIBPrimitive(p)
		c.Primitive = &prim
	}
	if g := el.SelectElement("group"); g != nil {
		grp := parseCIBGroup(g)
		c.Group = &grp
	}
	return c
}

func parseConstraints(el *etree.Element) Constraints {
	var cs Constraints
	for _, child := range el.ChildElements() {
		a := newAttrs(child)
		sets := parseResourceSets(child)
		switch child.Tag {
		case "rsc_location":
			cs.Locations = append(cs.Locations, Location{
				ID:                a.str("id"),
				Rsc:               a.str("rsc"),
				RscPattern:        a.str("rsc-pattern"),
				Node:              a.str("node"),
				Score:             a.str("score"),
				Role:              a.str("role"),
				ResourceDiscovery: a.str("resource-discovery"),
				HasRule:           child.SelectElement("rule") != nil,
				Sets:              sets,
			})
		case "rsc_colocation":
			cs.Colocations = append(cs.Colocations, Colocation{
				ID:          a.str("id"),
				Rsc:         a.str("rsc"),
				WithRsc:     a.str("with-rsc"),
				Score:       a.str("score"),
				RscRole:     a.str("rsc-role"),
				WithRscRole: a.str("with-rsc-role"),
				Sets:        sets,
			})
		case "rsc_order":
			cs.Orders = append(cs.Orders, Order{
				ID:          a.str("id"),
				First:       a.str("first"),
				FirstAction: a.str("first-action"),
				Then:        a.str("then"),
				ThenAction:  a.str("then-action"),
				Kind:        a.str("kind"),
				Score:       a.str("score"),
				Symmetrical: a.str("symmetrical"),
				Sets:        sets,
			})
		}
	}
	return cs
}

func parseResourceSets(el *etree.Element) []ResourceSet {
	var sets []ResourceSet
	for _, s := range el.SelectElements("resource_set") {
		a := newAttrs(s)
		set := ResourceSet{ID: a.str("id"), Sequential: a.str("sequential"), Role: a.str("role"), Action: a.str("action")}
		for _, r := range s.SelectElements("resource_ref") {
			set.Resources = append(set.Resources, r.SelectAttrValue("id", ""))
		}
		sets = append(sets, set)
	}
	return sets
}

// ParseNodeStates decodes the node_state entries under el, the <status>
// element of a CIB (as `cibadmin --query --scope status` prints it).
func ParseNodeStates(el *etree.Element) ([]NodeState, error) {
	var out []NodeState
	for _, ns := range el.SelectElements("node_state") {
		n, err := parseNodeState(ns)
		if err != nil {
			return nil, fmt.Errorf("node_state %q: %w", ns.SelectAttrValue("uname", ns.SelectAttrValue("id", "")), err)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseStatusSection decodes the output of `cibadmin --query --scope
// status`: a <status> element, or a whole <cib>.
func ParseStatusSection(data []byte) ([]NodeState, error) {
	root, err := parseXMLDoc(data)
	if err != nil {
		return nil, fmt.Errorf("parse CIB status XML: %w", err)
	}
	if root.Tag == "cib" {
		root = root.SelectElement("status")
		if root == nil {
			return nil, nil
		}
	}
	if root.Tag != "status" {
		return nil, fmt.Errorf("parse CIB status XML: root element is <%s>, want <status> or <cib>", root.Tag)
	}
	states, err := ParseNodeStates(root)
	if err != nil {
		return nil, fmt.Errorf("parse CIB status XML: %w", err)
	}
	return states, nil
}

func parseNodeState(el *etree.Element) (NodeState, error) {
	a := newAttrs(el)
	n := NodeState{
		ID:             a.str("id"),
		Uname:          a.str("uname"),
		Join:           a.str("join"),
		Expected:       a.str("expected"),
		CRMDebugOrigin: a.str("crm-debug-origin"),
		Remote:         a.boolean("remote_node"),
	}
	if a.err != nil {
		return n, a.err
	}
	var err error
	if n.InCCM, n.InCCMSince, err = parseInCCM(a.str("in_ccm")); err != nil {
		return n, err
	}
	if n.Crmd, n.CrmdSince, err = parseCrmd(a.str("crmd")); err != nil {
		return n, err
	}
	if lrm := el.SelectElement("lrm"); lrm != nil {
		if rs := lrm.SelectElement("lrm_resources"); rs != nil {
			for _, r := range rs.SelectElements("lrm_resource") {
				res, err := parseLRMResource(r)
				if err != nil {
					return n, err
				}
				n.Resources = append(n.Resources, res)
			}
		}
	}
	if ta := el.SelectElement("transient_attributes"); ta != nil {
		n.Attributes = parseNVSets(ta, "instance_attributes")
	}
	return n, nil
}

// parseInCCM reads node_state@in_ccm: a boolean before Pacemaker 2.1.7, the
// epoch time of joining (0 when not a member) since. "1" and "0" parse as
// booleans, as Pacemaker itself parses them.
func parseInCCM(v string) (member bool, since int64, err error) {
	if v == "" {
		return false, 0, nil
	}
	if b, ok := parsePcmkBool(v); ok {
		return b, 0, nil
	}
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil || t < 0 {
		return false, 0, fmt.Errorf("in_ccm=%q: neither a boolean nor a timestamp", v)
	}
	return true, t, nil
}

// parseCrmd reads node_state@crmd: online/offline before Pacemaker 2.1.7,
// the epoch time the controller joined the process group (0 when down)
// since.
func parseCrmd(v string) (up bool, since int64, err error) {
	switch strings.ToLower(v) {
	case "", "offline":
		return false, 0, nil
	case "online":
		return true, 0, nil
	}
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil || t < 0 {
		return false, 0, fmt.Errorf("crmd=%q: neither online/offline nor a timestamp", v)
	}
	return t > 0, t, nil
}

func parseLRMResource(el *etree.Element) (LRMResource, error) {
	a := newAttrs(el)
	r := LRMResource{ID: a.str("id"), Class: a.str("class"), Provider: a.str("provider"), Type: a.str("type")}
	for _, o := range el.SelectElements("lrm_rsc_op") {
		oa := newAttrs(o)
		op := LRMOp{
			ID:            oa.str("id"),
			OperationKey:  oa.str("operation_key"),
			Operation:     oa.str("operation"),
			IntervalMs:    oa.integer("interval"),
			CallID:        oa.integer("call-id"),
			RCCode:        oa.integer("rc-code"),
			OpStatus:      oa.integer("op-status"),
			ExecTimeMs:    oa.integer("exec-time"),
			QueueTimeMs:   oa.integer("queue-time"),
			ExitReason:    oa.str("exit-reason"),
			OnNode:        oa.str("on_node"),
			TransitionKey: oa.str("transition-key"),
			OpDigest:      oa.str("op-digest"),
			ExpectedRC:    expectedRC(oa.str("transition-key")),
		}
		if v := oa.str("last-rc-change"); v != "" {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return r, fmt.Errorf("lrm_rsc_op %q: last-rc-change=%q: not an epoch time", op.ID, v)
			}
			op.LastRCChange = t
		}
		if oa.err != nil {
			return r, fmt.Errorf("lrm_resource %q: %w", r.ID, oa.err)
		}
		r.Ops = append(r.Ops, op)
	}
	return r, nil
}

// expectedRC takes the target rc out of a transition key,
// "action:transition:target-rc:uuid".
func expectedRC(key string) int {
	parts := strings.SplitN(key, ":", 4)
	if len(parts) != 4 {
		return -1
	}
	rc, err := strconv.Atoi(parts[2])
	if err != nil {
		return -1
	}
	return rc
}

// Node returns the node_state of the node named uname.
func (c *CIB) Node(uname string) (NodeState, bool) {
	for _, n := range c.Status {
		if n.Uname == uname {
			return n, true
		}
	}
	return NodeState{}, false
}

// Property returns a cluster property from crm_config.
func (c *CIB) Property(name string) (string, bool) {
	return LookupNV(c.Configuration.CRMConfig, name)
}
