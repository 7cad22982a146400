package cibstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
)

// Ids of the events in testdata (see testdata/README.md).
const (
	idNode2 = "lab/web/node2/failed/12-1740830400"
	idGone  = "lab/web/node9/failed/3-1740830401"
	idHuge  = "lab/web/node1/failed/huge"
)

var idOdd = "lab/w\"e'b<&>\n\t/ünï\u2028/" + strings.Repeat("x", 500)

func readData(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call is one cibadmin run the store made.
type call struct {
	args  []string
	stdin string
}

// fakeCIB stands at the crmwrap.Runner seam: it answers queries with a
// recorded <nodes> section (the next of nodes, then the last again) and
// writes with fail's answer (nil: success), and records every call. It
// does not apply writes: what Pacemaker does with them is TestCIBStore's.
type fakeCIB struct {
	mu    sync.Mutex
	nodes [][]byte
	fail  func(args []string, stdin string) error
	calls []call
}

func (f *fakeCIB) Run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{args: slices.Clone(args), stdin: string(stdin)})
	fail := f.fail
	var out []byte
	if slices.Contains(args, "--query") {
		out = f.nodes[0]
		if len(f.nodes) > 1 {
			f.nodes = f.nodes[1:]
		}
	}
	f.mu.Unlock()
	if name != "cibadmin" {
		return nil, fmt.Errorf("fake: unexpected tool %s", name)
	}
	if fail != nil {
		if err := fail(args, string(stdin)); err != nil {
			return nil, err
		}
	}
	return out, ctx.Err()
}

func (f *fakeCIB) writes() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if !slices.Contains(c.args, "--query") {
			out = append(out, c)
		}
	}
	return out
}

