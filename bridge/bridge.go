// Package bridge is `vnfha bridge`: it follows the cluster's state as the
// CIB manager pushes it and keeps every configured HAProxy pool equal to
// the healthy instances of the configured resources.
//
// Data flows one way: CIB snapshot (bridge/cluster) → facts → view → the
// desired pool of each HAProxy → one reconcile loop per HAProxy
// (bridge/haproxy) → events to the sinks. Every step is level-triggered:
// a notification only wakes the next step, which recomputes from the whole
// of its input, so a lost notification, a restarted CIB manager or a
// restarted bridge costs at most one resync interval.
//
// The bridge never writes what Pacemaker schedules on. It keeps nothing
// of its own that matters: a bridge started on another node builds the
// same view from the same CIB and HAProxy state.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/cluster"
	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/haproxy"
	"github.com/vnfha/vnfha/crmwrap/cib"
)

// Source is where CIB snapshots come from: bridge/cluster in production.
type Source interface {
	Run(ctx context.Context) error
	Snapshots() <-chan cluster.Snapshot
}

// Bridge is one running bridge.
type Bridge struct {
	cfg     *Config
	log     logrus.FieldLogger
	src     Source
	m       *metrics
	planner *Planner // used by the Run loop only
	Bus     Bus

	lbs []*lbWorker

	// The deliveries of events to webhooks and the VNFM: all nil when
	// the config names no sink.
	sinks    *Sinks
	queue    *delivery.Queue
	notifier *notifier

	mu       sync.Mutex
	view     *View
	owners   map[string]serverOwner
	cibErr   string
	cibErrAt time.Time

	// rewriting is when the CIB began to show a node whose history the
	// DC is rewriting (zero when none); only Run's goroutine (apply)
	// touches it.
	rewriting time.Time
}

// Options are the seams a test replaces.
type Options struct {
	Log    logrus.FieldLogger
	Source Source
	// Pools, by HAProxy name, replace the pools New would make from the
	// config's admin addresses.
	Pools map[string]reconciler
	// Store replaces the store in the CIB that New would make for the
	// deliveries; Sinks, when set, replace the config's sinks.
	Store EventStore
	Sinks []delivery.Sink
	// Cluster replaces the Pacemaker tools the notifier runs (the
	// fencing history, the vnfha-ran records).
	Cluster ClusterTools
}

// New builds a bridge from a checked config.
func New(cfg *Config, o Options) (*Bridge, error) {
	b := &Bridge{cfg: cfg, log: o.Log, src: o.Source, m: newMetrics(), planner: NewPlanner(cfg)}
	if b.log == nil {
		b.log = logrus.StandardLogger()
	}
	if b.src == nil {
		b.src = cluster.New(cluster.Options{Resync: cfg.Resync.Duration, Log: b.log, Metrics: b.m})
	}
	b.Bus.Attach(SinkFunc(func(e Event) { b.m.events.WithLabelValues(e.Type).Inc() }))
	if err := b.setUpDelivery(o); err != nil {
		return nil, err
	}
	for _, h := range cfg.HAProxy {
		var pool reconciler
		if p, ok := o.Pools[h.Name]; ok {
			pool = p
		} else {
			c, err := haproxy.NewClient(h.Admin)
			if err != nil {
				return nil, fmt.Errorf("haproxy %s: %w", h.Name, err)
			}
			pool = haproxy.NewPool(c, haproxy.PoolOptions{})
		}
		b.lbs = append(b.lbs, &lbWorker{
			cfg: h, pool: pool, resync: cfg.Resync.Duration, m: b.m, bus: &b.Bus,
			log: b.log, names: b.serverOwners, wake: make(chan struct{}, 1),
			status: LBStatus{Name: h.Name, Admin: h.Admin},
		})
	}
	return b, nil
}

// Run follows the cluster and drives the pools until ctx ends, or until
// an error ends it (the status address is taken, the CIB source gives
// up). Either way every goroutine it started has ended when it returns.
func (b *Bridge) Run(ctx context.Context) error {
	// Listen first: a taken address is a configuration error, reported
	// before anything else has started.
	var ln net.Listener
	if *b.cfg.Listen != "" {
		var err error
		if ln, err = net.Listen("tcp", *b.cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", *b.cfg.Listen, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// cancel before Wait: the goroutines end only when told to, whatever
	// the reason Run returns.
	defer func() {
		cancel()
		wg.Wait()
		if b.sinks != nil {
			b.sinks.Close()
		}
	}()
	srcErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		srcErr <- b.src.Run(ctx)
	}()
	for _, w := range b.lbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	if b.notifier != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.notifier.run(ctx)
		}()
	}
	if ln != nil {
		srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.log.WithError(err).Error("status server stopped")
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			srv.Close()
		}()
		b.log.WithField("listen", ln.Addr().String()).Info("serving /metrics and /v1/status")
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-srcErr:
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("the source stopped")
			}
			return fmt.Errorf("following the CIB: %w", err)
		case s := <-b.src.Snapshots():
			b.apply(s)
		}
	}
}

