package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// hookStore wraps a replica's store to hold its appends (a slow or
// dying standby) or fail them.
type hookStore struct {
	Store
	mu      sync.Mutex
	block   chan struct{}
	entered chan struct{}
	fail    error
	sizes   []int // of every Append's batch
}

func (h *hookStore) Append(es []checkpoint.Entry) error {
	h.mu.Lock()
	b := h.block
	h.sizes = append(h.sizes, len(es))
	h.mu.Unlock()
	if b != nil {
		select {
		case h.entered <- struct{}{}:
		default:
		}
		<-b
	}
	h.mu.Lock()
	err := h.fail
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return h.Store.Append(es)
}

func (h *hookStore) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.block = make(chan struct{})
}

// release lets held appends go on, or fail with err (a process that
// died before its fdatasync).
func (h *hookStore) release(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = err
	if h.block != nil {
		close(h.block)
		h.block = nil
	}
}

func hooked(c *cluster) map[string]*hookStore {
	hs := map[string]*hookStore{}
	var mu sync.Mutex
	c.wrap = func(name string, st Store) Store {
		mu.Lock()
		defer mu.Unlock()
		h := &hookStore{Store: st, entered: make(chan struct{}, 1)}
		hs[name] = h
		return h
	}
	return hs
}

// ackedNow checks the rule at the moment rev was acknowledged by
// primary: every peer holds rev durably or is marked stale.
func (c *cluster) ackedNow(primary string, rev uint64) {
	c.t.Helper()
	for _, n := range c.names {
		if n == primary {
			continue
		}
		node := c.nodes[n]
		held := node.st != nil && node.st.Position().Rev >= rev
		if !held && c.marks.mark(n) != checkpoint.MarkStale {
			c.t.Errorf("revision %d acknowledged while %s neither holds it nor is marked stale (mark %q)", rev, n, c.marks.mark(n))
		}
	}
}

type putResult struct {
	rev uint64
	err error
}

func asyncPut(r *Replica, key, value string) chan putResult {
	ch := make(chan putResult, 1)
	go func() {
		rev, err := put(r, key, value)
		ch <- putResult{rev, err}
	}()
	return ch
}