func newStore(t *testing.T, f *fakeCIB, o Options) (*Store, *logtest.Hook) {
	t.Helper()
	l, hook := logtest.NewNullLogger()
	o.Client, o.Log = crmwrap.New(f), l
	if o.LocalNode == "" {
		o.LocalNode = "node1"
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, hook
}

func pendingMap(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	p, err := s.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for i, pe := range p {
		if i > 0 && pe.Event.Time.Before(p[i-1].Event.Time) {
			t.Errorf("Pending not oldest first at %d", i)
		}
		m[pe.Event.ID] = slices.Sorted(slices.Values(pe.Sinks))
	}
	return m
}

// TestLoadRecorded reads the <nodes> sections recorded in the lab.
func TestLoadRecorded(t *testing.T) {
	want := map[string][]string{idNode2: {"vnfm"}, idGone: {"vnfm", "webhook"}, idOdd: {"webhook"}, idHuge: {"vnfm", "webhook"}}
	for _, file := range []string{"nodes-written.xml", "nodes-node1-lost.xml"} {
		t.Run(file, func(t *testing.T) {
			f := &fakeCIB{nodes: [][]byte{readData(t, file)}}
			s, hook := newStore(t, f, Options{LocalNode: "node3"})
			if got := pendingMap(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("pending\n got %q\nwant %q", got, want)
			}
			for _, c := range []struct {
				id, sink string
				want     bool
			}{{idNode2, "webhook", true}, {idNode2, "vnfm", false}, {idOdd, "vnfm", true}, {idHuge, "webhook", false}, {"lab/edited", "vnfm", false}} {
				if got, _ := s.Seen(context.Background(), c.id, c.sink); got != c.want {
					t.Errorf("Seen(%.20q, %s) = %v", c.id, c.sink, got)
				}
			}
			p, _ := s.Pending(context.Background())
			for _, pe := range p {
				if pe.Event.ID == idHuge && (len(pe.Event.Data.Reason) < 4000 || !strings.HasSuffix(pe.Event.Data.Reason, trimmedMark)) {
					t.Errorf("huge reason read back as %d bytes", len(pe.Event.Data.Reason))
				}
			}
			// The operator's value: one warning, naming it, at load only.
			var warned []string
			for _, e := range hook.AllEntries() {
				warned = append(warned, fmt.Sprint(e.Data["attribute"]))
			}
			if !slices.Equal(warned, []string{AttrName("lab/edited")}) {
				t.Errorf("warnings for %v", warned)
			}
			if len(f.calls) != 1 {
				t.Errorf("%d cibadmin calls, want the one query", len(f.calls))
			}
		})
	}
}

// TestWrites checks the fragment each change sends, and which changes
// send none.
func TestWrites(t *testing.T) {
	ctx := context.Background()
	empty := []byte("<nodes>\n  <node id=\"1\" uname=\"node1\"/>\n  <node id=\"2\" uname=\"node2\">\n    <instance_attributes id=\"custom-2\"/>\n  </node>\n</nodes>\n")
	e2 := delivery.Event{ID: "a", Time: time.Unix(10, 0).UTC(), Data: delivery.Data{Node: "node2"}}
	e9 := delivery.Event{ID: "b", Time: time.Unix(5, 0).UTC(), Data: delivery.Data{Node: "node9"}}
	n2, n9 := AttrName("a"), AttrName("b")
	frag := func(nodeID, set, name, owed, done string, ev delivery.Event) string {
		v, _ := encodeRecord(record{Event: ev, Owed: strings.Fields(owed), Done: strings.Fields(done)})
		return string(modifyFragment([]pairWrite{{At: place{NodeID: nodeID, SetID: set, PairID: "nodes-" + nodeID + "-" + name}, Name: name, Value: v}}))
	}
	mod := []string{"--modify", "--scope", "nodes", "--xml-pipe"}
	tests := []struct {
		name string
		do   func(s *Store) error
		want []call
	}{
		{"on the event's node, in its block", func(s *Store) error { return s.Add(ctx, e2, []string{"w", "v"}) },
			[]call{{mod, frag("2", "custom-2", n2, "w v", "", e2)}}},
		{"not a node: on the local node, new block", func(s *Store) error { return s.Add(ctx, e9, []string{"w"}) },
			[]call{{mod, frag("1", "nodes-1", n9, "w", "", e9)}}},
		{"merge", func(s *Store) error {
			_ = s.Add(ctx, e2, []string{"w"})
			return s.Add(ctx, e2, []string{"w", "v", "v"})
		}, []call{{mod, frag("2", "custom-2", n2, "w", "", e2)}, {mod, frag("2", "custom-2", n2, "w v", "", e2)}}},
		{"nothing new: no write", func(s *Store) error {
			_ = s.Add(ctx, e2, []string{"w", "v"})
			return s.Add(ctx, e2, []string{"v"})
		}, []call{{mod, frag("2", "custom-2", n2, "w v", "", e2)}}},
		{"done, twice", func(s *Store) error {
			_ = s.Add(ctx, e2, []string{"w", "v"})
			_ = s.Done(ctx, "a", "w")
			return s.Done(ctx, "a", "w")
		}, []call{{mod, frag("2", "custom-2", n2, "w v", "", e2)}, {mod, frag("2", "custom-2", n2, "v", "w", e2)}}},
		{"done, unknown event: nothing", func(s *Store) error { return s.Done(ctx, "zz", "w") }, nil},
		{"add a done sink again: owed again", func(s *Store) error {
			_ = s.Add(ctx, e2, []string{"w"})
			_ = s.Done(ctx, "a", "w")
			return s.Add(ctx, e2, []string{"w"})
		}, []call{{mod, frag("2", "custom-2", n2, "w", "", e2)}, {mod, frag("2", "custom-2", n2, "", "w", e2)}, {mod, frag("2", "custom-2", n2, "w", "", e2)}}},
		{"prune: only done and gone, one call", func(s *Store) error {
			_ = s.Add(ctx, e2, []string{"w"})
			_ = s.Add(ctx, e9, []string{"w"})
			_ = s.Add(ctx, delivery.Event{ID: "c"}, []string{"w"})
			_ = s.Done(ctx, "a", "w")
			_ = s.Done(ctx, "b", "w")
			_ = s.Done(ctx, "c", "w")
			s.o.Client.Runner.(*fakeCIB).calls = nil
			n, err := s.Prune(ctx, func(id string) bool { return id == "c" })
			if n != 2 || s.Len() != 1 {
				return fmt.Errorf("pruned %d, %d left", n, s.Len())
			}
			return err
		}, []call{{[]string{"--delete-all", "--force", "--xpath", "/cib/configuration/nodes/node/instance_attributes/nvpair[starts-with(@name,'vnfha-ev-') and (@id='nodes-1-" + n9 + "' or @id='nodes-2-" + n2 + "')]"}, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeCIB{nodes: [][]byte{empty}}
			s, _ := newStore(t, f, Options{})
			if err := tt.do(s); err != nil {
				t.Fatal(err)
			}
			if got := f.writes(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("writes\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestHostile: what an operator, a failing or hanging cibadmin, a node
// removed meanwhile, a huge event or a full store do to the store.
func TestHostile(t *testing.T) {
	ctx := context.Background()
	written := readData(t, "nodes-written.xml")
	ev := func(id, node string) delivery.Event {
		return delivery.Event{ID: id, Time: time.Unix(1, 0).UTC(), Data: delivery.Data{Node: node}}
	}
	t.Run("operator's value is never overwritten", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{written}}
		s, _ := newStore(t, f, Options{})
		if err := s.Add(ctx, ev("lab/edited", "node2"), []string{"w"}); !errors.Is(err, ErrNotOurs) {
			t.Errorf("Add: %v", err)
		}
		if err := s.Done(ctx, "lab/edited", "w"); !errors.Is(err, ErrNotOurs) {
			t.Errorf("Done: %v", err)
		}
		if n, err := s.Prune(ctx, func(string) bool { return false }); err != nil || n != 0 {
			t.Errorf("Prune: %d %v", n, err)
		}
		if w := f.writes(); len(w) != 0 {
			t.Errorf("writes: %q", w)
		}
	})
	t.Run("node removed: kept on the local node", func(t *testing.T) {
		gone := []byte(strings.Replace(string(written), `<node id="2" uname="node2">`, `<node id="7" uname="node7">`, 1))
		f := &fakeCIB{nodes: [][]byte{written, gone}}
		f.fail = func(args []string, stdin string) error {
			if strings.Contains(stdin, `<node id="2">`) {
				return &crmwrap.ExitError{Tool: "cibadmin", Code: crmwrap.ExitNoSuch, Stderr: []byte("Call cib_modify failed: No such device or address")}
			}
			return nil
		}
		s, _ := newStore(t, f, Options{})
		if err := s.Done(ctx, idNode2, "vnfm"); err != nil {
			t.Fatal(err)
		}
		w := f.writes()
		if len(w) != 2 || !strings.Contains(w[1].stdin, `<node id="1"><instance_attributes id="nodes-1"><nvpair id="nodes-1-`+AttrName(idNode2)) ||
			!strings.Contains(w[1].stdin, `&#34;owed&#34;:[],&#34;done&#34;:[&#34;webhook&#34;,&#34;vnfm&#34;]`) {
			t.Errorf("writes: %q", w)
		}
		if seen, _ := s.Seen(ctx, idNode2, "webhook"); !seen {
			t.Error("the done mark was lost in the move")
		}
	})
	t.Run("rehome after a node left", func(t *testing.T) {
		gone := []byte(strings.Replace(string(written), `<node id="2" uname="node2">`, `<node id="7" uname="node7">`, 1))
		f := &fakeCIB{nodes: [][]byte{written, written, gone}}
		s, _ := newStore(t, f, Options{LocalNode: "node3"})
		if n, err := s.Rehome(ctx); n != 0 || err != nil {
			t.Errorf("Rehome with every node there: %d, %v", n, err)
		}
		if n, err := s.Rehome(ctx); n != 1 || err != nil {
			t.Errorf("Rehome: %d, %v; want 1 (the operator's value stays where it is)", n, err)
		}
		w := f.writes()
		if len(w) != 1 || !strings.HasPrefix(w[0].stdin, `<node id="3"><instance_attributes id="nodes-3"><nvpair id="nodes-3-`+AttrName(idNode2)+`"`) {
			t.Errorf("writes: %q", w)
		}
		if seen, _ := s.Seen(ctx, idNode2, "webhook"); !seen {
			t.Error("done mark lost")
		}
	})
	t.Run("cibadmin fails: error, nothing recorded", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{written}}
		f.fail = func(args []string, _ string) error {
			if args[0] == "--modify" {
				return &crmwrap.ExitError{Tool: "cibadmin", Code: 106, Stderr: []byte("no quorum")}
			}
			return nil
		}
		s, _ := newStore(t, f, Options{})
		err := s.Add(ctx, ev("new", "node2"), []string{"w"})
		if crmwrap.ExitCode(err) != 106 || !strings.Contains(err.Error(), `add event "new" to the CIB store`) {
			t.Errorf("Add: %v", err)
		}
		if err := s.Done(ctx, idNode2, "vnfm"); crmwrap.ExitCode(err) != 106 {
			t.Errorf("Done: %v", err)
		}
		if p := pendingMap(t, s); len(p) != 4 || len(p[idNode2]) != 1 {
			t.Errorf("pending after failed writes: %q", p)
		}
	})
	t.Run("cibadmin hangs: bounded by Timeout", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{written}}
		f.fail = func(args []string, _ string) error {
			if args[0] == "--modify" {
				time.Sleep(2 * time.Second) // a real runner is killed with ctx; this one is not
			}
			return nil
		}
		hang := &hangRunner{fakeCIB: f}
		s, _ := newStore(t, f, Options{Timeout: 50 * time.Millisecond})
		s.o.Client = crmwrap.New(hang)
		t0 := time.Now()
		err := s.Add(ctx, ev("new", "node2"), []string{"w"})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > time.Second {
			t.Errorf("Add: %v after %s", err, time.Since(t0))
		}
	})
	t.Run("caller gives up, the write lands: in the mirror too", func(t *testing.T) {
		gate := make(chan struct{})
		f := &fakeCIB{nodes: [][]byte{written}}
		f.fail = func(args []string, _ string) error {
			if args[0] == "--modify" {
				<-gate
			}
			return nil
		}
		s, _ := newStore(t, f, Options{})
		if _, err := s.Pending(ctx); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := s.Add(cctx, ev("abandoned", "node2"), []string{"w"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Add: %v", err)
		}
		close(gate)
		for i := 0; s.Len() != 5; i++ {
			if i == 500 {
				t.Fatalf("the applied write never reached the mirror: %d entries", s.Len())
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err := s.Add(cctx, ev("after", "node2"), []string{"w"}); !errors.Is(err, context.DeadlineExceeded) || len(f.writes()) != 1 {
			t.Errorf("Add with an ended context: %v, %d writes", err, len(f.writes()))
		}
	})
	t.Run("query fails, then works", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{written}}
		fails := 1
		f.fail = func(args []string, _ string) error {
			if fails > 0 {
				fails--
				return &crmwrap.ExitError{Tool: "cibadmin", Code: crmwrap.ExitNotConnected}
			}
			return nil
		}
		s, _ := newStore(t, f, Options{})
		if _, err := s.Pending(ctx); crmwrap.ExitCode(err) != crmwrap.ExitNotConnected || !strings.Contains(err.Error(), "load the delivery store") {
			t.Errorf("Pending: %v", err)
		}
		if p := pendingMap(t, s); len(p) != 4 {
			t.Errorf("after a retry: %q", p)
		}
	})
	t.Run("not XML", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{[]byte("Signon to CIB failed")}}
		s, _ := newStore(t, f, Options{})
		if _, err := s.Seen(ctx, "x", "y"); err == nil {
			t.Error("Seen over garbage: no error")
		}
	})
	t.Run("full", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{written}}
		s, _ := newStore(t, f, Options{MaxEntries: 5})
		if err := s.Add(ctx, ev("fifth", "node2"), []string{"w"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, ev("sixth", "node2"), []string{"w"}); !errors.Is(err, ErrFull) {
			t.Errorf("Add past MaxEntries: %v", err)
		}
		if err := s.Add(ctx, ev(idNode2, "node2"), []string{"other"}); err != nil {
			t.Errorf("a known event, full store: %v", err)
		}
	})
	t.Run("huge event", func(t *testing.T) {
		f := &fakeCIB{nodes: [][]byte{written}}
		s, _ := newStore(t, f, Options{})
		e := ev("big", "node2")
		e.Data.Reason = strings.Repeat("\u2028\x00<", 20000)
		if err := s.Add(ctx, e, []string{"w"}); err != nil {
			t.Fatal(err)
		}
		if w := f.writes(); len(w) != 1 || len(w[0].stdin) > 3*MaxValue {
			t.Errorf("write of %d bytes", len(w[0].stdin))
		}
		e.ID = strings.Repeat("i", MaxValue)
		if err := s.Add(ctx, e, []string{"w"}); err == nil || !strings.Contains(err.Error(), "even without its reason") {
			t.Errorf("an id larger than the cap: %v", err)
		}
		if err := s.Add(ctx, delivery.Event{}, []string{"w"}); err == nil {
			t.Error("empty id accepted")
		}
		if err := s.Add(ctx, ev("x", "node2"), []string{""}); err == nil {
			t.Error("empty sink accepted by Add")
		}
		if err := s.Done(ctx, idNode2, ""); err == nil {
			t.Error("empty sink accepted by Done")
		}
		err := s.Add(ctx, delivery.Event{ID: strings.Repeat("long", 1<<14)}, []string{"w"})
		if err == nil || len(err.Error()) > 400 {
			t.Errorf("an error carries %d bytes", len(err.Error()))
		}
	})
	t.Run("options", func(t *testing.T) {
		if _, err := New(Options{LocalNode: "n"}); err == nil {
			t.Error("no client accepted")
		}
		if _, err := New(Options{Client: crmwrap.New(nil)}); err == nil {
			t.Error("no local node accepted")
		}
	})
}

