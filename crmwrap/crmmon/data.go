package crmmon

import "github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"

// Status is the cluster status computed by crm_mon (the <pacemaker-result>
// of `crm_mon --output-as=xml`, api-version 2.x). Sections that crm_mon left
// out are empty.
type Status struct {
	// APIVersion is the XML API version crm_mon wrote (2.25 for 2.1.5).
	APIVersion string `json:"api_version"`
	// PacemakerdState is the state of the local pacemakerd (running,
	// shutting_down, ...), reported by crm_mon against a live cluster.
	PacemakerdState string           `json:"pacemakerd_state,omitempty"`
	Summary         Summary          `json:"summary"`
	Nodes           []Node           `json:"nodes"`
	Resources       Resources        `json:"resources"`
	NodeAttributes  []NodeAttributes `json:"node_attributes,omitempty"`
	NodeHistory     []NodeHistory    `json:"node_history,omitempty"`
	Failures        []Failure        `json:"failures,omitempty"`
	FenceHistory    []FenceEvent     `json:"fence_history,omitempty"`
	Tickets         []Ticket         `json:"tickets,omitempty"`
	Bans            []Ban            `json:"bans,omitempty"`
	Result          Result           `json:"result"`
}

// Summary is crm_mon's <summary>: the cluster-wide facts.
type Summary struct {
	Stack string `json:"stack"`
	// DCPresent is false while no node is the designated controller, for
	// example during an election or before the cluster formed.
	DCPresent bool   `json:"dc_present"`
	DCName    string `json:"dc_name,omitempty"`
	DCID      string `json:"dc_id,omitempty"`
	DCVersion string `json:"dc_version,omitempty"`
	// WithQuorum is the DC's view of quorum; it is only meaningful while
	// DCPresent is true.
	WithQuorum          bool           `json:"with_quorum"`
	MixedVersion        bool           `json:"mixed_version,omitempty"`
	LastUpdate          string         `json:"last_update,omitempty"`
	LastChange          LastChange     `json:"last_change"`
	NodesConfigured     int            `json:"nodes_configured"`
	ResourcesConfigured int            `json:"resources_configured"`
	ResourcesDisabled   int            `json:"resources_disabled"`
	ResourcesBlocked    int            `json:"resources_blocked"`
	Options             ClusterOptions `json:"cluster_options"`
}

