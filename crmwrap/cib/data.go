package cib

// CIB is a parsed Cluster Information Base: the configuration an
// administrator wrote and the status the cluster recorded.
type CIB struct {
	ValidateWith  string `json:"validate_with"`
	CRMFeatureSet string `json:"crm_feature_set"`
	AdminEpoch    int    `json:"admin_epoch"`
	Epoch         int    `json:"epoch"`
	NumUpdates    int    `json:"num_updates"`
	// HaveQuorum and DCUUID are written by the DC.
	HaveQuorum    bool          `json:"have_quorum"`
	DCUUID        string        `json:"dc_uuid,omitempty"`
	LastWritten   string        `json:"last_written,omitempty"`
	UpdateOrigin  string        `json:"update_origin,omitempty"`
	UpdateClient  string        `json:"update_client,omitempty"`
	UpdateUser    string        `json:"update_user,omitempty"`
	Configuration Configuration `json:"configuration"`
	Status        []NodeState   `json:"status,omitempty"`
}

// Configuration is the CIB's <configuration> section.
type Configuration struct {
	// CRMConfig holds the cluster_property_set blocks: cluster properties.
	CRMConfig   []NVSet     `json:"crm_config,omitempty"`
	Nodes       []Node      `json:"nodes,omitempty"`
	Resources   Resources   `json:"resources"`
	Constraints Constraints `json:"constraints"`
	RscDefaults []NVSet     `json:"rsc_defaults,omitempty"`
	OpDefaults  []NVSet     `json:"op_defaults,omitempty"`
	Alerts      []Alert     `json:"alerts,omitempty"`
}

// NVSet is a block of name/value pairs: instance_attributes,
// meta_attributes, utilization or cluster_property_set. Rules on the block
// are not evaluated; HasRule says one is there.
type NVSet struct {
	ID      string   `json:"id"`
	Score   string   `json:"score,omitempty"`
	HasRule bool     `json:"has_rule,omitempty"`
	Pairs   []NVPair `json:"pairs,omitempty"`
}

// NVPair is one name/value pair.
type NVPair struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// LookupNV returns the value of name from the first block that sets it,
// which is the value Pacemaker uses when no rules or scores are involved.
func LookupNV(sets []NVSet, name string) (string, bool) {
	for _, s := range sets {
		for _, p := range s.Pairs {
			if p.Name == name {
				return p.Value, true
			}
		}
	}
	return "", false
}

// Node is a node entry of the configuration.
type Node struct {
	ID          string  `json:"id"`
	Uname       string  `json:"uname"`
	Type        string  `json:"type,omitempty"`
	Attributes  []NVSet `json:"attributes,omitempty"`
	Utilization []NVSet `json:"utilization,omitempty"`
}

// Resources are the configured resources.
type Resources struct {
	Primitives []Primitive `json:"primitives,omitempty"`
	Groups     []Group     `json:"groups,omitempty"`
	Clones     []Clone     `json:"clones,omitempty"`
}

// Primitive is a configured primitive resource.
type Primitive struct {
	ID          string  `json:"id"`
	Class       string  `json:"class"`
	Provider    string  `json:"provider,omitempty"`
	Type        string  `json:"type"`
	Description string  `json:"description,omitempty"`
	Meta        []NVSet `json:"meta,omitempty"`
	Instance    []NVSet `json:"instance,omitempty"`
	Utilization []NVSet `json:"utilization,omitempty"`
	Operations  []Op    `json:"operations,omitempty"`
}

// Agent returns the agent in crm_mon's spelling, class:provider:type.
func (p Primitive) Agent() string {
	if p.Provider == "" {
		return p.Class + ":" + p.Type
	}
	return p.Class + ":" + p.Provider + ":" + p.Type
}

// Op is a configured operation of a primitive.
type Op struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Interval string  `json:"interval"`
	Timeout  string  `json:"timeout,omitempty"`
	Role     string  `json:"role,omitempty"`
	OnFail   string  `json:"on_fail,omitempty"`
	Meta     []NVSet `json:"meta,omitempty"`
	Instance []NVSet `json:"instance,omitempty"`
}

// Group is a configured group.
type Group struct {
	ID         string      `json:"id"`
	Meta       []NVSet     `json:"meta,omitempty"`
	Primitives []Primitive `json:"primitives,omitempty"`
}