// hangRunner passes calls to a fakeCIB but returns when ctx ends, as
// crmwrap.ExecRunner does when it kills the tool.
type hangRunner struct{ *fakeCIB }

func (h *hangRunner) Run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	type res struct {
		out []byte
		err error
	}
	ch := make(chan res, 1)
	go func() { o, e := h.fakeCIB.Run(ctx, name, args, stdin); ch <- res{o, e} }()
	select {
	case r := <-ch:
		return r.out, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("run %s: %w", name, ctx.Err())
	}
}

// TestConcurrent: many goroutines add and complete events, several on the
// same event at once; each event's writes reach cibadmin in the order the
// store made them, so the last one is the final state. Run with -race.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	f := &fakeCIB{nodes: [][]byte{readData(t, "nodes-written.xml")}}
	s, _ := newStore(t, f, Options{})
	sinks := []string{"a", "b", "c"}
	const events = 40
	var wg sync.WaitGroup
	for i := range events {
		id := fmt.Sprintf("ev/%d/'\"<>", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Add(ctx, delivery.Event{ID: id, Time: time.Unix(int64(i), 0), Data: delivery.Data{Node: fmt.Sprintf("node%d", i%3+1)}}, sinks); err != nil {
				t.Error(err)
				return
			}
			var inner sync.WaitGroup
			for _, sink := range sinks {
				inner.Add(2)
				for range 2 {
					go func() {
						defer inner.Done()
						if err := s.Done(ctx, id, sink); err != nil {
							t.Error(err)
						}
						if _, err := s.Seen(ctx, id, sink); err != nil {
							t.Error(err)
						}
					}()
				}
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	if p := pendingMap(t, s); len(p) != 4 {
		t.Errorf("pending: %q", p)
	}
	// The last value written for each name, in the order of the calls.
	last := map[string]string{}
	batched := 0
	for _, w := range f.writes() {
		frag := "<nodes>" + regexp.MustCompile(`<node id="[^"]*"`).ReplaceAllStringFunc(w.stdin, func(m string) string { return m + ` uname="u"` }) + "</nodes>"
		nodes, err := parseNodes([]byte(frag))
		if err != nil || len(nodes) != 1 {
			t.Fatalf("%q: %v", w.stdin, err)
		}
		batched = max(batched, len(nodes[0].Pairs))
		for _, p := range nodes[0].Pairs {
			last[p.Name] = p.Value
		}
	}
	if len(last) != events {
		t.Errorf("%d events written, want %d", len(last), events)
	}
	for name, v := range last {
		rec, err := decodeRecord(name, v)
		if err != nil || len(rec.Owed) != 0 || len(rec.Done) != 3 {
			t.Errorf("last write of %s: %+v %v", name, rec, err)
		}
	}
	t.Logf("%d writes, up to %d pairs in one", len(f.writes()), batched)
}

// TestGroupCommit: writes to one node that arrive while a call runs go
// together in the next call; writes to another node do not wait.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	gate := make(chan struct{})
	first := true
	f := &fakeCIB{nodes: [][]byte{readData(t, "nodes-written.xml")}}
	f.fail = func(args []string, stdin string) error {
		if args[0] == "--modify" && strings.Contains(stdin, `<node id="2">`) {
			f.mu.Lock()
			wait := first
			first = false
			f.mu.Unlock()
			if wait {
				<-gate
			}
		}
		return nil
	}
	s, _ := newStore(t, f, Options{})
	add := func(id, node string) chan error {
		ch := make(chan error, 1)
		go func() { ch <- s.Add(ctx, delivery.Event{ID: id, Data: delivery.Data{Node: node}}, []string{"w"}) }()
		return ch
	}
	held := add("first", "node2")
	waitCalls := func(n int) {
		t.Helper()
		for range 500 {
			if len(f.writes()) >= n {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("fewer than %d writes", n)
	}
	waitCalls(1)
	var rest []chan error
	for i := range 10 {
		rest = append(rest, add(fmt.Sprint("next", i), "node2"))
	}
	if err := <-add("elsewhere", "node3"); err != nil { // not behind node2's call
		t.Fatal(err)
	}
	for i := 0; ; i++ { // the ten wait behind the held call
		s.bmu.Lock()
		n := len(s.batches["2"])
		s.bmu.Unlock()
		if n == 10 {
			break
		}
		if i == 1000 {
			t.Fatalf("%d writes queued for node2, want 10", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(gate)
	for _, ch := range append(rest, held) {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	var node2 []int
	for _, w := range f.writes() {
		if strings.Contains(w.stdin, `<node id="2">`) {
			node2 = append(node2, strings.Count(w.stdin, "<nvpair"))
		}
	}
	if fmt.Sprint(node2) != "[1 10]" {
		t.Errorf("node2's calls carried %v pairs; want [1 10]", node2)
	}
	if p := pendingMap(t, s); len(p) != 4+12 {
		t.Errorf("%d pending", len(p))
	}
}

// TestRecordRoundTrip: any id and text survives the value, ASCII only.
func TestRecordRoundTrip(t *testing.T) {
	rc := -3
	for _, id := range []string{"a", idOdd, "\x00\xff\xfe", "\uFFFE\uFFFF\U0001F600", strings.Repeat("é", 400)} {
		e := delivery.Event{ID: id, Type: "t\n", Subject: id, Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Data: delivery.Data{RC: &rc, Reason: id}}
		v, err := encodeRecord(record{Event: e, Owed: []string{"s"}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(v) {
			if v[i] < 0x20 || v[i] >= 0x7f {
				t.Fatalf("byte %#x at %d", v[i], i)
			}
		}
		r, err := decodeRecord(AttrName(id), v)
		if err != nil {
			t.Fatal(err)
		}
		want := canonID(id)
		if r.Event.ID != want || r.Event.Data.Reason != want || !r.Event.Time.Equal(e.Time) || *r.Event.Data.RC != rc {
			t.Errorf("%.20q: got %+v", id, r.Event)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := encodeRecord(record{Event: delivery.Event{ID: "x"}, Owed: []string{"a"}})
	for _, tt := range []struct{ name, value string }{
		{AttrName("x"), ""},
		{AttrName("x"), "1"},
		{AttrName("x"), strings.Replace(good, `"v":1`, `"v":2`, 1)},
		{AttrName("y"), good},
		{AttrName("x"), good + "{}"},
		{AttrName("x"), strings.Replace(good, `"done":[]`, `"done":["a"]`, 1)},
		{AttrName("x"), strings.Replace(good, `"owed":["a"]`, `"owed":[""]`, 1)},
		{AttrName(""), strings.Replace(good, `"ID":"x"`, `"ID":""`, 1)},
	} {
		if _, err := decodeRecord(tt.name, tt.value); !errors.Is(err, errNotOurs) {
			t.Errorf("%q: %v", tt.value, err)
		}
	}
	if _, err := decodeRecord(AttrName("x"), good); err != nil {
		t.Error(err)
	}
}

// FuzzParseNodes feeds the <nodes> parser and the value decoder anything:
// neither panics, and a value the decoder accepts encodes back to one it
// accepts with the same content.
func FuzzParseNodes(f *testing.F) {
	for _, name := range []string{"nodes-written.xml", "nodes-node1-lost.xml"} {
		f.Add(readData(f, name))
	}
	f.Add([]byte(`<nodes><node id="1" uname="n"><instance_attributes id="s"><nvpair id="p" name="vnfha-ev-0" value="{&quot;v&quot;:1}"/></instance_attributes></node></nodes>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := parseNodes(data)
		if err != nil {
			return
		}
		for _, n := range nodes {
			for _, p := range n.Pairs {
				r, err := decodeRecord(p.Name, p.Value)
				if err != nil {
					continue
				}
				v, err := encodeRecord(r)
				if err != nil {
					continue // larger than the cap without a reason: refused at Add
				}
				r2, err := decodeRecord(p.Name, v)
				if err != nil || r2.Event.ID != r.Event.ID || !slices.Equal(r2.Owed, r.Owed) || !slices.Equal(r2.Done, r.Done) {
					t.Fatalf("round trip: %v\n%+v\n%+v", err, r, r2)
				}
			}
		}
	})
}

// FuzzEncodeRecord: whatever an event holds, the value is ASCII, within
// MaxValue, and reads back as the same event, its Reason at most trimmed.
func FuzzEncodeRecord(f *testing.F) {
	f.Add("lab/web/node2/failed/1-2", "exit 1", "web:node2", 1)
	f.Add(idOdd, strings.Repeat("ä\u2028", 3000), "\x00", 300)
	f.Fuzz(func(t *testing.T, id, reason, subject string, repeat int) {
		if id == "" {
			return
		}
		reason = strings.Repeat(reason, max(0, min(repeat, 100)))
		e := delivery.Event{ID: id, Subject: subject, Data: delivery.Data{Reason: reason}}
		v, err := encodeRecord(record{Event: e, Owed: []string{"s"}})
		if err != nil {
			return
		}
		if len(v) > MaxValue {
			t.Fatalf("%d bytes", len(v))
		}
		r, err := decodeRecord(AttrName(id), v)
		if err != nil {
			t.Fatal(err)
		}
		valid := canonID
		if r.Event.ID != valid(id) || r.Event.Subject != valid(subject) {
			t.Fatalf("changed: %+v", r.Event)
		}
		got, full := r.Event.Data.Reason, valid(reason)
		if got != full && !(strings.HasSuffix(got, trimmedMark) && strings.HasPrefix(full, strings.TrimSuffix(got, trimmedMark))) && got != "" {
			t.Fatalf("reason %q is not a trimmed prefix", got)
		}
	})
}
