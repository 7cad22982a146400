package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSink answers from a script, by event id: the i-th attempt of an
// event gets script[id][i] (nil past the end), and records every attempt.
type fakeSink struct {
	name   string
	wants  func(Event) bool
	script map[string][]error
	hold   chan struct{} // when set, Deliver waits for it (or ctx)

	mu        sync.Mutex
	attempts  map[string]int
	delivered []string // event ids, in the order delivered
	at        map[string][]time.Time
	inFlight  map[string]int // by subject
	maxFlight int
}

func newFakeSink(name string) *fakeSink {
	return &fakeSink{name: name, script: map[string][]error{}, attempts: map[string]int{},
		at: map[string][]time.Time{}, inFlight: map[string]int{}}
}

func (f *fakeSink) Name() string { return f.name }
func (f *fakeSink) Wants(e Event) bool {
	return f.wants == nil || f.wants(e)
}

func (f *fakeSink) Deliver(ctx context.Context, e Event) error {
	f.mu.Lock()
	f.inFlight[e.Subject]++
	f.maxFlight = max(f.maxFlight, f.inFlight[e.Subject])
	n := f.attempts[e.ID]
	f.attempts[e.ID]++
	f.at[e.ID] = append(f.at[e.ID], time.Now())
	var err error
	if s := f.script[e.ID]; n < len(s) {
		err = s[n]
	}
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			err = &Retry{Err: ctx.Err()}
		}
	}
	f.mu.Lock()
	f.inFlight[e.Subject]--
	if err == nil {
		f.delivered = append(f.delivered, e.ID)
	}
	f.mu.Unlock()
	return err
}

func (f *fakeSink) snapshot() ([]string, map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := map[string]int{}
	for k, v := range f.attempts {
		a[k] = v
	}
	return append([]string(nil), f.delivered...), a
}

func ev(id, subject string) Event {
	return Event{ID: id, Type: VNFCFailed, Source: "/vnfha/clusters/t", Subject: subject, Time: time.Unix(1, 0)}
}

