package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/cluster"
	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
)

// recordingSink takes every event and keeps the ids, in order.
type recordingSink struct {
	mu  sync.Mutex
	got []delivery.Event
	// fail, while positive, fails that many attempts first.
	fail atomic.Int32
}

func (s *recordingSink) Name() string                { return "rec" }
func (s *recordingSink) Wants(e delivery.Event) bool { return true }
func (s *recordingSink) Deliver(ctx context.Context, e delivery.Event) error {
	if s.fail.Add(-1) >= 0 {
		return &delivery.Retry{Err: errors.New("receiver down")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, e)
	return nil
}

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.got {
		out = append(out, e.Type+" "+e.ID)
	}
	return out
}

// flakyStore refuses its first Adds, as a CIB that cannot be written
// (no quorum, the CIB manager restarting) would.
type flakyStore struct {
	*delivery.MemStore
	refuse atomic.Int32
}

func (s *flakyStore) Add(ctx context.Context, e delivery.Event, sinks []string) error {
	if s.refuse.Add(-1) >= 0 {
		return errors.New("cibadmin: Update was older than existing configuration")
	}
	return s.MemStore.Add(ctx, e, sinks)
}

// fakeTools stands in for stonith_admin and crm_attribute: no fencing,
// and the vnfha-ran records written kept by node.
type fakeTools struct {
	mu     sync.Mutex
	ran    map[string]string
	fences []crmwrap.Fencing
	reads  int
}

func (f *fakeTools) FenceHistory(context.Context) ([]crmwrap.Fencing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.fences, nil
}
func (f *fakeTools) SetNodeAttr(_ context.Context, node, name, value string, lt crmwrap.Lifetime) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != RanAttribute || lt != crmwrap.LifetimeForever {
		return fmt.Errorf("unexpected attribute %s (%s)", name, lt)
	}
	if f.ran == nil {
		f.ran = map[string]string{}
	}
	f.ran[node] = value
	return nil
}

func (f *fakeTools) written() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.ran)
}

// waitIDs waits, boundedly, until the sink has exactly want, in order.
func waitIDs(t *testing.T, s *recordingSink, want []string) {
	t.Helper()
	waitDelivered(t, s, want, true)
}

