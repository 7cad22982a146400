// Package delivery holds what the bridge tells the world outside the
// cluster and the load balancers (the VNFM, webhooks): the event as it is
// delivered, with an id that stays the same for the same fact, the Sink
// interface each destination implements, and the classification of a
// failed attempt that decides whether it is tried again.
package delivery

import "time"

// Event types, as the bridge names them (a CloudEvent's type is the same
// with a reverse-DNS prefix: the webhook sink adds it).
const (
	VNFCFailed        = "vnfc.failed"        // an operation failure recorded in the CIB
	VNFCRecovered     = "vnfc.recovered"     // the failed instance runs again, wherever
	VNFCLost          = "vnfc.lost"          // its node was lost or fenced
	VNFCUnrecoverable = "vnfc.unrecoverable" // Pacemaker's own recovery gave up
	LBBackendDown     = "lb.backend_down"    // HAProxy's checks: a server went down
	LBBackendUp       = "lb.backend_up"      // HAProxy's checks: a server came up
)

// Types are every event type, in the order above: what a sink's filter
// may name.
var Types = []string{VNFCFailed, VNFCRecovered, VNFCLost, VNFCUnrecoverable, LBBackendDown, LBBackendUp}

// Event is one fact, as every sink receives it.
type Event struct {
	// ID is derived from the fact itself (cluster, resource, node and the
	// failed operation's call id and rc-change time, or the node's
	// fencing record), so that the same fact always has the same id: a
	// delivery repeated after a retry or a failover of the bridge carries
	// the id of the first, and a receiver drops repeats by it. Never empty.
	ID string
	// Type is one of the constants above.
	Type string
	// Source names the cluster as a URI reference, e.g.
	// "/vnfha/clusters/prod1". Source and ID together are unique.
	Source string
	// Subject is the instance, "resource:node", or for an lb event
	// "haproxy/backend/server".
	Subject string
	// Time is when the fact happened, as the cluster or HAProxy recorded
	// it, not when it is sent.
	Time time.Time
	Data Data
}

// Data is an event's payload: the JSON object a webhook carries as the
// CloudEvent's data, and what a Heal is made from.
type Data struct {
	Cluster  string `json:"cluster"`
	Service  string `json:"service,omitempty"`
	Resource string `json:"resource,omitempty"`
	Node     string `json:"node,omitempty"`
	// VNFInstanceID and VNFCInstanceID are the VNFM's ids of the VNF and
	// of this VNFC (Tacker's vnfcInfo[].id), from the config or the
	// resource's attributes in the CIB; empty when unknown. A Heal is
	// never sent without VNFCInstanceID: an empty list heals every VNFC
	// of the VNF.
	VNFInstanceID  string `json:"vnfInstanceId,omitempty"`
	VNFCInstanceID string `json:"vnfcInstanceId,omitempty"`
	// Operation and RC are the failed operation (monitor, start, ...) and
	// its OCF exit code; Reason is its exit reason, or why the bridge
	// concluded what the type says.
	Operation string `json:"operation,omitempty"`
	RC        *int   `json:"rc,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// HAProxy, Backend, Server, Managed, From and To describe an lb
	// event: Managed says whether Pacemaker runs the server (one of the
	// bridge's), From and To are HAProxy's check states.
	HAProxy string `json:"haproxy,omitempty"`
	Backend string `json:"backend,omitempty"`
	Server  string `json:"server,omitempty"`
	Managed *bool  `json:"managed,omitempty"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
}
