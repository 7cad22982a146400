// Package cib decodes the Cluster Information Base, as `cibadmin --query`
// prints it: the configuration an administrator wrote and the status the
// cluster recorded (node states and each resource's operation history).
// It reads the truth crm_mon computes its view from; crmwrap/crmmon holds
// crm_mon's view itself.
package cib

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Parse decodes a whole CIB, as printed by `cibadmin --query` or saved
// by crm_simulate. Elements the model does not cover (ACLs, tags, bundles,
// tickets) are skipped.
func Parse(data []byte) (*CIB, error) {
	cib, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse CIB XML: %w", err)
	}
	return cib, nil
}

func parse(data []byte) (*CIB, error) {
	root, err := pcmkxml.ParseDoc(data)
	if err != nil {
		return nil, err
	}
	if root.Tag != "cib" {
		return nil, fmt.Errorf("root element is <%s>, want <cib>", root.Tag)
	}
	a := pcmkxml.NewAttrs(root)
	cib := &CIB{
		ValidateWith:  a.Str("validate-with"),
		CRMFeatureSet: a.Str("crm_feature_set"),
		AdminEpoch:    a.Int("admin_epoch"),
		Epoch:         a.Int("epoch"),
		NumUpdates:    a.Int("num_updates"),
		HaveQuorum:    a.Bool("have-quorum"),
		DCUUID:        a.Str("dc-uuid"),
		LastWritten:   a.Str("cib-last-written"),
		UpdateOrigin:  a.Str("update-origin"),
		UpdateClient:  a.Str("update-client"),
		UpdateUser:    a.Str("update-user"),
	}
	if a.Err() != nil {
		return nil, a.Err()
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
			a := pcmkxml.NewAttrs(n)
			cfg.Nodes = append(cfg.Nodes, Node{
				ID:          a.Str("id"),
				Uname:       a.Str("uname"),
				Type:        a.Str("type"),
				Attributes:  parseNVSets(n, "instance_attributes"),
				Utilization: parseNVSets(n, "utilization"),
			})
		}
	}
	if e := el.SelectElement("resources"); e != nil {
		cfg.Resources = parseResources(e)
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
			a := pcmkxml.NewAttrs(al)
			alert := Alert{
				ID:          a.Str("id"),
				Path:        a.Str("path"),
				Description: a.Str("description"),
				Meta:        parseNVSets(al, "meta_attributes"),
				Instance:    parseNVSets(al, "instance_attributes"),
			}
			for _, r := range al.SelectElements("recipient") {
				ra := pcmkxml.NewAttrs(r)
				alert.Recipients = append(alert.Recipients, Recipient{
					ID:       ra.Str("id"),
					Value:    ra.Str("value"),
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
		a := pcmkxml.NewAttrs(s)
		set := NVSet{ID: a.Str("id"), Score: a.Str("score"), HasRule: s.SelectElement("rule") != nil}
		if set.ID == "" {
			set.ID = a.Str("id-ref")
		}
		for _, p := range s.SelectElements("nvpair") {
			pa := pcmkxml.NewAttrs(p)
			set.Pairs = append(set.Pairs, NVPair{ID: pa.Str("id"), Name: pa.Str("name"), Value: pa.Str("value")})
		}
		sets = append(sets, set)
	}
	return sets
}

func parseResources(el *etree.Element) Resources {
	var rs Resources
	for _, child := range el.ChildElements() {
		switch child.Tag {
		case "primitive":
			rs.Primitives = append(rs.Primitives, parsePrimitive(child))
		case "group":
			rs.Groups = append(rs.Groups, parseGroup(child))
		case "clone", "master":
			rs.Clones = append(rs.Clones, parseClone(child))
		}
	}
	return rs
}

func parsePrimitive(el *etree.Element) Primitive {
	a := pcmkxml.NewAttrs(el)
	p := Primitive{
		ID:          a.Str("id"),
		Class:       a.Str("class"),
		Provider:    a.Str("provider"),
		Type:        a.Str("type"),
		Description: a.Str("description"),
		Meta:        parseNVSets(el, "meta_attributes"),
		Instance:    parseNVSets(el, "instance_attributes"),
		Utilization: parseNVSets(el, "utilization"),
	}
	if ops := el.SelectElement("operations"); ops != nil {
		for _, o := range ops.SelectElements("op") {
			oa := pcmkxml.NewAttrs(o)
			p.Operations = append(p.Operations, Op{
				ID:       oa.Str("id"),
				Name:     oa.Str("name"),
				Interval: oa.Str("interval"),
				Timeout:  oa.Str("timeout"),
				Role:     oa.Str("role"),
				OnFail:   oa.Str("on-fail"),
				Meta:     parseNVSets(o, "meta_attributes"),
				Instance: parseNVSets(o, "instance_attributes"),
			})
		}
	}
	return p
}

func parseGroup(el *etree.Element) Group {
	g := Group{ID: el.SelectAttrValue("id", ""), Meta: parseNVSets(el, "meta_attributes")}
	for _, p := range el.SelectElements("primitive") {
		g.Primitives = append(g.Primitives, parsePrimitive(p))
	}
	return g
}

func parseClone(el *etree.Element) Clone {
	c := Clone{ID: el.SelectAttrValue("id", ""), Meta: parseNVSets(el, "meta_attributes")}
	if v, ok := LookupNV(c.Meta, "promotable"); ok {
		c.Promotable, _ = pcmkxml.ParseBool(v)
	}
	if el.Tag == "master" {
		c.Promotable = true
	}
	if p := el.SelectElement("primitive"); p != nil {
		prim := parsePrimitive(p)
		c.Primitive = &prim
	}
	if g := el.SelectElement("group"); g != nil {
		grp := parseGroup(g)
		c.Group = &grp
	}
	return c
}

func parseConstraints(el *etree.Element) Constraints {
	var cs Constraints
	for _, child := range el.ChildElements() {
		a := pcmkxml.NewAttrs(child)
		sets := parseResourceSets(child)
		switch child.Tag {
		case "rsc_location":
			cs.Locations = append(cs.Locations, Location{
				ID:                a.Str("id"),
				Rsc:               a.Str("rsc"),
				RscPattern:        a.Str("rsc-pattern"),
				Node:              a.Str("node"),
				Score:             a.Str("score"),
				Role:              a.Str("role"),
				ResourceDiscovery: a.Str("resource-discovery"),
				HasRule:           child.SelectElement("rule") != nil,
				Sets:              sets,
			})
		case "rsc_colocation":
			cs.Colocations = append(cs.Colocations, Colocation{
				ID:          a.Str("id"),
				Rsc:         a.Str("rsc"),
				WithRsc:     a.Str("with-rsc"),
				Score:       a.Str("score"),
				RscRole:     a.Str("rsc-role"),
				WithRscRole: a.Str("with-rsc-role"),
				Sets:        sets,
			})
		case "rsc_order":
			cs.Orders = append(cs.Orders, Order{
				ID:          a.Str("id"),
				First:       a.Str("first"),
				FirstAction: a.Str("first-action"),
				Then:        a.Str("then"),
				ThenAction:  a.Str("then-action"),
				Kind:        a.Str("kind"),
				Score:       a.Str("score"),
				Symmetrical: a.Str("symmetrical"),
				Sets:        sets,
			})
		}
	}
	return cs
}

func parseResourceSets(el *etree.Element) []ResourceSet {
	var sets []ResourceSet
	for _, s := range el.SelectElements("resource_set") {
		a := pcmkxml.NewAttrs(s)
		set := ResourceSet{ID: a.Str("id"), Sequential: a.Str("sequential"), Role: a.Str("role"), Action: a.Str("action")}
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
	root, err := pcmkxml.ParseDoc(data)
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
	a := pcmkxml.NewAttrs(el)
	n := NodeState{
		ID:             a.Str("id"),
		Uname:          a.Str("uname"),
		Join:           a.Str("join"),
		Expected:       a.Str("expected"),
		CRMDebugOrigin: a.Str("crm-debug-origin"),
		Remote:         a.Bool("remote_node"),
	}
	if a.Err() != nil {
		return n, a.Err()
	}
	var err error
	if n.InCCM, n.InCCMSince, err = parseInCCM(a.Str("in_ccm")); err != nil {
		return n, err
	}
	if n.Crmd, n.CrmdSince, err = parseCrmd(a.Str("crmd")); err != nil {
		return n, err
	}
	if lrm := el.SelectElement("lrm"); lrm != nil {
		n.HasLRM = true
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
	if b, ok := pcmkxml.ParseBool(v); ok {
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
	a := pcmkxml.NewAttrs(el)
	r := LRMResource{ID: a.Str("id"), Class: a.Str("class"), Provider: a.Str("provider"), Type: a.Str("type")}
	for _, o := range el.SelectElements("lrm_rsc_op") {
		oa := pcmkxml.NewAttrs(o)
		op := LRMOp{
			ID:            oa.Str("id"),
			OperationKey:  oa.Str("operation_key"),
			Operation:     oa.Str("operation"),
			IntervalMs:    oa.Int("interval"),
			CallID:        oa.Int("call-id"),
			RCCode:        oa.Int("rc-code"),
			OpStatus:      oa.Int("op-status"),
			ExecTimeMs:    oa.Int("exec-time"),
			QueueTimeMs:   oa.Int("queue-time"),
			ExitReason:    oa.Str("exit-reason"),
			OnNode:        oa.Str("on_node"),
			TransitionKey: oa.Str("transition-key"),
			OpDigest:      oa.Str("op-digest"),
			MigrateSource: oa.Str("migrate_source"),
			MigrateTarget: oa.Str("migrate_target"),
			ExpectedRC:    expectedRC(oa.Str("transition-key")),
		}
		if v := oa.Str("last-rc-change"); v != "" {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return r, fmt.Errorf("lrm_rsc_op %q: last-rc-change=%q: not an epoch time", op.ID, v)
			}
			op.LastRCChange = t
		}
		if oa.Err() != nil {
			return r, fmt.Errorf("lrm_resource %q: %w", r.ID, oa.Err())
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