// TestAckRule drives the acknowledgement rule through the failures it
// exists for, in both sync modes.
func TestAckRule(t *testing.T) {
	type env struct {
		c     *cluster
		hooks map[string]*hookStore
		mode  string
	}
	cases := []struct {
		name  string
		nodes []string
		run   func(t *testing.T, e env)
	}{
		{"standby killed mid-batch", []string{"node1", "node2"}, func(t *testing.T, e env) {
			e.hooks["node2"].hold()
			res := asyncPut(e.c.r("node1"), "k", "v1")
			<-e.hooks["node2"].entered
			// The standby dies before its fdatasync.
			e.hooks["node2"].release(errors.New("killed"))
			e.c.crash("node2")
			r := <-res
			if e.mode == checkpoint.SyncStrict {
				if !isUnavailable(r.err) {
					t.Fatalf("strict, the only standby dead: %v", r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			e.c.ackedNow("node1", r.rev)
			if e.c.marks.mark("node2") != checkpoint.MarkStale {
				t.Fatal("acknowledged without marking the dead standby stale")
			}
		}},
		{"standby slow past sync_timeout", []string{"node1", "node2"}, func(t *testing.T, e env) {
			e.hooks["node2"].hold()
			r := <-asyncPut(e.c.r("node1"), "k", "v1")
			if e.mode == checkpoint.SyncStrict {
				if !isUnavailable(r.err) {
					t.Fatalf("strict, the only standby silent: %v", r.err)
				}
			} else {
				if r.err != nil {
					t.Fatal(r.err)
				}
				e.c.ackedNow("node1", r.rev)
			}
			if e.c.marks.mark("node2") != checkpoint.MarkStale {
				t.Fatal("the slow standby was not marked stale")
			}
			// It wakes up, catches up, and counts again.
			e.hooks["node2"].release(nil)
			e.c.waitSync("node1", "node2")
			r = <-asyncPut(e.c.r("node1"), "k", "v2")
			if r.err != nil {
				t.Fatal(r.err)
			}
			if e.c.nodes["node2"].st.Position().Rev < r.rev || e.c.marks.mark("node2") != checkpoint.MarkSync {
				t.Fatal("the standby back in the set did not hold the write")
			}
		}},
		{"Marks.Stale fails", []string{"node1", "node2"}, func(t *testing.T, e env) {
			e.c.marks.setFail("node2", errors.New("CIB unreachable"))
			e.c.crash("node2")
			r := <-asyncPut(e.c.r("node1"), "k", "v1")
			if !isUnavailable(r.err) {
				t.Fatalf("acknowledged (or failed otherwise) without a stale mark: %v", r.err)
			}
			if e.c.marks.mark("node2") == checkpoint.MarkStale {
				t.Fatal("marked stale though the mark failed")
			}
			if e.mode == checkpoint.SyncStrict {
				return // refused before any mark was needed
			}
			if s := e.c.r("node1").Status(); len(s.Problems) == 0 {
				t.Fatalf("no problem reported: %+v", s)
			}
			e.c.marks.setFail("node2", nil)
			if e.mode == checkpoint.SyncAvailable {
				waitFor(t, "a write once the mark works", func() bool {
					r = <-asyncPut(e.c.r("node1"), "k", "v2")
					return r.err == nil
				})
				e.c.ackedNow("node1", r.rev)
				waitFor(t, "the problem cleared", func() bool { return len(e.c.r("node1").Status().Problems) == 0 })
			}
		}},
		{"Marks.Stale blocks", []string{"node1", "node2"}, func(t *testing.T, e env) {
			unblock := make(chan struct{})
			e.c.marks.setBlock("node2", unblock)
			e.c.crash("node2")
			res := asyncPut(e.c.r("node1"), "k", "v1")
			if e.mode == checkpoint.SyncStrict {
				// No standby in the set: refused at once, no mark needed.
				if r := <-res; !isUnavailable(r.err) {
					t.Fatalf("strict: %v", r.err)
				}
				return
			}
			<-e.c.marks.blocked
			select {
			case r := <-res:
				t.Fatalf("a write was answered while the stale mark was being written: %+v", r)
			case <-time.After(100 * time.Millisecond):
			}
			close(unblock)
			r := <-res
			if e.mode == checkpoint.SyncStrict {
				if !isUnavailable(r.err) {
					t.Fatalf("strict: %v", r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			e.c.ackedNow("node1", r.rev)
		}},
		{"3 replicas, sync_replicas=1", []string{"node1", "node2", "node3"}, func(t *testing.T, e env) {
			e.c.crash("node3")
			r := <-asyncPut(e.c.r("node1"), "k", "v1")
			if r.err != nil {
				t.Fatalf("one sync standby left: %v", r.err)
			}
			e.c.ackedNow("node1", r.rev)
			if e.c.marks.mark("node3") != checkpoint.MarkStale {
				t.Fatal("node3 not marked stale")
			}
			e.c.crash("node2")
			r = <-asyncPut(e.c.r("node1"), "k", "v2")
			if e.mode == checkpoint.SyncStrict {
				if !isUnavailable(r.err) {
					t.Fatalf("strict with no standby: %v", r.err)
				}
				if s := e.c.r("node1").Status(); s.Writable || s.Unwritable == "" {
					t.Fatalf("status says writable: %+v", s)
				}
			} else {
				if r.err != nil {
					t.Fatal(r.err)
				}
				e.c.ackedNow("node1", r.rev)
			}
		}},
	}
	for _, tc := range cases {
		for _, mode := range []string{checkpoint.SyncStrict, checkpoint.SyncAvailable} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, mode), func(t *testing.T) {
				c := newClusterWith(t, tc.nodes, func(cfg *Config) { cfg.SyncMode = mode }, hooked)
				c.c.promote("node1")
				c.c.waitSync("node1", tc.nodes[1:]...)
				if _, err := put(c.c.r("node1"), "before", "x"); err != nil {
					t.Fatal(err)
				}
				tc.run(t, env{c: c.c, hooks: c.hooks, mode: mode})
			})
		}
	}
}

type hookedCluster struct {
	c     *cluster
	hooks map[string]*hookStore
}

// newClusterWith is newCluster with the stores wrapped before the
// replicas start.
func newClusterWith(t *testing.T, names []string, mod func(*Config), wrap func(*cluster) map[string]*hookStore) hookedCluster {
	t.Helper()
	c := newClusterStopped(t, names, mod)
	hs := wrap(c)
	for _, n := range names {
		c.start(n)
	}
	return hookedCluster{c, hs}
}

var _ = context.Background

// TestOneBatchWaiting: while a batch waits for the standby's ack, the
// writes that come meanwhile are not appended: they wait, and go
// together in the next batch (maxWaiting), so that a primary and a
// standby on one disk make fewer, fuller syncs.
func TestOneBatchWaiting(t *testing.T) {
	c := newClusterWith(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncTimeout = 10 * time.Second }, hooked)
	c.c.promote("node1")
	c.c.waitSync("node1", "node2")
	primary := c.c.nodes["node1"].st
	c.hooks["node2"].hold()
	released := false
	defer func() {
		if !released {
			c.hooks["node2"].release(nil)
		}
	}()
	first := asyncPut(c.c.r("node1"), "a", "1")
	<-c.hooks["node2"].entered
	waitFor(t, "the first batch durable on the primary", func() bool { return primary.Position().Rev >= 2 })
	held := primary.Position().Rev
	c.hooks["node1"].mu.Lock()
	before := len(c.hooks["node1"].sizes)
	c.hooks["node1"].mu.Unlock()
	var later []<-chan putResult
	for _, k := range []string{"b", "c", "d"} {
		later = append(later, asyncPut(c.c.r("node1"), k, "1"))
	}
	// Without the window the pipeline appends them within a millisecond.
	time.Sleep(200 * time.Millisecond)
	if got := primary.Position().Rev; got != held {
		t.Fatalf("appended up to revision %d while revision %d waited for the standby", got, held)
	}
	c.hooks["node2"].release(nil)
	released = true
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	for _, ch := range later {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	c.hooks["node1"].mu.Lock()
	sizes := c.hooks["node1"].sizes[before:]
	c.hooks["node1"].mu.Unlock()
	if len(sizes) != 1 || sizes[0] != 3 {
		t.Fatalf("the three writes that waited were appended as batches of %v, want one of 3", sizes)
	}
}

// TestPutCreated: Put says whether it created its key, also when an
// earlier write of the same batch did (the API answers 201 from it).
func TestPutCreated(t *testing.T) {
	c := newClusterWith(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncTimeout = 10 * time.Second }, hooked)
	c.c.promote("node1")
	c.c.waitSync("node1", "node2")
	r := c.c.r("node1")
	ctx := context.Background()
	c.hooks["node2"].hold()
	released := false
	defer func() {
		if !released {
			c.hooks["node2"].release(nil)
		}
	}()
	first := asyncPut(r, "old", "1")
	<-c.hooks["node2"].entered
	// These wait behind the first batch and go in one batch together.
	type res struct {
		rev     uint64
		created bool
		err     error
	}
	out := make(chan res, 2)
	for i := 0; i < 2; i++ {
		go func() {
			rev, created, err := r.Put(ctx, "new", []byte("v"), checkpoint.Cond{})
			out <- res{rev, created, err}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	c.hooks["node2"].release(nil)
	released = true
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	a, b := <-out, <-out
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	if a.rev > b.rev {
		a, b = b, a
	}
	if !a.created || b.created {
		t.Fatalf("two puts of a new key in one batch: created %v at %d, %v at %d", a.created, a.rev, b.created, b.rev)
	}
	for _, tc := range []struct {
		do      func() (bool, error)
		created bool
	}{
		{func() (bool, error) { _, cr, err := r.Put(ctx, "old", []byte("2"), checkpoint.Cond{}); return cr, err }, false},
		{func() (bool, error) { _, err := r.Delete(ctx, "old", checkpoint.Cond{}); return false, err }, false},
		{func() (bool, error) { _, cr, err := r.Put(ctx, "old", []byte("3"), checkpoint.Cond{}); return cr, err }, true},
	} {
		if cr, err := tc.do(); err != nil || cr != tc.created {
			t.Fatalf("created %v, %v; want %v", cr, err, tc.created)
		}
	}
}

// TestSyncReplicasTwo: with sync_replicas=2 a write needs both standbys
// in strict mode; one lost is enough to refuse, with the reason named.
func TestSyncReplicasTwo(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2", "node3"}, func(cfg *Config) { cfg.SyncReplicas = 2 })
	c.promote("node1")
	c.waitSync("node1", "node2", "node3")
	rev, err := put(c.r("node1"), "k", "v")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node2", "node3"} {
		if c.nodes[n].st.Position().Rev < rev {
			t.Fatalf("%s lacks an acknowledged write", n)
		}
	}
	c.crash("node3")
	if _, err := put(c.r("node1"), "k", "v2"); !isUnavailable(err) {
		t.Fatalf("strict, 1 of 2 standbys: %v", err)
	}
	s := c.r("node1").Status()
	if s.Writable || !strings.Contains(s.Unwritable, "1 standby in the synchronous set, 2 required") || !strings.Contains(s.Unwritable, "node3 not connected") {
		t.Fatalf("status: %+v", s)
	}
}

// TestStaleMarkRetriesQuiet: while the CIB refuses a stale mark (no
// quorum), the primary tries it again every markRetry without a new
// write (the failed tail), and logs the first attempt and failure only,
// then the success with the count.
func TestStaleMarkRetriesQuiet(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable })
	c.promote("node1")
	c.waitSync("node1", "node2")
	c.marks.setFail("node2", errors.New("no quorum"))
	c.crash("node2")
	if _, err := put(c.r("node1"), "k", "v"); !isUnavailable(err) {
		t.Fatalf("acknowledged without a stale mark: %v", err)
	}
	waitFor(t, "three attempts", func() bool { return c.marks.count("stale node2") >= 3 })
	logs := c.logs.String()
	if n := strings.Count(logs, "marking node2 stale"); n != 1 {
		t.Errorf("the attempt logged %d times over %d attempts", n, c.marks.count("stale node2"))
	}
	if n := strings.Count(logs, "cannot mark node2 stale"); n != 1 {
		t.Errorf("the failure logged %d times over %d attempts", n, c.marks.count("stale node2"))
	}
	c.marks.setFail("node2", nil)
	waitFor(t, "the mark to succeed", func() bool { return strings.Contains(c.logs.String(), "node2 marked stale after") })
}

// TestStrictWaitsForJoiningStandby: in strict mode, a write that comes
// while the only standby is caught up and being marked sync (just after
// a promote) waits for the mark, up to SyncTimeout, instead of failing
// at once; past SyncTimeout it fails, naming why.
func TestStrictWaitsForJoiningStandby(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
	}{{"mark done", true}, {"mark too slow", false}} {
		t.Run(tc.name, func(t *testing.T) {
			const syncTimeout = 700 * time.Millisecond
			c := newClusterStopped(t, []string{"node1", "node2"}, func(cfg *Config) {
				cfg.SyncMode, cfg.SyncTimeout = checkpoint.SyncStrict, syncTimeout
			})
			c.start("node1")
			// node2 is down: the cluster says so (otherwise the promote
			// waits for its position as long as it may).
			if _, err := c.r("node1").Promote(context.Background(), checkpoint.PromoteRequest{Absent: []string{"node2"}}); err != nil {
				t.Fatal(err)
			}
			unblock := make(chan struct{})
			c.marks.setBlock("node2", unblock)
			defer func() {
				c.marks.setBlock("node2", nil)
				select {
				case <-unblock:
				default:
					close(unblock)
				}
			}()
			c.start("node2")
			select {
			case <-c.marks.blocked:
			case <-time.After(10 * time.Second):
				t.Fatal("node2 was never being marked sync")
			}
			t0 := time.Now()
			res := asyncPut(c.r("node1"), "k", "v")
			select {
			case r := <-res:
				t.Fatalf("answered at once (%v) while the standby was being marked sync", r.err)
			case <-time.After(200 * time.Millisecond):
			}
			if tc.release {
				close(unblock)
				if r := <-res; r.err != nil {
					t.Fatalf("refused once the standby was marked sync: %v", r.err)
				}
				return
			}
			// A later write waits its own SyncTimeout, not the first's.
			time.Sleep(300 * time.Millisecond)
			later := asyncPut(c.r("node1"), "k2", "v")
			r := <-res
			if !isUnavailable(r.err) || !strings.Contains(r.err.Error(), "being marked sync") {
				t.Fatalf("after SyncTimeout: %v", r.err)
			}
			if d := time.Since(t0); d < syncTimeout-50*time.Millisecond {
				t.Fatalf("refused after %s, before SyncTimeout", d)
			}
			select {
			case r := <-later:
				t.Fatalf("the later write was answered with the first (%v)", r.err)
			case <-time.After(150 * time.Millisecond):
			}
			close(unblock)
			if r := <-later; r.err != nil {
				t.Fatalf("the later write, once the standby was marked sync: %v", r.err)
			}
		})
	}
}