// Clone is a configured clone. Promotable is set by the promotable meta
// attribute or by the deprecated <master> element, which the parser reads
// as a promotable clone.
type Clone struct {
	ID         string     `json:"id"`
	Promotable bool       `json:"promotable"`
	Meta       []NVSet    `json:"meta,omitempty"`
	Primitive  *Primitive `json:"primitive,omitempty"`
	Group      *Group     `json:"group,omitempty"`
}

// Constraints are the configured constraints.
type Constraints struct {
	Locations   []Location   `json:"locations,omitempty"`
	Colocations []Colocation `json:"colocations,omitempty"`
	Orders      []Order      `json:"orders,omitempty"`
}

// ResourceSet is a resource_set inside a constraint.
type ResourceSet struct {
	ID         string   `json:"id"`
	Sequential string   `json:"sequential,omitempty"`
	Role       string   `json:"role,omitempty"`
	Action     string   `json:"action,omitempty"`
	Resources  []string `json:"resources"`
}

// Location is an rsc_location constraint. Constraints left by
// `crm_resource --ban` and `--move` have ids starting with cli-ban- and
// cli-prefer-.
type Location struct {
	ID                string        `json:"id"`
	Rsc               string        `json:"rsc,omitempty"`
	RscPattern        string        `json:"rsc_pattern,omitempty"`
	Node              string        `json:"node,omitempty"`
	Score             string        `json:"score,omitempty"`
	Role              string        `json:"role,omitempty"`
	ResourceDiscovery string        `json:"resource_discovery,omitempty"`
	HasRule           bool          `json:"has_rule,omitempty"`
	Sets              []ResourceSet `json:"sets,omitempty"`
}

// Colocation is an rsc_colocation constraint.
type Colocation struct {
	ID          string        `json:"id"`
	Rsc         string        `json:"rsc,omitempty"`
	WithRsc     string        `json:"with_rsc,omitempty"`
	Score       string        `json:"score,omitempty"`
	RscRole     string        `json:"rsc_role,omitempty"`
	WithRscRole string        `json:"with_rsc_role,omitempty"`
	Sets        []ResourceSet `json:"sets,omitempty"`
}

// Order is an rsc_order constraint.
type Order struct {
	ID          string        `json:"id"`
	First       string        `json:"first,omitempty"`
	FirstAction string        `json:"first_action,omitempty"`
	Then        string        `json:"then,omitempty"`
	ThenAction  string        `json:"then_action,omitempty"`
	Kind        string        `json:"kind,omitempty"`
	Score       string        `json:"score,omitempty"`
	Symmetrical string        `json:"symmetrical,omitempty"`
	Sets        []ResourceSet `json:"sets,omitempty"`
}

// Alert is a configured alert agent and its recipients.
type Alert struct {
	ID          string      `json:"id"`
	Path        string      `json:"path"`
	Description string      `json:"description,omitempty"`
	Meta        []NVSet     `json:"meta,omitempty"`
	Instance    []NVSet     `json:"instance,omitempty"`
	Recipients  []Recipient `json:"recipients,omitempty"`
}

// Recipient is one recipient of an alert.
type Recipient struct {
	ID       string  `json:"id"`
	Value    string  `json:"value"`
	Meta     []NVSet `json:"meta,omitempty"`
	Instance []NVSet `json:"instance,omitempty"`
}

