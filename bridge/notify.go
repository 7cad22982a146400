package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/cibstore"
	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/vnfm"
	"github.com/vnfha/vnfha/crmwrap"
)

// EventStore is where the bridge keeps the deliveries it owes: a
// delivery.Store that can also forget what every sink has once the fact
// behind it is gone from the cluster (bridge/cibstore in production).
type EventStore interface {
	delivery.Store
	// Prune deletes the entries no sink is owed whose fact live says is
	// gone, and returns how many it deleted.
	Prune(ctx context.Context, live func(id string) bool) (int, error)
}

// pruneGrace is how long a fact must stay out of the CIB before what the
// sinks had of it is forgotten: a history the DC rewrites, or a snapshot
// taken in between, must not make a fact look new again.
const pruneGrace = time.Minute

// notifier turns the facts of each view, and HAProxy's check results,
// into events, and offers them to the delivery queue. It runs on its own
// goroutine: writing an event to the store takes a CIB round trip, which
// must never delay the pools.
type notifier struct {
	cfg     *Config
	q       *delivery.Queue
	store   EventStore
	cluster ClusterTools
	log     logrus.FieldLogger

	facts chan *clusterFacts // the newest facts; older ones are replaced
	wake  chan struct{}

	mu sync.Mutex
	lb []delivery.Event // lb events not yet offered
	// storeErrs counts the events the store refused (each retried), and
	// lastErr is the newest such error, for the status.
	storeErrs int
	lastErr   string
	lastErrAt time.Time

	// Only run's goroutine touches what follows.
	//
	// nodes are the nodes of the last facts, to see one removed from the
	// cluster (crm_node --remove), whose events the store must move.
	nodes map[string]bool
	// gone is when each delivered fact was first seen missing (Prune's
	// grace).
	gone map[string]time.Time
	// problems are the VNFM ids ignored, logged when they change.
	problems string
	// recheck is when vnfcEvents must run again for an
	// unrecoverable_after; zero when never.
	recheck time.Time
}

// ClusterTools is what the notifier asks of Pacemaker besides the CIB it
// is given: the fencer's history (vnfc.lost) and the writing of the
// vnfha-ran records. *crmwrap.Client in production.
type ClusterTools interface {
	FenceHistory(ctx context.Context) ([]crmwrap.Fencing, error)
	SetNodeAttr(ctx context.Context, node, name, value string, lt crmwrap.Lifetime) error
}

func newNotifier(cfg *Config, q *delivery.Queue, store EventStore, cluster ClusterTools, log logrus.FieldLogger) *notifier {
	return &notifier{cfg: cfg, q: q, store: store, cluster: cluster, log: log, facts: make(chan *clusterFacts, 1),
		wake: make(chan struct{}, 1), gone: map[string]time.Time{}}
}

// setFacts hands the notifier the facts of a new view. It never blocks:
// the facts it replaces are older, and every event is derived from the
// whole of the newest.
func (n *notifier) setFacts(f *clusterFacts) {
	for {
		select {
		case n.facts <- f:
			return
		default:
		}
		select {
		case <-n.facts:
		default:
		}
	}
}

// maxLBBacklog bounds the lb events waiting for the store: a store that
// stays unreachable must not grow the bridge without end. What is dropped
// is counted and logged; a check result is HAProxy's, not a fact the
// cluster keeps.
const maxLBBacklog = 10000

// Publish takes the bridge's own events (bridge.Sink) and keeps the lb
// ones, as delivery events, for run.
func (n *notifier) Publish(e Event) {
	if e.Type != delivery.LBBackendDown && e.Type != delivery.LBBackendUp {
		return
	}
	de := lbEvent(n.cfg, e)
	n.mu.Lock()
	if len(n.lb) >= maxLBBacklog {
		n.mu.Unlock()
		n.log.WithFields(logrus.Fields{"event": de.ID, "type": de.Type}).Error("events: too many lb events wait for the store; dropped")
		return
	}
	n.lb = append(n.lb, de)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// lbEvent makes the delivery event of one of HAProxy's check results. Its
// id is HAProxy's record of the change (Event.Ref).
func lbEvent(cfg *Config, e Event) delivery.Event {
	dir := "down"
	if e.Type == delivery.LBBackendUp {
		dir = "up"
	}
	managed := e.Managed
	reason := "HAProxy's checks: " + e.Detail
	if managed && e.Type == delivery.LBBackendDown {
		// Pacemaker runs it, HAProxy finds it down: the two disagree,
		// which is news on its own.
		reason = "HAProxy's checks find a server Pacemaker runs down: " + e.Detail
	}
	t := e.Changed
	if t.IsZero() {
		t = e.Time
	}
	return delivery.Event{
		ID: fmt.Sprintf("%s/lb/%s/%s/%s/%s/%s", url.PathEscape(cfg.Cluster), url.PathEscape(e.HAProxy),
			url.PathEscape(e.Backend), url.PathEscape(e.Server), dir, e.Ref),
		Type: e.Type, Source: eventSource(cfg), Subject: e.HAProxy + "/" + e.Backend + "/" + e.Server, Time: t,
		Data: delivery.Data{Cluster: cfg.Cluster, Service: e.Service, Resource: e.Resource, Node: e.Node,
			HAProxy: e.HAProxy, Backend: e.Backend, Server: e.Server, Managed: &managed, From: e.From, To: e.To,
			Reason: reason},
	}
}

// run loads what an earlier bridge left undelivered, starts the queue,
// then offers the events of every new view and every lb event, until ctx
// ends. An offer the store refused is tried again a second later: the
// facts are still there.
func (n *notifier) run(ctx context.Context) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := n.q.Load(ctx)
		if err == nil {
			break
		}
		n.log.WithError(err).Warn("events: cannot read the pending deliveries yet; no event is sent until they are read")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = n.q.Run(ctx)
	}()
	var facts *clusterFacts
	dirty := false
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case facts = <-n.facts:
			dirty = true
		case <-n.wake:
		case <-retry.C:
			dirty = facts != nil
		}
		failed := !n.offerLB(ctx)
		if dirty {
			ok := n.offerFacts(ctx, facts)
			dirty = !ok
			failed = failed || !ok
		}
		// Again in a second after a failure, else when an
		// unrecoverable_after runs out; a new view comes sooner anyway.
		wait := time.Hour
		if failed {
			wait = time.Second
		} else if !n.recheck.IsZero() {
			wait = max(time.Until(n.recheck), 0)
		}
		if !retry.Stop() {
			select {
			case <-retry.C:
			default:
			}
		}
		retry.Reset(wait)
	}
}

