package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Store keeps what the queue must not lose: the events not yet delivered
// to every sink that wants them, and which sinks have them. The bridge
// keeps it in the cluster, so that a new bridge on another node carries
// on where a crashed one stopped; MemStore keeps it in memory, for tests.
//
// The queue calls a Store from its own goroutine and from the attempts'
// goroutines, so an implementation must be safe for concurrent use.
type Store interface {
	// Pending returns every event some sink still has to get, with the
	// names of those sinks, as saved by Add.
	Pending(ctx context.Context) ([]Pending, error)
	// Add saves e as pending for sinks. It returns once the event would
	// survive a crash of the bridge.
	Add(ctx context.Context, e Event, sinks []string) error
	// Done records that sink has e (delivered, or given up on); the
	// event leaves the store when no sink is left. Done for an event the
	// store does not hold pending for sink changes nothing: what was
	// never stored is offered again, not taken as delivered.
	Done(ctx context.Context, id, sink string) error
	// Seen reports whether sink already has the event id: a fact the
	// bridge derives again after a restart is not sent twice.
	Seen(ctx context.Context, id, sink string) (bool, error)
}

// Pending is an event and the sinks that still have to get it.
type Pending struct {
	Event Event
	Sinks []string
}

// QueueOptions configure a Queue.
type QueueOptions struct {
	Sinks []Sink
	Store Store
	Log   logrus.FieldLogger
	// Timeout bounds one attempt (default 30 s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts of one
	// event (defaults 1 s and 5 min). The wait doubles from MinBackoff,
	// with jitter of up to half of it, and a receiver's Retry-After is
	// honoured up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Queue delivers every event offered to every sink that wants it, at
// least once: an attempt that fails transiently (or is blocked) is tried
// again with backoff, without end, until it succeeds or fails finally.
// One sink's events for one subject go out in the order offered, one at a
// time; different subjects and different sinks do not wait for each
// other.
type Queue struct {
	o    QueueOptions
	wake chan struct{}

	loadMu sync.Mutex
	loaded bool

	mu    sync.Mutex
	items map[string]*item // by sink name + "\x00" + event id
	stats map[string]*SinkStats
	seq   uint64
}

type item struct {
	sink     Sink
	ev       Event
	seq      uint64 // offer order, for the per-subject FIFO
	attempts int
	next     time.Time
	inFlight bool
	// stored, when not nil, is closed once the Store.Add of an eager
	// item returned: its outcome is recorded only after.
	stored chan struct{}
	// settled is set once the sink has the event (or gave up on it) but
	// the store could not record it: the next attempt only records it,
	// so that a Heal is never sent twice for want of a store write.
	settled bool
}

// SinkStats are one sink's counters, for /v1/status and the metrics.
type SinkStats struct {
	Delivered   int       `json:"delivered"`
	Retried     int       `json:"retried"`
	Blocked     int       `json:"blocked"`
	Failed      int       `json:"failed"`
	Pending     int       `json:"pending"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// NewQueue returns a queue; Run starts it.
func NewQueue(o QueueOptions) *Queue {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Minute, o.MinBackoff)
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		o.Log = l
	}
	q := &Queue{o: o, wake: make(chan struct{}, 1), items: map[string]*item{}, stats: map[string]*SinkStats{}}
	for _, s := range o.Sinks {
		q.stats[s.Name()] = &SinkStats{}
	}
	return q
}

// Offer queues e for every sink that wants it and does not have it yet.
// It returns once the event is in the store, so that a crash after Offer
// loses nothing; an event already queued is not queued twice.
func (q *Queue) Offer(ctx context.Context, e Event) error {
	var want []Sink
	for _, s := range q.o.Sinks {
		if !s.Wants(e) {
			continue
		}
		q.mu.Lock()
		_, queued := q.items[key(s.Name(), e.ID)]
		q.mu.Unlock()
		if queued {
			continue
		}
		seen, err := q.o.Store.Seen(ctx, e.ID, s.Name())
		if err != nil {
			return err
		}
		if !seen {
			want = append(want, s)
		}
	}
	if len(want) == 0 {
		return nil
	}
	names := make([]string, len(want))
	var eager, later []Sink
	for i, s := range want {
		names[i] = s.Name()
		if e, ok := s.(Eager); ok && e.Eager() {
			eager = append(eager, s)
		} else {
			later = append(later, s)
		}
	}
	var stored chan struct{}
	if len(eager) > 0 {
		stored = make(chan struct{})
		q.enqueueStoring(e, eager, stored)
	}
	err := q.o.Store.Add(ctx, e, names)
	if stored != nil {
		// Refused or not, the eager attempts may record their outcome
		// now: Done for an event the store does not hold changes nothing,
		// and the offer is made again.
		close(stored)
	}
	if err != nil {
		return err
	}
	q.enqueue(e, later)
	return nil
}

func (q *Queue) enqueue(e Event, sinks []Sink) { q.enqueueStoring(e, sinks, nil) }

func (q *Queue) enqueueStoring(e Event, sinks []Sink, stored chan struct{}) {
	q.mu.Lock()
	for _, s := range sinks {
		k := key(s.Name(), e.ID)
		if _, ok := q.items[k]; ok {
			continue
		}
		q.seq++
		q.items[k] = &item{sink: s, ev: e, seq: q.seq, stored: stored}
	}
	q.mu.Unlock()
	q.poke()
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Load queues what the store holds as pending: what an earlier bridge
// left undelivered. Call it before the first Offer, so that what the
// store says a sink already has is known (Seen) before a fact is derived
// again; Run calls it when nobody did. Once it succeeded, it does nothing.
func (q *Queue) Load(ctx context.Context) error {
	q.loadMu.Lock()
	defer q.loadMu.Unlock()
	if q.loaded {
		return nil
	}
	pend, err := q.o.Store.Pending(ctx)
	if err != nil {
		return fmt.Errorf("read the pending deliveries: %w", err)
	}
	byName := map[string]Sink{}
	for _, s := range q.o.Sinks {
		byName[s.Name()] = s
	}
	for _, p := range pend {
		var sinks []Sink
		for _, n := range p.Sinks {
			if s, ok := byName[n]; ok {
				sinks = append(sinks, s)
				if r, ok := s.(Resumer); ok {
					r.Resume(p.Event)
				}
			} else {
				// A sink no longer configured will never take it.
				_ = q.o.Store.Done(ctx, p.Event.ID, n)
			}
		}
		q.enqueue(p.Event, sinks)
	}
	q.loaded = true
	return nil
}

// Run loads what the store holds as pending (Load), then delivers until
// ctx ends.
func (q *Queue) Run(ctx context.Context) error {
	if err := q.Load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := q.dispatch(ctx, &wg)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// dispatch starts every attempt that is due and whose subject has nothing
// in flight and nothing older queued, and returns when the next one is
// due (zero: nothing waits on time).
func (q *Queue) dispatch(ctx context.Context, wg *sync.WaitGroup) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	// The head of each (sink, subject): the oldest item.
	heads := map[string]*item{}
	for _, it := range q.items {
		hk := key(it.sink.Name(), it.ev.Subject)
		if h, ok := heads[hk]; !ok || it.seq < h.seq {
			heads[hk] = it
		}
	}
	var due []*item
	var next time.Time
	for _, it := range heads {
		if it.inFlight {
			continue
		}
		if it.next.After(now) {
			if next.IsZero() || it.next.Before(next) {
				next = it.next
			}
			continue
		}
		due = append(due, it)
	}
	sort.Slice(due, func(i, j int) bool { return due[i].seq < due[j].seq })
	for _, it := range due {
		it.inFlight = true
		it.attempts++
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.attempt(ctx, it)
		}()
	}
	return next
}

func (q *Queue) attempt(ctx context.Context, it *item) {
	if it.settled {
		q.record(ctx, it)
		return
	}
	actx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	err := it.sink.Deliver(actx, it.ev)
	cancel()
	if ctx.Err() != nil {
		// Shutting down: the attempt's outcome is unknown; the store
		// still holds the event for the next bridge.
		q.mu.Lock()
		it.inFlight = false
		q.mu.Unlock()
		return
	}
	class, after := Classify(err)
	name := it.sink.Name()
	f := q.o.Log.WithFields(logrus.Fields{"sink": name, "event": it.ev.ID, "type": it.ev.Type, "subject": it.ev.Subject, "attempt": it.attempts})
	q.mu.Lock()
	st := q.stats[name]
	switch class {
	case Delivered:
		st.Delivered++
		f.Info("delivered")
	case IsFinal:
		st.Failed++
		st.LastError, st.LastErrorAt = err.Error(), time.Now()
		f.WithError(err).Error("delivery failed for good; dropped")
	case IsBlocked:
		st.Blocked++
		st.LastError, st.LastErrorAt = err.Error(), time.Now()
		f.WithError(err).Warn("delivery blocked; retrying")
	default:
		st.Retried++
		st.LastError, st.LastErrorAt = err.Error(), time.Now()
		f.WithError(err).Warn("delivery failed; retrying")
	}
	q.mu.Unlock()
	if class == Transient || class == IsBlocked {
		q.reschedule(it, after)
		return
	}
	q.mu.Lock()
	it.settled = true
	q.mu.Unlock()
	q.record(ctx, it)
}

// record writes to the store that the sink has it (or that it gave up),
// and lets the item go. When the store refuses, the item stays, settled:
// only the record is tried again, with backoff, never the delivery (a
// Heal sent twice rebuilds a VNFC twice). A crash before the record
// succeeds sends the event again, with the same id.
func (q *Queue) record(ctx context.Context, it *item) {
	name := it.sink.Name()
	if it.stored != nil {
		select {
		case <-it.stored:
		case <-ctx.Done():
			q.mu.Lock()
			it.inFlight = false
			q.mu.Unlock()
			return
		}
	}
	if err := q.o.Store.Done(ctx, it.ev.ID, name); err != nil {
		if ctx.Err() != nil {
			q.mu.Lock()
			it.inFlight = false
			q.mu.Unlock()
			return
		}
		q.o.Log.WithError(err).WithFields(logrus.Fields{"sink": name, "event": it.ev.ID}).
			Warn("delivery: cannot record the outcome in the store; retrying the record only")
		q.reschedule(it, 0)
		return
	}
	q.mu.Lock()
	delete(q.items, key(name, it.ev.ID))
	q.mu.Unlock()
	q.poke()
}

// reschedule puts it back with backoff: MinBackoff doubled per attempt,
// capped, with up to half of it as jitter so that many events that failed
// together do not return together; a Retry-After is honoured up to the cap.
func (q *Queue) reschedule(it *item, after time.Duration) {
	d := q.o.MinBackoff << min(max(it.attempts-1, 0), 20)
	d = min(d, q.o.MaxBackoff)
	d -= time.Duration(rand.Int64N(int64(d/2) + 1))
	d = max(d, min(after, q.o.MaxBackoff))
	q.mu.Lock()
	it.inFlight = false
	it.next = time.Now().Add(d)
	q.mu.Unlock()
	q.poke()
}

// Stats returns each sink's counters, by sink name.
func (q *Queue) Stats() map[string]SinkStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]SinkStats, len(q.stats))
	for n, st := range q.stats {
		s := *st
		s.Pending = 0
		for _, it := range q.items {
			if it.sink.Name() == n {
				s.Pending++
			}
		}
		out[n] = s
	}
	return out
}

func key(a, b string) string { return a + "\x00" + b }