// LastChange says when and by whom the CIB was last changed.
type LastChange struct {
	Time   string `json:"time,omitempty"`
	User   string `json:"user,omitempty"`
	Client string `json:"client,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// ClusterOptions are the cluster options crm_mon reports in its summary.
type ClusterOptions struct {
	StonithEnabled         bool   `json:"stonith_enabled"`
	SymmetricCluster       bool   `json:"symmetric_cluster"`
	NoQuorumPolicy         string `json:"no_quorum_policy"`
	MaintenanceMode        bool   `json:"maintenance_mode"`
	StopAllResources       bool   `json:"stop_all_resources"`
	StonithTimeoutMs       int    `json:"stonith_timeout_ms"`
	PriorityFencingDelayMs int    `json:"priority_fencing_delay_ms"`
}

// Node is one cluster node as crm_mon sees it.
type Node struct {
	Name          string `json:"name"`
	ID            string `json:"id"`
	Online        bool   `json:"online"`
	Standby       bool   `json:"standby"`
	StandbyOnFail bool   `json:"standby_onfail"`
	Maintenance   bool   `json:"maintenance"`
	Pending       bool   `json:"pending"`
	// Unclean means the node's state is unknown and it must be fenced
	// before its resources can run elsewhere.
	Unclean          bool   `json:"unclean"`
	Health           string `json:"health,omitempty"`
	FeatureSet       string `json:"feature_set,omitempty"`
	Shutdown         bool   `json:"shutdown"`
	ExpectedUp       bool   `json:"expected_up"`
	IsDC             bool   `json:"is_dc"`
	ResourcesRunning int    `json:"resources_running"`
	// Type is member, remote, ping or unknown.
	Type string `json:"type"`
	// IDAsResource names the resource behind a guest or remote node.
	IDAsResource string `json:"id_as_resource,omitempty"`
	// Resources is filled only by `crm_mon --group-by-node`.
	Resources *Resources `json:"resources,omitempty"`
}

// Resources is a list of resources, top-level or inside a clone, group or
// bundle. crm_mon interleaves the kinds; the order inside each kind is
// crm_mon's.
type Resources struct {
	Primitives []Primitive `json:"primitives,omitempty"`
	Groups     []Group     `json:"groups,omitempty"`
	Clones     []Clone     `json:"clones,omitempty"`
	Bundles    []Bundle    `json:"bundles,omitempty"`
}

// Primitive is one primitive resource, or one instance of a cloned one
// (crm_mon repeats the primitive's id for each instance of an anonymous
// clone).
type Primitive struct {
	ID    string `json:"id"`
	Agent string `json:"agent"`
	// Role is Started, Stopped, Promoted, Unpromoted, Starting, ...
	Role           string `json:"role"`
	TargetRole     string `json:"target_role,omitempty"`
	Active         bool   `json:"active"`
	Orphaned       bool   `json:"orphaned"`
	Blocked        bool   `json:"blocked"`
	Managed        bool   `json:"managed"`
	Failed         bool   `json:"failed"`
	FailureIgnored bool   `json:"failure_ignored"`
	NodesRunningOn int    `json:"nodes_running_on"`
	// Pending names an operation in flight, such as "Starting".
	Pending  string         `json:"pending,omitempty"`
	LockedTo string         `json:"locked_to,omitempty"`
	Nodes    []ResourceNode `json:"nodes,omitempty"`
}

// ResourceNode is a node a primitive is active on. Cached means the
// location comes from the last known status rather than a current report.
type ResourceNode struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	Cached bool   `json:"cached"`
}

// Group is a resource group: members start in order on one node.
type Group struct {
	ID              string      `json:"id"`
	NumberResources int         `json:"number_resources"`
	Managed         bool        `json:"managed"`
	Disabled        bool        `json:"disabled"`
	Primitives      []Primitive `json:"primitives"`
}

// Clone is a clone; Promotable (multi_state in the XML) marks a promotable
// clone, whose instances have the roles Promoted and Unpromoted.
type Clone struct {
	ID             string    `json:"id"`
	Promotable     bool      `json:"promotable"`
	Unique         bool      `json:"unique"`
	Managed        bool      `json:"managed"`
	Disabled       bool      `json:"disabled"`
	Failed         bool      `json:"failed"`
	FailureIgnored bool      `json:"failure_ignored"`
	TargetRole     string    `json:"target_role,omitempty"`
	Resources      Resources `json:"resources"`
}

// Bundle is a container bundle and its replicas.
type Bundle struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Image    string    `json:"image"`
	Unique   bool      `json:"unique"`
	Managed  bool      `json:"managed"`
	Failed   bool      `json:"failed"`
	Replicas []Replica `json:"replicas,omitempty"`
}

// Replica is one replica of a bundle.
type Replica struct {
	ID         string      `json:"id"`
	Primitives []Primitive `json:"primitives,omitempty"`
}

// NodeAttributes are the node attributes crm_mon shows for one node.
type NodeAttributes struct {
	Node       string          `json:"node"`
	Attributes []NodeAttribute `json:"attributes,omitempty"`
}

// NodeAttribute is one node attribute. Expected is set by crm_mon for
// attributes with an expected value, such as ping's connectivity.
type NodeAttribute struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Expected string `json:"expected,omitempty"`
}

// NodeHistory is the operation history crm_mon shows for one node.
type NodeHistory struct {
	Node      string            `json:"node"`
	Resources []ResourceHistory `json:"resources,omitempty"`
}

// ResourceHistory is the history of one resource on one node.
type ResourceHistory struct {
	ID                 string             `json:"id"`
	Orphan             bool               `json:"orphan"`
	MigrationThreshold int                `json:"migration_threshold,omitempty"`
	FailCount          string             `json:"fail_count,omitempty"`
	LastFailure        string             `json:"last_failure,omitempty"`
	Operations         []OperationHistory `json:"operations,omitempty"`
}

// OperationHistory is one recorded operation. Times are kept as crm_mon
// prints them ("10000ms", dates in local time).
type OperationHistory struct {
	Call         string `json:"call"`
	Task         string `json:"task"`
	Interval     string `json:"interval,omitempty"`
	LastRCChange string `json:"last_rc_change,omitempty"`
	LastRun      string `json:"last_run,omitempty"`
	ExecTime     string `json:"exec_time,omitempty"`
	QueueTime    string `json:"queue_time,omitempty"`
	RC           int    `json:"rc"`
	RCText       string `json:"rc_text"`
}

// Failure is one failed operation from crm_mon's <failures>.
type Failure struct {
	// OpKey is like "vip_monitor_10000"; older crm_mon wrote it as id.
	OpKey      string `json:"op_key"`
	Node       string `json:"node"`
	ExitStatus string `json:"exitstatus"`
	ExitReason string `json:"exitreason"`
	ExitCode   int    `json:"exitcode"`
	Call       int    `json:"call"`
	// Status is the execution status, such as "complete" or "Timed Out".
	Status       string `json:"status"`
	LastRCChange string `json:"last_rc_change,omitempty"`
	QueuedMs     int    `json:"queued_ms"`
	ExecMs       int    `json:"exec_ms"`
	IntervalMs   int    `json:"interval_ms"`
	Task         string `json:"task,omitempty"`
}

// Fence event statuses.
const (
	FenceSuccess = "success"
	FenceFailed  = "failed"
	FencePending = "pending"
)

// FenceEvent is one entry of the fencer's history.
type FenceEvent struct {
	Target string `json:"target"`
	Action string `json:"action"`
	// Delegate is the node that ran the fence device, if known.
	Delegate string `json:"delegate,omitempty"`
	Client   string `json:"client"`
	Origin   string `json:"origin"`
	// Status is FenceSuccess, FenceFailed or FencePending.
	Status         string `json:"status"`
	ExtendedStatus string `json:"extended_status,omitempty"`
	ExitReason     string `json:"exit_reason,omitempty"`
	Completed      string `json:"completed,omitempty"`
}

// Ticket is a cluster ticket (multi-site clusters).
type Ticket struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Standby     bool   `json:"standby"`
	LastGranted string `json:"last_granted,omitempty"`
}

// Ban is a negative location constraint, typically left by
// `crm_resource --ban` or `--move`.
type Ban struct {
	ID           string `json:"id"`
	Resource     string `json:"resource"`
	Node         string `json:"node"`
	Weight       int    `json:"weight"`
	PromotedOnly bool   `json:"promoted_only"`
}

// Result is the <status> element that ends crm_mon's XML: crm_mon's exit
// code, its message, and what it would have printed on stderr. It is the
// same type as crmwrap.Result.
type Result = pcmkxml.Result

// Instance is one primitive instance, flattened out of the resource tree
// with the ids of the group and clone that hold it.
type Instance struct {
	Primitive
	// Group is the id of the enclosing group, if any.
	Group string `json:"group,omitempty"`
	// Clone is the id of the enclosing clone, if any.
	Clone string `json:"clone,omitempty"`
	// Promotable is true for instances of a promotable clone.
	Promotable bool `json:"promotable,omitempty"`
	// Bundle is the id of the enclosing bundle, if any.
	Bundle string `json:"bundle,omitempty"`
}