// offerLB offers the lb events waiting, in order; false when the store
// refused one (it and those after it wait for the next try).
func (n *notifier) offerLB(ctx context.Context) bool {
	n.mu.Lock()
	evs := n.lb
	n.lb = nil
	n.mu.Unlock()
	for i, e := range evs {
		if err := n.q.Offer(ctx, e); err != nil {
			n.failed(e, err)
			n.mu.Lock()
			n.lb = append(evs[i:], n.lb...)
			n.mu.Unlock()
			return false
		}
	}
	return true
}

// offerFacts offers every event the facts hold, then writes down which
// instances run where (the vnfha-ran records), then forgets what the
// sinks have of facts gone for pruneGrace. false when something must be
// tried again.
func (n *notifier) offerFacts(ctx context.Context, f *clusterFacts) bool {
	ok := true
	var fences []crmwrap.Fencing
	if needFenceHistory(n.cfg, f) {
		var err error
		if fences, err = n.cluster.FenceHistory(ctx); err != nil {
			// Derived without: no vnfc.lost yet, and the records stay
			// as they are until the history is read.
			n.log.WithError(err).Warn("events: cannot read the fencing history; node losses are reported once it is read")
			ok = false
		}
	}
	// Without the history it needs, the losses are missing from the
	// facts, not gone: nothing is forgotten on their account (a Heal
	// forgotten, then derived again, would be sent twice).
	complete := ok
	n.rehome(ctx, f)
	d := vnfcEvents(n.cfg, f, fences, time.Now())
	n.recheck = d.RecheckAt
	if p := strings.Join(d.Problems, "; "); p != n.problems {
		n.problems = p
		if p != "" {
			n.log.WithField("problems", p).Warn("events: VNFM ids in the CIB ignored")
		}
	}
	live := make(map[string]bool, len(d.Events))
	for _, e := range d.Events {
		live[e.ID] = true
	}
	if !n.offerAll(ctx, d.Events) {
		ok = false
	}
	// Only once every loss is in the store, and never without the fencing
	// history the losses were derived from: a record rewritten before its
	// loss is stored would hide that loss.
	if ok {
		for _, u := range ranUpdates(n.cfg, f, time.Now()) {
			if err := n.cluster.SetNodeAttr(ctx, u.Node, RanAttribute, u.Value, crmwrap.LifetimeForever); err != nil {
				n.log.WithError(err).WithField("node", u.Node).Warn("events: cannot write down which instances run on the node; retrying")
				ok = false
			}
		}
	}
	if !complete {
		return ok
	}
	now := time.Now()
	for id := range n.gone {
		if live[id] {
			delete(n.gone, id)
		}
	}
	pruned, err := n.store.Prune(ctx, func(id string) bool {
		if live[id] {
			return true
		}
		first, seen := n.gone[id]
		if !seen {
			n.gone[id] = now
			return true
		}
		if now.Sub(first) < pruneGrace {
			return true
		}
		delete(n.gone, id)
		return false
	})
	if err != nil {
		n.log.WithError(err).Warn("events: cannot forget delivered events whose facts are gone")
	} else if pruned > 0 {
		n.log.WithField("count", pruned).Debug("events: forgot delivered events whose facts are gone")
	}
	return ok
}