// waitDelivered is waitIDs; without inOrder, the order does not matter
// (events of different subjects are delivered concurrently).
func waitDelivered(t *testing.T, s *recordingSink, want []string, inOrder bool) {
	t.Helper()
	if !inOrder {
		want = slices.Sorted(slices.Values(want))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.ids()
		if !inOrder {
			slices.Sort(got)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runBridge runs a bridge with the given sink and store on the recorded
// CIBs named, in order, and returns a func that stops it.
func runBridge(t *testing.T, sink delivery.Sink, store EventStore, cibs ...string) (*Bridge, func()) {
	return runBridgeTools(t, sink, store, &fakeTools{}, cibs...)
}

func runBridgeTools(t *testing.T, sink delivery.Sink, store EventStore, tools ClusterTools, cibs ...string) (*Bridge, func()) {
	return runBridgeConfig(t, "cluster: lab\n"+minimalConfig+"node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}\n",
		sink, store, tools, cibs...)
}

func runBridgeConfig(t *testing.T, doc string, sink delivery.Sink, store EventStore, tools ClusterTools, cibs ...string) (*Bridge, func()) {
	t.Helper()
	cfg, err := ParseConfig([]byte("listen: \"\"\ndelivery: {min_backoff: 10ms, max_backoff: 50ms}\n" + doc))
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{ch: make(chan cluster.Snapshot)}
	b, err := New(cfg, Options{Log: quietLog(), Source: src, Pools: map[string]reconciler{"lb1": stubPool{}},
		Sinks: []delivery.Sink{sink}, Store: store, Cluster: tools})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	for _, c := range cibs {
		src.push(t, fixture(t, c), cluster.ReasonNotify)
	}
	return b, func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}

// TestDeliveryWiring: the bridge derives the events of each view and of
// HAProxy's checks and delivers them through the queue; a store that
// refuses a write is tried again; a new bridge with the same store (a
// failover) sends nothing twice, and delivers what the first left owed.
func TestDeliveryWiring(t *testing.T) {
	const (
		failed  = "vnfc.failed lab/web/node2/failed/13-1796283797"
		recover = "vnfc.recovered lab/web/node2/failed/13-1796283797/recovered"
	)
	store := &flakyStore{MemStore: delivery.NewMemStore()}
	store.refuse.Store(2)
	sink := &recordingSink{}
	tools := &fakeTools{}
	b, stop := runBridgeTools(t, sink, store, tools, "running", "web-failed", "web-recovered")
	waitIDs(t, sink, []string{failed, recover})
	// Which instances run where is written down, for vnfc.lost: web
	// runs on every node of the recorded cluster.
	deadline := time.Now().Add(5 * time.Second)
	for len(tools.written()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for node, v := range tools.written() {
		rec, err := parseRan(v)
		if err != nil || !slices.Contains(rec.Instances, "web") {
			t.Errorf("vnfha-ran of %s: %q (%v); want web listed", node, v, err)
		}
	}
	if n := len(tools.written()); n != 3 {
		t.Errorf("vnfha-ran written for %d nodes, want 3: %v", n, tools.written())
	}

	// An lb event, as the HAProxy loop publishes it.
	b.Bus.Publish(Event{Type: delivery.LBBackendDown, Time: time.Now(), HAProxy: "lb1", Backend: "be_static",
		Server: "static1", From: "UP", To: "DOWN", Detail: "status DOWN, check L4CON", Ref: "4242-1-1796283800",
		Changed: time.Unix(1796283800, 0)})
	lb := "lb.backend_down lab/lb/lb1/be_static/static1/down/4242-1-1796283800"
	waitIDs(t, sink, []string{failed, recover, lb})
	st := b.Status()
	if d := st.Deliveries["rec"]; d.Delivered != 3 || d.Pending != 0 {
		t.Errorf("status: %+v, want 3 delivered, none pending", d)
	}
	// The store's two refusals show, each retried.
	if st.Events == nil || st.Events.StoreErrors != 2 || st.Events.LastError == "" {
		t.Errorf("status events: %+v, want the 2 refusals", st.Events)
	}
	stop()

	// The failover: the same store, the same facts. Nothing again.
	sink2 := &recordingSink{}
	_, stop = runBridge(t, sink2, store, "web-recovered")
	time.Sleep(200 * time.Millisecond) // nothing is expected: give it the time to be wrong
	if got := sink2.ids(); len(got) != 0 {
		t.Errorf("the new bridge delivered again: %q", got)
	}
	stop()

	// A bridge that dies with a delivery owed: the next one delivers it.
	owed := delivery.NewMemStore()
	down := &recordingSink{}
	down.fail.Store(1 << 20)
	_, stop = runBridge(t, down, owed, "web-failed")
	deadline = time.Now().Add(5 * time.Second)
	for {
		p, _ := owed.Pending(context.Background())
		if len(p) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	up := &recordingSink{}
	_, stop = runBridge(t, up, owed)
	waitIDs(t, up, []string{failed})
	stop()
}

// TestDeliveryLost: a node lost and fenced, as the recorded CIBs and
// fencing history show it: the fencing history is read only once a node
// is lost, each instance its vnfha-ran record lists is reported lost, and
// the record is not rewritten before (it is what the losses come from).
func TestDeliveryLost(t *testing.T) {
	tools := &fakeTools{fences: loadFences(t, "history-once.xml")}
	sink := &recordingSink{}
	_, stop := runBridgeConfig(t, eventsConfig, sink, delivery.NewMemStore(), tools, "ran-recorded")
	time.Sleep(100 * time.Millisecond) // a view with nothing lost: nothing to read
	tools.mu.Lock()
	reads := tools.reads
	tools.mu.Unlock()
	if reads != 0 {
		t.Errorf("the fencing history was read %d times with no node lost", reads)
	}
	stop()
	_, stop = runBridgeConfig(t, eventsConfig, sink, delivery.NewMemStore(), tools, "node3-lost-fenced")
	defer stop()
	waitDelivered(t, sink, []string{"vnfc.lost lab/app/node3/lost/1796304980", "vnfc.lost lab/solo/node3/lost/1796304980"}, false)
	if v, ok := tools.written()["node3"]; ok {
		t.Errorf("node3's record rewritten while it is fenced and its instances gone: %q", v)
	}
}

// brokenFencer cannot read the fencing history (stonith_admin failing).
type brokenFencer struct{ fakeTools }

func (*brokenFencer) FenceHistory(context.Context) ([]crmwrap.Fencing, error) {
	return nil, errors.New("stonith_admin: Connection refused")
}

// TestNoPruneWithoutHistory: while the fencing history cannot be read,
// the losses are missing from the facts, not gone: what the sinks have of
// them is not forgotten, however long it lasts (else the Heal would be
// sent again once the history is read).
func TestNoPruneWithoutHistory(t *testing.T) {
	cfg, err := ParseConfig([]byte(eventsConfig))
	if err != nil {
		t.Fatal(err)
	}
	const lost = "lab/app/node3/lost/1796304980"
	store := delivery.NewMemStore()
	ctx := context.Background()
	if err := store.Add(ctx, delivery.Event{ID: lost}, []string{"heal"}); err != nil {
		t.Fatal(err)
	}
	if err := store.Done(ctx, lost, "heal"); err != nil {
		t.Fatal(err)
	}
	// No sink wants anything: the test is about what the store forgets.
	q := delivery.NewQueue(delivery.QueueOptions{Store: store})
	f := loadFacts(t, cfg, "node3-lost-fenced.xml")
	for _, tt := range []struct {
		name  string
		tools ClusterTools
		kept  bool
	}{
		{"history unreadable", &brokenFencer{}, true},
		{"history read", &fakeTools{fences: loadFences(t, "history-once.xml")}, true},
		{"node back, history not needed", &fakeTools{}, false},
	} {
		n := newNotifier(cfg, q, store, tt.tools, quietLog())
		n.gone[lost] = time.Now().Add(-2 * pruneGrace)
		facts := f
		if !tt.kept {
			facts = loadFacts(t, cfg, "node3-rejoined.xml")
		}
		n.offerFacts(ctx, facts)
		if seen, _ := store.Seen(ctx, lost, "heal"); seen != tt.kept {
			t.Errorf("%s: the delivered loss still known: %v, want %v", tt.name, seen, tt.kept)
		}
	}
}