// startQueue runs a queue over sinks and store until the test ends.
func startQueue(t *testing.T, store Store, sinks ...Sink) (*Queue, context.CancelFunc) {
	t.Helper()
	q := NewQueue(QueueOptions{Sinks: sinks, Store: store, Timeout: 2 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return q, cancel
}

// waitFor polls cond, bounded in time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func offer(t *testing.T, q *Queue, es ...Event) {
	t.Helper()
	for _, e := range es {
		if err := q.Offer(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueueOutcomes(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		script    []error
		delivered bool
		attempts  int
		stats     SinkStats
	}{
		{"first time", nil, true, 1, SinkStats{Delivered: 1}},
		{"transient then ok", []error{boom, &Retry{Err: boom}}, true, 3, SinkStats{Delivered: 1, Retried: 2}},
		{"blocked then ok", []error{&Blocked{Err: boom}, &Blocked{Err: boom}}, true, 3, SinkStats{Delivered: 1, Blocked: 2}},
		{"final", []error{&Final{Err: boom}}, false, 1, SinkStats{Failed: 1}},
		{"transient then final", []error{boom, fmt.Errorf("post: %w", &Final{Err: boom})}, false, 2, SinkStats{Retried: 1, Failed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSink("hook")
			s.script["e1"] = tt.script
			store := NewMemStore()
			q, _ := startQueue(t, store, s)
			offer(t, q, ev("e1", "web:node1"))
			waitFor(t, "the event to leave the store", func() bool {
				p, _ := store.Pending(context.Background())
				return len(p) == 0
			})
			got, attempts := s.snapshot()
			if (len(got) == 1) != tt.delivered || attempts["e1"] != tt.attempts {
				t.Errorf("delivered %v after %d attempts; want delivered=%v after %d", got, attempts["e1"], tt.delivered, tt.attempts)
			}
			st := q.Stats()["hook"]
			st.LastError, st.LastErrorAt = "", time.Time{}
			if st != tt.stats {
				t.Errorf("stats %+v, want %+v", st, tt.stats)
			}
			if seen, _ := store.Seen(context.Background(), "e1", "hook"); !seen {
				t.Error("the store does not remember the outcome: a restart would send it again")
			}
		})
	}
}

// One subject's events go out in order and one at a time; another
// subject does not wait behind a failing one; a sink gets only what it
// wants; an event offered twice is delivered once.
func TestQueueOrderAndIsolation(t *testing.T) {
	boom := errors.New("boom")
	s := newFakeSink("hook")
	for range 5 {
		s.script["a1"] = append(s.script["a1"], &Retry{Err: boom})
	}
	heal := newFakeSink("heal")
	heal.wants = func(e Event) bool { return e.Type == VNFCLost }
	store := NewMemStore()
	q, _ := startQueue(t, store, s, heal)
	lost := ev("l1", "web:node3")
	lost.Type = VNFCLost
	offer(t, q, ev("a1", "web:node1"), ev("a2", "web:node1"), ev("b1", "web:node2"), lost, ev("a1", "web:node1"))
	waitFor(t, "everything delivered", func() bool {
		p, _ := store.Pending(context.Background())
		return len(p) == 0
	})
	got, attempts := s.snapshot()
	pos := map[string]int{}
	for i, id := range got {
		if _, dup := pos[id]; dup {
			t.Errorf("%s delivered twice: %v", id, got)
		}
		pos[id] = i
	}
	if len(got) != 4 {
		t.Fatalf("hook got %v, want a1, a2, b1, l1", got)
	}
	if pos["a2"] < pos["a1"] {
		t.Errorf("a2 before a1 of the same subject: %v", got)
	}
	if pos["b1"] > pos["a1"] {
		t.Errorf("b1 (another subject) waited behind a1's retries: %v", got)
	}
	if attempts["a1"] != 6 {
		t.Errorf("a1 attempted %d times, want 6", attempts["a1"])
	}
	if s.maxFlight != 1 {
		t.Errorf("%d attempts of one subject at once, want 1", s.maxFlight)
	}
	hg, _ := heal.snapshot()
	if strings.Join(hg, ",") != "l1" {
		t.Errorf("heal got %v, want only l1", hg)
	}
}

// A Retry-After longer than the backoff is waited for.
func TestQueueRetryAfter(t *testing.T) {
	s := newFakeSink("hook")
	s.script["e1"] = []error{&Retry{After: 15 * time.Millisecond, Err: errors.New("503")}}
	store := NewMemStore()
	q, _ := startQueue(t, store, s)
	offer(t, q, ev("e1", "x"))
	waitFor(t, "the retry", func() bool { _, a := s.snapshot(); return a["e1"] == 2 })
	s.mu.Lock()
	gap := s.at["e1"][1].Sub(s.at["e1"][0])
	s.mu.Unlock()
	if gap < 15*time.Millisecond {
		t.Errorf("retried after %s, before the Retry-After of 15ms", gap)
	}
}

// What a bridge left pending is delivered by the next one over the same
// store, and what it delivered is not sent again.
func TestQueueRestart(t *testing.T) {
	store := NewMemStore()
	s1 := newFakeSink("hook")
	s1.hold = make(chan struct{}) // the receiver hangs: nothing gets through
	q1, stop1 := startQueue(t, store, s1)
	offer(t, q1, ev("e1", "a"), ev("e2", "b"))
	waitFor(t, "both attempts in flight", func() bool { _, a := s1.snapshot(); return a["e1"] > 0 && a["e2"] > 0 })
	stop1() // the bridge dies with both attempts in flight

	s2 := newFakeSink("hook")
	q2, _ := startQueue(t, store, s2)
	waitFor(t, "the pending events delivered", func() bool { g, _ := s2.snapshot(); return len(g) == 2 })
	// The next bridge derives the same facts again: no second delivery.
	offer(t, q2, ev("e1", "a"), ev("e2", "b"))
	time.Sleep(20 * time.Millisecond)
	if g, _ := s2.snapshot(); len(g) != 2 {
		t.Errorf("delivered %v; want e1 and e2 once each", g)
	}
}

// A sink removed from the config does not keep events pending forever.
func TestQueueSinkGone(t *testing.T) {
	store := NewMemStore()
	if err := store.Add(context.Background(), ev("e1", "a"), []string{"old", "hook"}); err != nil {
		t.Fatal(err)
	}
	s := newFakeSink("hook")
	startQueue(t, store, s)
	waitFor(t, "the store emptied", func() bool { p, _ := store.Pending(context.Background()); return len(p) == 0 })
}

// resumingSink records what the queue says an earlier bridge left owed.
type resumingSink struct {
	*fakeSink
	mu      sync.Mutex
	resumed []string
}

func (r *resumingSink) Resume(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resumed = append(r.resumed, e.ID)
}

// A sink that can check whether an earlier bridge's attempt took effect
// is told, before any attempt, which events it is owed from the store;
// events offered afresh are not "resumed".
func TestQueueResume(t *testing.T) {
	store := NewMemStore()
	if err := store.Add(context.Background(), ev("e1", "a"), []string{"heal"}); err != nil {
		t.Fatal(err)
	}
	s := &resumingSink{fakeSink: newFakeSink("heal")}
	s.hold = make(chan struct{})
	q := NewQueue(QueueOptions{Sinks: []Sink{s}, Store: store})
	if err := q.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := q.Load(context.Background()); err != nil { // a second Load does nothing
		t.Fatal(err)
	}
	offer(t, q, ev("e2", "b"))
	s.mu.Lock()
	got := append([]string(nil), s.resumed...)
	s.mu.Unlock()
	if len(got) != 1 || got[0] != "e1" {
		t.Errorf("resumed %v; want [e1], once, before any attempt", got)
	}
	if _, a := s.snapshot(); len(a) != 0 {
		t.Errorf("attempts before Run: %v", a)
	}
}

// doneFails is a store whose Done fails a number of times first, as a CIB
// without quorum refuses writes.
type doneFails struct {
	*MemStore
	mu    sync.Mutex
	fails int
}

func (d *doneFails) Done(ctx context.Context, id, sink string) error {
	d.mu.Lock()
	if d.fails > 0 {
		d.fails--
		d.mu.Unlock()
		return errors.New("no quorum")
	}
	d.mu.Unlock()
	return d.MemStore.Done(ctx, id, sink)
}

// A delivery the store cannot record is not delivered again: only the
// record is retried (a Heal sent twice rebuilds a VNFC twice).
func TestQueueRecordRetried(t *testing.T) {
	store := &doneFails{MemStore: NewMemStore(), fails: 3}
	s := newFakeSink("heal")
	q, _ := startQueue(t, store, s)
	offer(t, q, ev("e1", "a"))
	waitFor(t, "the outcome recorded", func() bool {
		seen, _ := store.Seen(context.Background(), "e1", "heal")
		return seen
	})
	if _, a := s.snapshot(); a["e1"] != 1 {
		t.Errorf("delivered %d times; want once", a["e1"])
	}
	waitFor(t, "the queue emptied", func() bool { return q.Stats()["heal"].Pending == 0 })
	if st := q.Stats()["heal"]; st.Delivered != 1 {
		t.Errorf("stats %+v; want 1 delivered", st)
	}
}

// eagerSink is a fakeSink whose first attempt need not wait for the store.
type eagerSink struct{ *fakeSink }

func (eagerSink) Eager() bool { return true }

// slowStore's Add takes a while, as a CIB write does; it may refuse.
type slowStore struct {
	*MemStore
	release chan struct{}
	refuse  bool
}

func (s *slowStore) Add(ctx context.Context, e Event, sinks []string) error {
	<-s.release
	if s.refuse {
		return errors.New("no quorum")
	}
	return s.MemStore.Add(ctx, e, sinks)
}

// An eager sink gets the event while it is being stored; a Heal-like sink
// only once it is stored; the eager sink's outcome is recorded only after
// the store has the event.
func TestQueueEager(t *testing.T) {
	store := &slowStore{MemStore: NewMemStore(), release: make(chan struct{})}
	hook := eagerSink{newFakeSink("hook")}
	heal := newFakeSink("heal")
	q, _ := startQueue(t, store, hook, heal)
	offered := make(chan error, 1)
	go func() { offered <- q.Offer(context.Background(), ev("e1", "a")) }()
	waitFor(t, "the webhook got the event before it was stored", func() bool { g, _ := hook.snapshot(); return len(g) == 1 })
	if _, a := heal.snapshot(); len(a) != 0 {
		t.Fatalf("the heal sink was attempted before the event was stored: %v", a)
	}
	if seen, _ := store.Seen(context.Background(), "e1", "hook"); seen {
		t.Fatal("the webhook's delivery recorded before the event was stored")
	}
	close(store.release)
	if err := <-offered; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both delivered and recorded", func() bool {
		g, _ := heal.snapshot()
		a, _ := store.Seen(context.Background(), "e1", "hook")
		b, _ := store.Seen(context.Background(), "e1", "heal")
		return len(g) == 1 && a && b
	})
	if p, _ := store.Pending(context.Background()); len(p) != 0 {
		t.Errorf("pending after both delivered: %+v", p)
	}
}

// A refused store write leaves the eager delivery made and the offer
// failed: the offer is made again, and the event, not stored, is sent
// again (a repeat the receiver drops), never lost.
func TestQueueEagerRefused(t *testing.T) {
	store := &slowStore{MemStore: NewMemStore(), release: make(chan struct{}), refuse: true}
	close(store.release)
	hook := eagerSink{newFakeSink("hook")}
	q, _ := startQueue(t, store, hook)
	if err := q.Offer(context.Background(), ev("e1", "a")); err == nil {
		t.Fatal("Offer succeeded with the store refusing")
	}
	waitFor(t, "the eager attempt done and let go", func() bool { return q.Stats()["hook"].Pending == 0 })
	store.refuse = false
	offer(t, q, ev("e1", "a"))
	waitFor(t, "sent again once stored", func() bool { g, _ := hook.snapshot(); return len(g) == 2 })
	waitFor(t, "recorded", func() bool { s, _ := store.Seen(context.Background(), "e1", "hook"); return s })
}