// setUpDelivery builds the sinks, the store and the queue when the config
// sends events anywhere.
func (b *Bridge) setUpDelivery(o Options) error {
	sinks := o.Sinks
	if sinks == nil {
		if !b.cfg.HasSinks() {
			return nil
		}
		s, err := NewSinks(b.cfg, b.log, b.healOutcome)
		if err != nil {
			return err
		}
		b.sinks = s
		sinks = s.All
	}
	tools := o.Cluster
	if tools == nil {
		tools = crmwrap.New(nil)
	}
	store := o.Store
	if store == nil {
		// The store keeps an event without a node (an lb event) on the
		// bridge's own node.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		node, err := crmwrap.New(nil).LocalNodeName(ctx)
		cancel()
		if err == nil {
			store, err = cibstore.New(cibstore.Options{Client: crmwrap.New(nil), LocalNode: node, Log: b.log})
		} else {
			err = fmt.Errorf("the store in the CIB needs this node's name: %w", err)
		}
		if err != nil {
			if b.sinks != nil {
				b.sinks.Close()
			}
			return fmt.Errorf("events: %w", err)
		}
	}
	d := b.cfg.Delivery
	b.queue = delivery.NewQueue(delivery.QueueOptions{Sinks: sinks, Store: store, Log: b.log,
		Timeout: d.Timeout.Duration, MinBackoff: d.MinBackoff.Duration, MaxBackoff: d.MaxBackoff.Duration})
	b.notifier = newNotifier(b.cfg, b.queue, store, tools, b.log)
	b.Bus.Attach(b.notifier)
	b.m.reg.MustRegister(&deliveryCollector{b: b})
	return nil
}

// healOutcome logs how each accepted Heal's operation ended.
func (b *Bridge) healOutcome(o vnfm.Outcome) {
	f := b.log.WithFields(logrus.Fields{"sink": b.cfg.VNFM.Name, "event": o.EventID, "subject": o.Subject,
		"vnf_instance": o.VNFInstanceID, "vnfc_instance": o.VNFCInstanceID, "occurrence": o.OpOccID, "end": o.End})
	if o.Problem != nil {
		f = f.WithField("problem", o.Problem.String())
	}
	switch {
	case o.End == "COMPLETED":
		f.Info("heal completed")
	case o.Err != nil:
		f.WithError(o.Err).Warn("heal: stopped following its operation")
	default:
		f.Warn("heal: its operation ended without completing")
	}
}

// rehomer is a store that keeps events on nodes, and must move them when a
// node is removed from the cluster (the CIB deletes its attributes).
type rehomer interface {
	Rehome(ctx context.Context) (int, error)
}

// rehome moves the store's events off a node removed since the last
// facts. A failure is logged and tried again at the next view.
func (n *notifier) rehome(ctx context.Context, f *clusterFacts) {
	now := make(map[string]bool, len(f.Nodes))
	for name := range f.Nodes {
		now[name] = true
	}
	removed := false
	for name := range n.nodes {
		if !now[name] {
			removed = true
		}
	}
	r, ok := n.store.(rehomer)
	if !removed || !ok {
		n.nodes = now
		return
	}
	moved, err := r.Rehome(ctx)
	if err != nil {
		n.log.WithError(err).Warn("events: a node was removed; cannot move the events kept on it yet")
		return // n.nodes kept: tried again
	}
	n.nodes = now
	if moved > 0 {
		n.log.WithField("count", moved).Info("events: a node was removed; its events moved to this node")
	}
}

// failed notes an event the store refused; the caller tries it again.
func (n *notifier) failed(e delivery.Event, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	n.log.WithError(err).WithField("event", e.ID).Warn("events: cannot record an event in the store; retrying")
	n.mu.Lock()
	n.storeErrs++
	n.lastErr, n.lastErrAt = err.Error(), time.Now()
	n.mu.Unlock()
}

// EventsStatus is the notifier in the status: the store's refusals.
type EventsStatus struct {
	StoreErrors int       `json:"store_errors"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

func (n *notifier) status() EventsStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return EventsStatus{StoreErrors: n.storeErrs, LastError: n.lastErr, LastErrorAt: n.lastErrAt}
}

// maxOffers bounds the subjects offered at once.
const maxOffers = 16

// offerAll offers the events, each subject's in order and none after a
// refusal (an instance's recovery must not overtake its failure at a
// sink), different subjects at once: the store then writes the events of
// one node loss together, and the Heal sink gets them together, to send
// one Heal for the VNFCs of a VNF. false when one was refused.
func (n *notifier) offerAll(ctx context.Context, evs []delivery.Event) bool {
	var subjects []string
	bySubject := map[string][]delivery.Event{}
	for _, e := range evs {
		if _, ok := bySubject[e.Subject]; !ok {
			subjects = append(subjects, e.Subject)
		}
		bySubject[e.Subject] = append(bySubject[e.Subject], e)
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
		sem    = make(chan struct{}, maxOffers)
	)
	for _, sub := range subjects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, e := range bySubject[sub] {
				if err := n.q.Offer(ctx, e); err != nil {
					n.failed(e, err)
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return !failed.Load()
}