// apply rebuilds the view from one full CIB and hands each HAProxy its
// desired pools. A CIB that does not parse changes nothing: a pool is
// never built from half a read.
func (b *Bridge) apply(s cluster.Snapshot) {
	b.m.snapshots.WithLabelValues(s.Reason).Inc()
	start := time.Now()
	facts, err := b.planner.facts(s.XML)
	if err != nil {
		b.m.cibErrors.WithLabelValues("parse").Inc()
		b.mu.Lock()
		b.cibErr, b.cibErrAt = err.Error(), time.Now()
		b.mu.Unlock()
		b.log.WithError(err).WithField("reason", s.Reason).Warn("CIB snapshot not usable; keeping the previous view")
		return
	}
	if b.historyRewritten(facts, s.Reason) {
		return
	}
	v, desired := b.planner.build(facts, start)
	if !s.Received.IsZero() {
		b.m.viewLatency.Observe(time.Since(s.Received).Seconds())
	}
	// The steps of a failure's way to HAProxy, each with its own stamp.
	b.log.WithFields(logrus.Fields{"reason": s.Reason, "version": s.Version.String(),
		"plan": time.Since(start).String(), "since_trigger": sinceTrigger(s.Received)}).Debug("view built")
	owners := map[string]serverOwner{}
	errs := 0
	for _, sv := range v.Services {
		for _, in := range sv.Instances {
			owners[in.Server] = serverOwner{Service: sv.Name, Resource: in.ID, Node: in.Node}
			// An instance kept while its history is re-read has no
			// server to lose: a node without an address there is
			// usually one the resource never runs on.
			if in.Err != "" && in.Want != Keep {
				errs++
			}
		}
	}
	b.m.instanceErrors.Set(float64(errs))
	b.mu.Lock()
	old := b.view
	b.view, b.owners, b.cibErr = v, owners, ""
	b.mu.Unlock()
	b.publishChanges(old, v)
	for _, w := range b.lbs {
		w.set(desired[w.cfg.Name])
	}
	if b.notifier != nil {
		b.notifier.setFacts(facts)
	}
}

// Planner is what the bridge makes of each whole CIB before its
// reconcile loops run: the document parsed, the view built by the pool
// rules, and the desired pools of every configured HAProxy. It is the
// bridge's whole CPU path per snapshot, exported so that the benchmarks
// (test/bench) time exactly what Run does. It remembers the previous
// document, so that what did not change in it (the configuration, the
// status of every node but the one that changed) is not parsed again
// (cib.Reparser); every snapshot is still read whole, and the view is
// built from all of it.
type Planner struct {
	cfg *Config
	rp  cib.Reparser
}

// NewPlanner returns a Planner for cfg.
func NewPlanner(cfg *Config) *Planner { return &Planner{cfg: cfg} }

// Plan returns the view of one whole CIB and the desired pools of every
// configured HAProxy, by haproxy[].name. A CIB that does not parse is an
// error and no view. Not safe for concurrent use.
func (p *Planner) Plan(xml []byte, now time.Time) (*View, map[string]haproxy.Desired, error) {
	f, err := p.facts(xml)
	if err != nil {
		return nil, nil, err
	}
	v, desired := p.build(f, now)
	return v, desired, nil
}

// facts parses a CIB into what the pool rules need.
func (p *Planner) facts(xml []byte) (*clusterFacts, error) {
	c, err := p.rp.Parse(xml)
	if err != nil {
		return nil, err
	}
	return factsFromCIB(c, serviceResources(p.cfg)), nil
}

// build applies the pool rules and makes each HAProxy's desired pools.
func (p *Planner) build(f *clusterFacts, now time.Time) (*View, map[string]haproxy.Desired) {
	v := buildView(p.cfg, f, now)
	desired := make(map[string]haproxy.Desired, len(p.cfg.HAProxy))
	for _, h := range p.cfg.HAProxy {
		desired[h.Name] = desiredFor(p.cfg, v, h.Name)
	}
	return v, desired
}

// serviceResources are the resource ids the services name.
func serviceResources(cfg *Config) []string {
	ids := make([]string, 0, len(cfg.Services))
	for _, s := range cfg.Services {
		ids = append(ids, s.Resource)
	}
	return ids
}

