package bridge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the bridge's Prometheus metrics, on a registry of their own
// so that a test can run several bridges in one process.
type metrics struct {
	reg *prometheus.Registry

	snapshots      *prometheus.CounterVec   // reason
	cibErrors      *prometheus.CounterVec   // kind
	notifications  *prometheus.CounterVec   // kind
	cibReads       *prometheus.HistogramVec // via
	cibConnects    prometheus.Counter
	viewLatency    prometheus.Histogram     // trigger received → view built
	reconciles     *prometheus.CounterVec   // haproxy, result
	reconcileTime  *prometheus.HistogramVec // haproxy
	commands       *prometheus.CounterVec   // haproxy, action
	commandErrors  *prometheus.CounterVec   // haproxy
	reloads        *prometheus.CounterVec   // haproxy
	servers        *prometheus.GaugeVec     // haproxy, backend, state
	events         *prometheus.CounterVec   // type
	instanceErrors prometheus.Gauge
}

// latencyBuckets span a fast reconcile (a few hundred µs) to a timeout.
var latencyBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_cib_snapshots_total",
		Help: "Full CIB reads the view was rebuilt from, by trigger (subscribe, notify, reconnect, resync, fallback).",
	}, []string{"reason"})
	m.cibErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_cib_errors_total",
		Help: "Errors following the CIB, by kind.",
	}, []string{"kind"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_cib_notifications_total",
		Help: "Notifications the CIB manager pushed, by type (cib_diff_notify, cib_refresh_notify, malformed).",
	}, []string{"kind"})
	m.cibReads = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vnfha_bridge_cib_read_seconds",
		Help:    "Duration of one full CIB read, by path (ipc, fallback).",
		Buckets: latencyBuckets,
	}, []string{"via"})
	m.cibConnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vnfha_bridge_cib_connects_total",
		Help: "Connections made and subscribed to the CIB manager; every one after the first is a reconnect.",
	})
	m.viewLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vnfha_bridge_view_seconds",
		Help:    "From a CIB trigger's arrival to the view built from the full CIB.",
		Buckets: latencyBuckets,
	})
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_reconciles_total",
		Help: "Reconciles of an HAProxy's pools, by result (ok, error).",
	}, []string{"haproxy", "result"})
	m.reconcileTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vnfha_bridge_reconcile_seconds",
		Help:    "Duration of one reconcile of an HAProxy: read its state, issue the changes.",
		Buckets: latencyBuckets,
	}, []string{"haproxy"})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_haproxy_commands_total",
		Help: "Changes issued to an HAProxy, by action.",
	}, []string{"haproxy", "action"})
	m.commandErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_haproxy_errors_total",
		Help: "Errors talking to an HAProxy (connection, reply, refused command).",
	}, []string{"haproxy"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_haproxy_reloads_total",
		Help: "Reloads or restarts of an HAProxy the bridge detected (and restored the pool after).",
	}, []string{"haproxy"})
	m.servers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vnfha_bridge_servers",
		Help: "Servers of the configured backends as HAProxy last reported them, by state (UP, DOWN, MAINT, DRAIN, ...) and by whether the bridge manages them.",
	}, []string{"haproxy", "backend", "state", "managed"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vnfha_bridge_events_total",
		Help: "Events published, by type.",
	}, []string{"type"})
	m.instanceErrors = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vnfha_bridge_instance_errors",
		Help: "Instances left out of every pool because of an error (a node without a service address, for example).",
	})
	for _, c := range []prometheus.Collector{m.snapshots, m.cibErrors, m.notifications, m.cibReads, m.cibConnects, m.viewLatency, m.reconciles, m.reconcileTime,
		m.commands, m.commandErrors, m.reloads, m.servers, m.events, m.instanceErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// The bridge's metrics count what bridge/cluster does (cluster.Metrics).
func (m *metrics) Notified(kind string) { m.notifications.WithLabelValues(kind).Inc() }

func (m *metrics) Queried(via string, d time.Duration, err error) {
	m.cibReads.WithLabelValues(via).Observe(d.Seconds())
}

func (m *metrics) Connected() { m.cibConnects.Inc() }

func (m *metrics) Failed(kind string) { m.cibErrors.WithLabelValues(kind).Inc() }

// Published is counted by the bridge itself when it takes the snapshot.
func (m *metrics) Published(string, time.Duration) {}

// deliveryCollector reads the queue's and the Heal sink's counters at each
// scrape, so that they are counted in one place only.
type deliveryCollector struct{ b *Bridge }

var (
	descDelivered = prometheus.NewDesc("vnfha_bridge_deliveries_total",
		"Events a sink took (delivered), gave up on for good (failed), or tried again after a transient failure (retried) or a 409 another-operation answer (blocked), by sink and outcome.",
		[]string{"sink", "outcome"}, nil)
	descPending = prometheus.NewDesc("vnfha_bridge_deliveries_pending",
		"Events a sink still has to get.", []string{"sink"}, nil)
	descHealOps = prometheus.NewDesc("vnfha_bridge_heal_operations_total",
		"Accepted Heals whose LCM operation occurrence was followed to an end, by end (COMPLETED, FAILED, ROLLED_BACK, FAILED_TEMP, timeout, lost, no_location, closed).",
		[]string{"sink", "end"}, nil)
	descHealSkipped = prometheus.NewDesc("vnfha_bridge_heal_skipped_total",
		"Events the Heal policy wanted that named no VNF or VNFC instance id: never sent, as a Heal without vnfcInstanceId heals every VNFC.",
		[]string{"sink"}, nil)
	descStoreErrors = prometheus.NewDesc("vnfha_bridge_event_store_errors_total",
		"Events the store in the CIB refused (no quorum, full, an attribute not the bridge's); each is offered again.", nil, nil)
	descHealFollowing = prometheus.NewDesc("vnfha_bridge_heal_following",
		"Accepted Heals whose operation is being followed now.", []string{"sink"}, nil)
)

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDelivered, descPending, descHealOps, descHealSkipped, descHealFollowing, descStoreErrors} {
		ch <- d
	}
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descStoreErrors, prometheus.CounterValue, float64(c.b.notifier.status().StoreErrors))
	for name, st := range c.b.queue.Stats() {
		for outcome, n := range map[string]int{"delivered": st.Delivered, "failed": st.Failed, "retried": st.Retried, "blocked": st.Blocked} {
			ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(n), name, outcome)
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending), name)
	}
	if c.b.sinks == nil || c.b.sinks.VNFM == nil {
		return
	}
	name := c.b.sinks.VNFM.Name()
	hs := c.b.sinks.VNFM.Stats()
	for end, n := range hs.Operations {
		ch <- prometheus.MustNewConstMetric(descHealOps, prometheus.CounterValue, float64(n), name, end)
	}
	ch <- prometheus.MustNewConstMetric(descHealSkipped, prometheus.CounterValue, float64(hs.Skipped), name)
	ch <- prometheus.MustNewConstMetric(descHealFollowing, prometheus.GaugeValue, float64(hs.Following), name)
}
