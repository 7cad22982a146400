package cluster

import (
	"sync"
	"time"
)

// Metrics is told what the source does, so that the bridge can count it
// (its Prometheus metrics implement this). Every method is called from
// Run's goroutine only, never concurrently, and must return at once.
type Metrics interface {
	// Notified: a notification of type kind (cib_diff_notify,
	// cib_refresh_notify) arrived; kind is "malformed" for one that
	// could not be read (it is a trigger all the same).
	Notified(kind string)
	// Queried: a full read via "ipc" or "fallback" took d, and failed
	// with err unless it is nil.
	Queried(via string, d time.Duration, err error)
	// Connected: a connection to the CIB manager was made and subscribed;
	// every call after the first is a reconnect.
	Connected()
	// Failed: an error of the given kind: "connect" (no connection or
	// subscription), "connection" (an established one lost), "notification"
	// (malformed), "query" (an IPC read that failed: no answer, or a
	// malformed one), "fallback" (the fallback read failed), "diff" (a
	// notified diff not applied: the CIB is read whole instead).
	Failed(kind string)
	// Published: a snapshot was published, latency after its trigger.
	Published(reason string, latency time.Duration)
}

// nopMetrics counts nothing.
type nopMetrics struct{}

func (nopMetrics) Notified(string)                      {}
func (nopMetrics) Queried(string, time.Duration, error) {}
func (nopMetrics) Connected()                           {}
func (nopMetrics) Failed(string)                        {}
func (nopMetrics) Published(string, time.Duration)      {}

// Counters is a Metrics that keeps counts in memory, for tests and for the
// watch command's summary. It is safe to read while Run writes.
type Counters struct {
	mu            sync.Mutex
	notifications map[string]int
	queries       map[string]int
	queryErrors   map[string]int
	connects      int
	failures      map[string]int
	published     map[string]int
	latencies     []time.Duration
}

// Notified implements Metrics.
func (c *Counters) Notified(kind string) { c.add(&c.notifications, kind) }

// Queried implements Metrics.
func (c *Counters) Queried(via string, _ time.Duration, err error) {
	c.add(&c.queries, via)
	if err != nil {
		c.add(&c.queryErrors, via)
	}
}

// Connected implements Metrics.
func (c *Counters) Connected() {
	c.mu.Lock()
	c.connects++
	c.mu.Unlock()
}

// Failed implements Metrics.
func (c *Counters) Failed(kind string) { c.add(&c.failures, kind) }

// Published implements Metrics.
func (c *Counters) Published(reason string, latency time.Duration) {
	c.add(&c.published, reason)
	c.mu.Lock()
	c.latencies = append(c.latencies, latency)
	c.mu.Unlock()
}

func (c *Counters) add(m *map[string]int, k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[k]++
}

// CounterSnapshot is a copy of Counters' counts.
type CounterSnapshot struct {
	Notifications map[string]int `json:"notifications"`
	Queries       map[string]int `json:"queries"`
	QueryErrors   map[string]int `json:"query_errors"`
	Connects      int            `json:"connects"`
	Failures      map[string]int `json:"failures"`
	Published     map[string]int `json:"published"`
}

// Snapshot copies the counts.
func (c *Counters) Snapshot() CounterSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return CounterSnapshot{
		Notifications: cp(c.notifications), Queries: cp(c.queries), QueryErrors: cp(c.queryErrors),
		Connects: c.connects, Failures: cp(c.failures), Published: cp(c.published),
	}
}
