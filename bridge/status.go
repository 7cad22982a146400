package bridge

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/vnfm"
)

// Status is the body of GET /v1/status: the view, each HAProxy's pools as
// it last reported them, and the last error on each side. It holds no
// secret: the config's addresses only.
type Status struct {
	Cluster  string     `json:"cluster,omitempty"`
	View     *View      `json:"view"`
	CIBError string     `json:"cib_error,omitempty"`
	CIBErrAt time.Time  `json:"cib_error_at,omitzero"`
	HAProxy  []LBStatus `json:"haproxy"`
	// Deliveries are each sink's counters; Heals the Heal sink's, with
	// the operations it follows now. Absent without sinks.
	Deliveries map[string]delivery.SinkStats `json:"deliveries,omitempty"`
	Heal       *HealStatus                   `json:"heal,omitempty"`
	// Events says whether the store takes the events derived.
	Events *EventsStatus `json:"events,omitempty"`
}

// HealStatus is the Heal sink in the status: its counters and the Heals
// whose LCM operation occurrence it follows now.
type HealStatus struct {
	Stats     vnfm.Stats    `json:"stats"`
	Following []vnfm.Follow `json:"following"`
}

// Status returns the bridge's state now.
func (b *Bridge) Status() Status {
	b.mu.Lock()
	s := Status{Cluster: b.cfg.Cluster, View: b.view, CIBError: b.cibErr, CIBErrAt: b.cibErrAt}
	b.mu.Unlock()
	for _, w := range b.lbs {
		s.HAProxy = append(s.HAProxy, w.snapshot())
	}
	if b.queue != nil {
		s.Deliveries = b.queue.Stats()
		es := b.notifier.status()
		s.Events = &es
	}
	if b.sinks != nil && b.sinks.VNFM != nil {
		s.Heal = &HealStatus{Stats: b.sinks.VNFM.Stats(), Following: b.sinks.VNFM.Following()}
	}
	return s
}

func (b *Bridge) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(b.Status())
}
