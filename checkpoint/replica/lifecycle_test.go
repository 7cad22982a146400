package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

func TestWatch(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2"}, nil)
	c.promote("node1")
	c.waitSync("node1", "node2")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, node := range []string{"node1", "node2"} {
		w, err := c.r(node).Watch(ctx, 0, "a/")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if node == "node1" {
			for _, k := range []string{"a/1", "b/1", "a/2"} {
				if _, err := put(c.r("node1"), k, "v"+k); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.r("node1").Delete(ctx, "a/1", checkpoint.Cond{}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for len(got) < 3 {
			es, err := w.Next(ctx)
			if err != nil {
				t.Fatalf("%s: %v", node, err)
			}
			for _, e := range es {
				got = append(got, fmt.Sprintf("%s %s@%d", e.Op, e.Key, e.Rev))
			}
		}
		if want := "put a/1@2 put a/2@4 delete a/1@5"; strings.Join(got, " ") != want {
			t.Fatalf("%s watched %q, want %q", node, got, want)
		}
	}
	// A watcher ends with the context, and after Close.
	w, _ := c.r("node1").Watch(ctx, 5, "")
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if _, err := w.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an idle watch: %v", err)
	}
	w.Close()
	if _, err := w.Next(ctx); err == nil {
		t.Fatal("a closed watch gave entries")
	}
}

// TestWatchSeesOnlyAcknowledged: on a primary, an entry appended but not
// yet acknowledged (its standby holds it up) is not shown to watchers.
func TestWatchSeesOnlyAcknowledged(t *testing.T) {
	hc := newClusterWith(t, []string{"node1", "node2"}, nil, hooked)
	c := hc.c
	c.promote("node1")
	c.waitSync("node1", "node2")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	w, _ := c.r("node1").Watch(ctx, c.nodes["node1"].st.Position().Rev, "")
	defer w.Close()
	hc.hooks["node2"].hold()
	res := asyncPut(c.r("node1"), "k", "v")
	<-hc.hooks["node2"].entered
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if es, err := w.Next(short); err == nil {
		t.Fatalf("a watcher saw an unacknowledged entry: %+v", es)
	}
	hc.hooks["node2"].release(nil)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	es, err := w.Next(ctx)
	if err != nil || len(es) != 1 || es[0].Rev != r.rev {
		t.Fatalf("after the ack: %+v %v", es, err)
	}
}

// TestSnapshotCatchUp: a standby down while the primary wrote more than
// it retains comes back through a snapshot, then the stream.
func TestSnapshotCatchUp(t *testing.T) {
	testRetain = 20
	defer func() { testRetain = 0 }()
	c := newCluster(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable })
	c.promote("node1")
	c.waitSync("node1", "node2")
	c.crash("node2")
	a := newAcked()
	for i := 0; i < 300; i++ {
		k, v := fmt.Sprintf("k/%d", i%37), strings.Repeat("v", i)
		rev, err := put(c.r("node1"), k, v)
		if err != nil {
			t.Fatal(err)
		}
		a.add(t, rev, k, v)
	}
	// The store drops what it no longer retains when it applies its log
	// (within seconds): until then the standby could still use entries.
	waitFor(t, "the primary to drop the first entries", func() bool { return c.nodes["node1"].st.Oldest() > 2 })
	behind := true
	c.start("node2")
	c.waitSync("node1", "node2")
	if p, s := c.nodes["node1"].st.Position(), c.nodes["node2"].st.Position(); p != s {
		t.Fatalf("positions differ: %s, %s", p, s)
	}
	pi, _, _, _ := c.nodes["node1"].st.List("", "", 0)
	si, _, _, _ := c.nodes["node2"].st.List("", "", 0)
	if fmt.Sprint(pi) != fmt.Sprint(si) {
		t.Fatal("items differ after the catch-up")
	}
	if behind && !strings.Contains(c.logs.String(), "rebuilt from the primary's snapshot") {
		t.Fatal("no snapshot though the entries were gone")
	}
	// A watch from before the oldest retained entry is told to list.
	var ce *checkpoint.CompactedError
	if _, err := c.r("node1").Watch(context.Background(), 0, ""); behind && !errors.As(err, &ce) {
		t.Fatalf("watch from 0: %v", err)
	}
}

// TestDemote: pending writes fail as unavailable, new ones are sent to
// the primary, and the demoted replica follows the new one.
func TestDemote(t *testing.T) {
	hc := newClusterWith(t, []string{"node1", "node2"}, nil, hooked)
	c := hc.c
	c.promote("node1")
	c.waitSync("node1", "node2")
	hc.hooks["node2"].hold()
	res := asyncPut(c.r("node1"), "k", "pending")
	<-hc.hooks["node2"].entered
	w, err := c.r("node1").Watch(context.Background(), c.nodes["node1"].st.Position().Rev, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.r("node1").Demote(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A watch on the demoted primary ends: what it would show next (its
	// own unacknowledged entries) may be taken back.
	var ce *checkpoint.CompactedError
	if _, err := w.Next(context.Background()); !errors.As(err, &ce) {
		t.Fatalf("a watch across a demote: %v", err)
	}
	if r := <-res; !isUnavailable(r.err) {
		t.Fatalf("a pending write at demote: %v", r.err)
	}
	var np *checkpoint.NotPrimaryError
	if _, err := put(c.r("node1"), "k", "new"); !errors.As(err, &np) {
		t.Fatalf("a write after demote: %v", err)
	}
	hc.hooks["node2"].release(nil)
	c.promote("node2")
	c.r("node1").Follow("node2")
	c.waitSync("node2", "node1")
	rev, err := put(c.r("node2"), "k", "after")
	if err != nil {
		t.Fatal(err)
	}
	if it, _, err := c.r("node1").Get(context.Background(), "k"); err != nil || it.Rev != rev {
		t.Fatalf("the demoted replica does not follow: %+v %v", it, err)
	}
	if s := c.r("node1").Status(); s.Role != checkpoint.RoleStandby || s.Primary != "node2" || !s.Sync {
		t.Fatalf("demoted status: %+v", s)
	}
	// Demoting a standby and promoting a primary are no-ops.
	if err := c.r("node1").Demote(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := c.promote("node2"); s.Role != checkpoint.RolePrimary {
		t.Fatal(s)
	}
}

// TestPromoteTakesFresherEntries: a replica promoted while a peer that
// may be promoted holds more of the same history takes those entries
// first (fetchFresher), so the promote succeeds with the freshest state
// instead of failing over again; a peer the request ignores (marked
// unpromotable) is not taken from, nor does it refuse the promote.
func TestPromoteTakesFresherEntries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ignore []string
		want   string // k's value after the promote
	}{
		{"fresher peers", nil, "4"},
		{"fresher peers ignored", []string{"node1", "node3"}, "start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, []string{"node1", "node2", "node3"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable })
			c.promote("node1")
			c.waitSync("node1", "node2", "node3")
			if _, err := put(c.r("node1"), "k", "start"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "node2 to hold the first write", func() bool {
				return c.nodes["node2"].st.Position() == c.nodes["node1"].st.Position()
			})
			c.crash("node2")
			for i := 0; i < 5; i++ {
				if _, err := put(c.r("node1"), "k", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			c.r("node1").Demote(context.Background())
			c.start("node2")
			behind := c.nodes["node2"].st.Position()
			s, err := c.r("node2").Promote(context.Background(), checkpoint.PromoteRequest{Ignore: tc.ignore})
			if err != nil {
				t.Fatalf("promote of the replica behind: %v", err)
			}
			if s.Role != checkpoint.RolePrimary {
				t.Fatalf("status after the promote: %+v", s)
			}
			it, _, err := c.r("node2").Get(context.Background(), "k")
			if err != nil || string(it.Value) != tc.want {
				t.Fatalf("k on the new primary = %q, %v; want %q (promoted from %s)", it.Value, err, tc.want, behind)
			}
			if took := strings.Contains(c.logs.String(), "took node"); took != (tc.ignore == nil) {
				t.Fatalf("entries taken: %v, want %v", took, tc.ignore == nil)
			}
			// The others follow the new epoch: when they hold more than
			// it (ignored), they are rebuilt; either way they agree.
			for _, n := range []string{"node1", "node3"} {
				c.r(n).Follow("node2")
			}
			c.waitSync("node2", "node1", "node3")
		})
	}
}

// TestPromoteFresherPeer: a replica never promotes itself over a
// reachable fresher peer it cannot take the entries from (here: no longer
// retained), unless forced or told to ignore it; the new epoch is above
// every epoch it knows of, and min_epoch.
func TestPromoteFresherPeer(t *testing.T) {
	testRetain = 20
	defer func() { testRetain = 0 }()
	c := newCluster(t, []string{"node1", "node2", "node3"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable })
	c.promote("node1")
	c.waitSync("node1", "node2", "node3")
	c.crash("node2")
	for i := 0; i < 100; i++ {
		if _, err := put(c.r("node1"), fmt.Sprintf("k/%d", i%7), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "node3 to drop the first entries", func() bool { return c.nodes["node3"].st.Oldest() > 2 })
	c.crash("node1")
	c.start("node2")
	ctx := context.Background()
	_, err := c.r("node2").Promote(ctx, checkpoint.PromoteRequest{})
	var fe *checkpoint.FresherPeerError
	if !errors.As(err, &fe) || fe.Peer != "node3" || !fe.Own.Less(fe.Position) {
		t.Fatalf("promote of the staler replica: %v", err)
	}
	if s := c.r("node2").Status(); s.Role != checkpoint.RoleStandby {
		t.Fatalf("a refused promote left %+v", s)
	}
	s, err := c.r("node2").Promote(ctx, checkpoint.PromoteRequest{Ignore: []string{"node3"}, MinEpoch: 40})
	if err != nil {
		t.Fatal(err)
	}
	if s.Epoch != 41 {
		t.Fatalf("epoch %d after min_epoch 40", s.Epoch)
	}
}

// TestAppendFailure: a batch the primary sent but could not append
// (a full disk) is appended again before anything else, so its
// revisions never carry two values.
func TestAppendFailure(t *testing.T) {
	hc := newClusterWith(t, []string{"node1", "node2"}, nil, hooked)
	c := hc.c
	c.promote("node1")
	c.waitSync("node1", "node2")
	hc.hooks["node1"].release(fmt.Errorf("write log: %w", checkpoint.ErrNoSpace))
	_, err := put(c.r("node1"), "k", "first")
	if !errors.Is(err, checkpoint.ErrNoSpace) {
		t.Fatalf("a write on a full disk: %v", err)
	}
	if _, err := put(c.r("node1"), "k", "second"); !errors.Is(err, checkpoint.ErrNoSpace) {
		t.Fatalf("a write while the disk is still full: %v", err)
	}
	if s := c.r("node1").Status(); s.Writable {
		t.Fatalf("writable with a batch not appended: %+v", s)
	}
	hc.hooks["node1"].release(nil)
	rev, err := put(c.r("node1"), "k", "third")
	if err != nil {
		t.Fatal(err)
	}
	// "first" was appended again under its revision, then "third".
	es, _ := c.nodes["node1"].st.Entries(rev-2, 10, 1<<20)
	if len(es) != 2 || string(es[0].Value) != "first" || string(es[1].Value) != "third" {
		t.Fatalf("history after the full disk: %+v", es)
	}
	waitFor(t, "the standby at the primary's position", func() bool {
		return c.nodes["node2"].st.Position() == c.nodes["node1"].st.Position()
	})
	ss, _ := c.nodes["node2"].st.Entries(rev-2, 10, 1<<20)
	if fmt.Sprint(ss) != fmt.Sprint(es) {
		t.Fatalf("the standby's history differs: %+v", ss)
	}
}

// TestStandbyDiskFull: a standby that cannot append says so in its
// status, is marked stale, and comes back once it can.
func TestStandbyDiskFull(t *testing.T) {
	hc := newClusterWith(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable }, hooked)
	c := hc.c
	c.promote("node1")
	c.waitSync("node1", "node2")
	hc.hooks["node2"].release(fmt.Errorf("write log: %w", checkpoint.ErrNoSpace))
	rev, err := put(c.r("node1"), "k", "v")
	if err != nil {
		t.Fatal(err)
	}
	c.ackedNow("node1", rev)
	waitFor(t, "the standby's problem", func() bool {
		return strings.Contains(strings.Join(c.r("node2").Status().Problems, " "), "no space")
	})
	hc.hooks["node2"].release(nil)
	c.waitSync("node1", "node2")
	waitFor(t, "the problem cleared", func() bool { return len(c.r("node2").Status().Problems) == 0 })
	if c.nodes["node2"].st.Position().Rev < rev {
		t.Fatal("the standby did not catch up")
	}
}

// TestMarkSyncFails: a standby whose sync mark cannot be written is not
// counted (strict refuses writes, naming why) until the mark works.
func TestMarkSyncFails(t *testing.T) {
	c := newClusterStopped(t, []string{"node1", "node2"}, nil)
	c.marks.setFail("node2", errors.New("CIB unreachable"))
	c.start("node1")
	c.start("node2")
	c.promote("node1")
	waitFor(t, "the failed mark in the status", func() bool {
		s := c.r("node1").Status()
		return !s.Writable && strings.Contains(s.Unwritable, "CIB unreachable") && len(s.Problems) > 0
	})
	if _, err := put(c.r("node1"), "k", "v"); !isUnavailable(err) {
		t.Fatalf("strict write without a sync standby: %v", err)
	}
	if s := c.r("node2").Status(); s.Sync {
		t.Fatalf("the standby thinks it is sync: %+v", s)
	}
	c.marks.setFail("node2", nil)
	c.waitSync("node1", "node2")
	if _, err := put(c.r("node1"), "k", "v"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby told it is sync", func() bool { return c.r("node2").Status().Sync })
}

// TestCloseFailsPending: a write pending when the replica closes fails
// with ErrClosed; the closed replica refuses everything after.
func TestCloseFailsPending(t *testing.T) {
	hc := newClusterWith(t, []string{"node1", "node2"}, nil, hooked)
	c := hc.c
	c.promote("node1")
	c.waitSync("node1", "node2")
	hc.hooks["node2"].hold()
	r := c.r("node1")
	res := asyncPut(r, "k", "v")
	<-hc.hooks["node2"].entered
	c.crash("node1")
	if got := <-res; !errors.Is(got.err, checkpoint.ErrClosed) {
		t.Fatalf("a pending write at close: %v", got.err)
	}
	if _, err := put(r, "k", "v"); !errors.Is(err, checkpoint.ErrClosed) {
		t.Fatalf("a write after close: %v", err)
	}
	if _, err := r.Promote(context.Background(), checkpoint.PromoteRequest{}); !errors.Is(err, checkpoint.ErrClosed) {
		t.Fatalf("a promote after close: %v", err)
	}
	hc.hooks["node2"].release(nil)
}

// TestNoDirtyRead: a read on the primary never shows a write that is
// durable there but not yet acknowledged (its standby's stale mark is
// still being written): it waits for the acknowledgement, or says why it
// cannot answer; once the write is acknowledged the read shows it. A key
// the pending write does not touch reads at once.
func TestNoDirtyRead(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable })
	c.promote("node1")
	c.waitSync("node1", "node2")
	p := c.r("node1")
	for _, kv := range [][2]string{{"k", "old"}, {"other", "x"}} {
		if _, err := put(p, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	unblock := make(chan struct{})
	c.marks.setBlock("node2", unblock)
	c.crash("node2")
	res := asyncPut(p, "k", "new")
	<-c.marks.blocked
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	it, _, err := p.Get(ctx, "k")
	cancel()
	var ue *checkpoint.UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("a read of the pending write = %q, %v; want it refused (unavailable)", it.Value, err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	items, _, _, err := p.List(ctx, "", "", 10)
	cancel()
	if !errors.As(err, &ue) {
		t.Fatalf("a list holding the pending write = %+v, %v; want it refused", items, err)
	}
	if it, _, err := p.Get(context.Background(), "other"); err != nil || string(it.Value) != "x" {
		t.Fatalf("a key the pending write does not touch: %q, %v", it.Value, err)
	}
	// A read that waits sees the write once it is acknowledged.
	got := make(chan string, 1)
	go func() {
		it, _, err := p.Get(context.Background(), "k")
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(it.Value)
	}()
	close(unblock)
	if r := <-res; r.err != nil {
		t.Fatal(r.err)
	}
	select {
	case v := <-got:
		if v != "new" {
			t.Fatalf("the waiting read got %q, want the acknowledged write", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting read did not end after the write was acknowledged")
	}
}

// TestFailedTailSettles: a write refused after it was made durable on the
// primary (its standby lost, the stale mark failing) must not be shown by
// reads before the rule holds for it, and once it holds (the standby
// marked stale, or back and caught up) reads show it without waiting for
// another write: an idle primary's lists and not-found reads must not
// answer 503 forever.
func TestFailedTailSettles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		settle func(c *cluster)
	}{
		{"the mark succeeds later", func(c *cluster) { c.marks.setFail("node2", nil) }},
		{"the standby comes back", func(c *cluster) { c.start("node2") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable })
			c.promote("node1")
			c.waitSync("node1", "node2")
			p := c.r("node1")
			if _, err := put(p, "k", "old"); err != nil {
				t.Fatal(err)
			}
			c.marks.setFail("node2", errors.New("the CIB refused"))
			c.crash("node2")
			if _, err := put(p, "k", "new"); !isUnavailable(err) {
				t.Fatalf("a write the standby cannot take and that cannot be marked: %v, want unavailable", err)
			}
			short := func(read func(ctx context.Context) error) error {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				return read(ctx)
			}
			getK := func(ctx context.Context) error {
				it, _, err := p.Get(ctx, "k")
				if err == nil && string(it.Value) != "new" {
					return fmt.Errorf("k = %q", it.Value)
				}
				return err
			}
			list := func(ctx context.Context) error {
				_, _, _, err := p.List(ctx, "", "", 10)
				return err
			}
			if err := short(getK); !isUnavailable(err) {
				t.Fatalf("a read of the refused write before the rule holds: %v, want unavailable", err)
			}
			if err := short(list); !isUnavailable(err) {
				t.Fatalf("a list holding the refused write before the rule holds: %v, want unavailable", err)
			}
			tc.settle(c)
			// No write after this: only the rule applied to the tail can
			// let these reads answer.
			waitFor(t, "a read to show the settled write", func() bool { return short(getK) == nil })
			if err := short(list); err != nil {
				t.Fatalf("a list after the write settled: %v", err)
			}
			if _, err := put(p, "k", "newer"); err != nil {
				t.Fatalf("a write after the tail settled: %v", err)
			}
		})
	}
}
