package bridge

import (
	"sync"
	"time"
)

// Event is one fact the bridge observed, published to every sink: the log
// today, the VNFM and webhooks next (one stream, several sinks).
type Event struct {
	// Type is a dotted name: lb.backend_down, lb.backend_up,
	// instance.changed, pool.changed.
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Cluster  string    `json:"cluster,omitempty"`
	Service  string    `json:"service,omitempty"`
	Resource string    `json:"resource,omitempty"`
	Node     string    `json:"node,omitempty"`
	HAProxy  string    `json:"haproxy,omitempty"`
	Backend  string    `json:"backend,omitempty"`
	Server   string    `json:"server,omitempty"`
	// Managed says whether the server is one of the bridge's.
	Managed bool `json:"managed,omitempty"`
	// From and To are the states on either side of the change.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Ref is HAProxy's own record of an lb event's change: the worker's
	// pid, the server's count of UP → DOWN transitions and the time of
	// the change, so that the event's delivery id is made of the fact.
	Ref string `json:"ref,omitempty"`
	// Changed is when HAProxy says the server's status changed (to the
	// second); zero when it did not say.
	Changed time.Time `json:"changed,omitzero"`
}

// Sink takes events. Publish must not block: a sink that does slow work
// queues it itself, so that one slow receiver never delays the pools.
type Sink interface {
	Publish(Event)
}

// Bus fans events out to sinks.
type Bus struct {
	mu    sync.RWMutex
	sinks []Sink
}

// Attach adds a sink.
func (b *Bus) Attach(s Sink) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sinks = append(b.sinks, s)
}

// Publish gives e to every sink.
func (b *Bus) Publish(e Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.sinks {
		s.Publish(e)
	}
}

// SinkFunc makes a function a Sink.
type SinkFunc func(Event)

// Publish calls f.
func (f SinkFunc) Publish(e Event) { f(e) }