// NodeState is a node_state entry of the status section.
//
// Pacemaker 2.1.7 changed two attributes: in_ccm went from true/false to
// the epoch time the node joined the membership (0 when not a member), and
// crmd from online/offline to the epoch time the controller came up (0
// when down). Both forms decode to InCCM and Crmd; the *Since fields hold
// the time when the new form gives one.
type NodeState struct {
	ID    string `json:"id"`
	Uname string `json:"uname"`
	// InCCM is membership in the corosync layer.
	InCCM      bool  `json:"in_ccm"`
	InCCMSince int64 `json:"in_ccm_since,omitempty"`
	// Crmd is whether the node's controller is up in the process group.
	Crmd      bool  `json:"crmd"`
	CrmdSince int64 `json:"crmd_since,omitempty"`
	// Join is the controller join phase: member, pending, down, banned,
	// nack.
	Join string `json:"join,omitempty"`
	// Expected is the state the DC expects: member or down. A node that
	// leaves while expected is member was lost, not shut down.
	Expected       string        `json:"expected,omitempty"`
	CRMDebugOrigin string        `json:"crm_debug_origin,omitempty"`
	Remote         bool          `json:"remote,omitempty"`
	Resources      []LRMResource `json:"resources,omitempty"`
	// HasLRM: the node_state holds its lrm section (the operation
	// history). A member without one has its history being rewritten:
	// the DC deletes and rewrites every member's lrm in each join round
	// (a node joining or rejoining), so its Resources say nothing then.
	HasLRM bool `json:"has_lrm,omitempty"`
	// Attributes are the transient (reboot-lifetime) node attributes,
	// including promotion scores (master-<rsc>) and fail counts.
	Attributes []NVSet `json:"attributes,omitempty"`
}

// Online reports whether the node is a full member: in the membership,
// controller up and joined. This mirrors how the scheduler sees a node when
// fencing is enabled, without its timeouts.
func (n NodeState) Online() bool {
	return n.InCCM && n.Crmd && n.Join == "member"
}

// Attribute returns a transient node attribute.
func (n NodeState) Attribute(name string) (string, bool) {
	return LookupNV(n.Attributes, name)
}

// PromotionScore returns the promotion score that the instance of
// resource on this node published with crm_attribute --promotion. Pass the
// primitive's id for anonymous clones (as Pacemaker names the attribute),
// or id:N for an instance of a globally unique clone.
func (n NodeState) PromotionScore(resource string) (string, bool) {
	return n.Attribute(PromotionAttr(resource))
}

// PromotionAttr is the node attribute that carries resource's promotion
// score. The name keeps the historical master- prefix: it is what
// Pacemaker reads.
func PromotionAttr(resource string) string { return "master-" + resource }

// LRMResource is the operation history of one resource on one node.
type LRMResource struct {
	ID       string  `json:"id"`
	Class    string  `json:"class,omitempty"`
	Provider string  `json:"provider,omitempty"`
	Type     string  `json:"type,omitempty"`
	Ops      []LRMOp `json:"ops,omitempty"`
}

// LRMOp is one lrm_rsc_op: the last result of one operation. Ids end in
// _last_0 (the last non-recurring op), _last_failure_0 (the last failure),
// or _<task>_<interval> (a recurring monitor).
type LRMOp struct {
	ID           string `json:"id"`
	OperationKey string `json:"operation_key,omitempty"`
	Operation    string `json:"operation"`
	IntervalMs   int    `json:"interval_ms"`
	CallID       int    `json:"call_id"`
	// RCCode is the agent's exit code; OpStatus the executor's status
	// (-1 pending, 0 done, 1 cancelled, 2 timed out, 3 unsupported,
	// 4 error, ...).
	RCCode   int `json:"rc_code"`
	OpStatus int `json:"op_status"`
	// ExpectedRC is the rc the controller expected, from the
	// transition key; -1 if the key is missing or malformed.
	ExpectedRC    int    `json:"expected_rc"`
	LastRCChange  int64  `json:"last_rc_change,omitempty"`
	ExecTimeMs    int    `json:"exec_time_ms"`
	QueueTimeMs   int    `json:"queue_time_ms"`
	ExitReason    string `json:"exit_reason,omitempty"`
	OnNode        string `json:"on_node,omitempty"`
	TransitionKey string `json:"transition_key,omitempty"`
	OpDigest      string `json:"op_digest,omitempty"`
	// MigrateSource and MigrateTarget name the nodes of a live
	// migration, on migrate_to and migrate_from.
	MigrateSource string `json:"migrate_source,omitempty"`
	MigrateTarget string `json:"migrate_target,omitempty"`
}

// Failed reports whether the operation did not end as the controller
// expected: the executor reported an error, or the agent returned an rc
// other than the expected one.
func (o LRMOp) Failed() bool {
	switch o.OpStatus {
	case 0: // done: compare the rc
		return o.ExpectedRC >= 0 && o.RCCode != o.ExpectedRC
	case 1, -1, -2: // cancelled, pending, unknown
		return false
	}
	return true
}
