package bridge

import (
	"encoding/json"
	"net/http"
	"time"
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
}

// Status returns the bridge's state now.
func (b *Bridge) Status() Status {
	b.mu.Lock()
	s := Status{Cluster: b.cfg.Cluster, View: b.view, CIBError: b.cibErr, CIBErrAt: b.cibErrAt}
	b.mu.Unlock()
	for _, w := range b.lbs {
		s.HAProxy = append(s.HAProxy, w.snapshot())
	}
	return s
}

func (b *Bridge) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(b.Status())
}