// historyRewritten reports whether to keep the previous view because an
// online node's operation history is missing: the DC deletes and rewrites
// every member's lrm section in each join round (whenever a node joins or
// rejoins, a fenced one after its reboot included), and a snapshot taken
// in between shows healthy instances as gone. Built from it, the view
// would drain their servers and put them back through a full rise of
// HAProxy's checks. The rewrite takes milliseconds and ends with a
// notification; the previous view is kept for at most one resync
// interval, so that a node whose history never comes back cannot freeze
// the pools.
func (b *Bridge) historyRewritten(f *clusterFacts, reason string) bool {
	var nodes []string
	for _, n := range sortedNodes(f.Nodes) {
		if n.HistoryUnknown {
			nodes = append(nodes, n.Name)
		}
	}
	now := time.Now()
	switch {
	case len(nodes) == 0:
		b.rewriting = time.Time{}
		return false
	case b.rewriting.IsZero():
		b.rewriting = now
	case now.Sub(b.rewriting) >= b.cfg.Resync.Duration:
		b.log.WithField("nodes", strings.Join(nodes, ",")).Warnf("the operation history of online nodes missing for %s: building the view without it",
			now.Sub(b.rewriting).Round(time.Millisecond))
		return false
	}
	b.m.cibErrors.WithLabelValues("history_rewritten").Inc()
	b.log.WithFields(logrus.Fields{"nodes": strings.Join(nodes, ","), "version": f.Version, "reason": reason}).
		Debug("the DC is rewriting the operation history of online nodes: keeping the previous view")
	return true
}

// desiredFor is the pools one HAProxy should have. A service whose
// resource is not in the CIB is left out, so its backend is left alone
// rather than emptied because of a typo.
func desiredFor(cfg *Config, v *View, lb string) haproxy.Desired {
	d := haproxy.Desired{Prefix: cfg.ServerPrefix}
	for i, sv := range v.Services {
		sc := cfg.Services[i]
		if sv.Err != "" || !servesOn(sc, lb) {
			continue
		}
		be := haproxy.Backend{Name: sc.Backend, Check: haproxy.Check{
			Inter: sc.Check.Inter.Duration, Rise: sc.Check.Rise, Fall: sc.Check.Fall, Weight: new(*sc.Check.Weight),
		}, DrainTimeout: sc.DrainTimeout.Duration}
		for _, in := range sv.Instances {
			if in.Err != "" {
				continue
			}
			be.Servers = append(be.Servers, haproxy.Server{Name: in.Server, Addr: in.Addr, Port: in.Port,
				Want: toHAProxyWant(in.Want), Reason: in.Reason})
		}
		d.Backends = append(d.Backends, be)
	}
	return d
}

func servesOn(s ServiceConfig, lb string) bool {
	if len(s.HAProxy) == 0 {
		return true
	}
	for _, n := range s.HAProxy {
		if n == lb {
			return true
		}
	}
	return false
}

func toHAProxyWant(w Want) haproxy.Want {
	switch w {
	case Serve:
		return haproxy.Serve
	case Fail:
		return haproxy.Fail
	case Hold, Keep:
		return haproxy.Hold
	}
	return haproxy.Drain
}

// publishChanges emits instance.changed for every instance whose wanted
// state or reason changed between two views.
func (b *Bridge) publishChanges(old, v *View) {
	prev := map[string]Instance{}
	if old != nil {
		for _, sv := range old.Services {
			for _, in := range sv.Instances {
				prev[sv.Name+"\x00"+in.Server] = in
			}
		}
	}
	for _, sv := range v.Services {
		for _, in := range sv.Instances {
			p, ok := prev[sv.Name+"\x00"+in.Server]
			if ok && p.Want == in.Want && p.Reason == in.Reason {
				continue
			}
			from := ""
			if ok {
				from = string(p.Want)
			}
			b.log.WithFields(logrus.Fields{"service": sv.Name, "resource": in.ID, "node": in.Node,
				"want": in.Want, "reason": in.Reason}).Info("instance changed")
			b.Bus.Publish(Event{Type: "instance.changed", Time: v.Built, Cluster: b.cfg.Cluster, Service: sv.Name,
				Resource: in.ID, Node: in.Node, Server: in.Server, Managed: true, From: from, To: string(in.Want),
				Detail: in.Reason})
		}
	}
}

// sinceTrigger is the time since a snapshot's trigger, for log lines; ""
// when it has none.
func sinceTrigger(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return time.Since(t).String()
}

func (b *Bridge) serverOwners() map[string]serverOwner {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.owners
}

// Handler serves /metrics and /v1/status.
func (b *Bridge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", b.serveStatus)
	return mux
}
