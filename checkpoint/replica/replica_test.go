package replica

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

func TestReplicate(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2"}, nil)
	s := c.promote("node1")
	if s.Role != checkpoint.RolePrimary || s.Epoch != 1 || s.Position != (checkpoint.Position{Epoch: 1, Rev: 1}) {
		t.Fatalf("status after promote: %+v", s)
	}
	if c.marks.mark("node1") != checkpoint.MarkSync {
		t.Fatalf("the primary did not mark itself sync: %v", c.marks.calls)
	}
	c.waitSync("node1", "node2")
	a := newAcked()
	for i := 0; i < 20; i++ {
		v := strings.Repeat("x", i)
		rev, err := put(c.r("node1"), "vnf/a", v)
		if err != nil {
			t.Fatal(err)
		}
		a.add(t, rev, "vnf/a", v)
	}
	c.check(a)
	it, rev, err := c.r("node2").Get(context.Background(), "vnf/a")
	if err != nil || string(it.Value) != strings.Repeat("x", 19) || rev != 21 {
		t.Fatalf("standby read: %+v %d %v", it, rev, err)
	}
	_, _, err = c.r("node2").Put(context.Background(), "vnf/a", nil, checkpoint.Cond{})
	var np *checkpoint.NotPrimaryError
	if !errors.As(err, &np) || np.Primary != "node1" || np.PrimaryAPI != "/run/node1.sock" {
		t.Fatalf("write on a standby: %v", err)
	}
	st := c.r("node2").Status()
	if st.Role != checkpoint.RoleStandby || !st.Connected || !st.Sync || st.Primary != "node1" || st.Epoch != 1 {
		t.Fatalf("standby status: %+v", st)
	}
	ps := c.r("node1").Status()
	if !ps.Writable || len(ps.Standbys) != 1 || ps.Standbys[0].Acked != 21 {
		t.Fatalf("primary status: %+v", ps)
	}
}

// TestConditions: If-Match sees the state and the batch's earlier writes.
func TestConditions(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2"}, func(c *Config) { c.SyncMode = checkpoint.SyncAvailable })
	c.promote("node1")
	r := c.r("node1")
	ctx := context.Background()
	rev, created, err := r.Put(ctx, "k", []byte("1"), checkpoint.Cond{Match: true, Rev: 0})
	if err != nil || !created {
		t.Fatalf("create: created %v, %v", created, err)
	}
	if _, _, err := r.Put(ctx, "k", []byte("2"), checkpoint.Cond{Match: true, Rev: 0}); !isCond(err) {
		t.Fatalf("create of an existing key: %v", err)
	}
	if _, _, err := r.Put(ctx, "k", []byte("2"), checkpoint.Cond{Match: true, Rev: rev + 5}); !isCond(err) {
		t.Fatalf("wrong If-Match: %v", err)
	}
	rev2, created, err := r.Put(ctx, "k", []byte("2"), checkpoint.Cond{Match: true, Rev: rev})
	if err != nil || rev2 != rev+1 || created {
		t.Fatalf("If-Match: %d created %v, %v", rev2, created, err)
	}
	if _, err := r.Delete(ctx, "nope", checkpoint.Cond{}); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("delete of an absent key: %v", err)
	}
	if _, _, err := r.Put(ctx, "/bad", nil, checkpoint.Cond{}); err == nil {
		t.Fatal("invalid key accepted")
	}
	if _, _, err := r.Put(ctx, "big", make([]byte, checkpoint.DefaultMaxValue+1), checkpoint.Cond{}); err == nil {
		t.Fatal("oversized value accepted")
	}
	// Concurrent creates of one key: exactly one wins.
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() {
			_, _, err := r.Put(ctx, "once", []byte("x"), checkpoint.Cond{Match: true})
			errs <- err
		}()
	}
	won := 0
	for i := 0; i < 16; i++ {
		if err := <-errs; err == nil {
			won++
		} else if !isCond(err) {
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates of one key succeeded", won)
	}
	_ = time.Second
}

func isCond(err error) bool {
	var ce *checkpoint.ConditionError
	return errors.As(err, &ce)
}

func TestConfigRefused(t *testing.T) {
	marks := newFakeMarks()
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no node", Config{Marks: marks}, "no node name"},
		{"no marks", Config{Node: "n1"}, "no Marks"},
		{"sync mode", Config{Node: "n1", Marks: marks, SyncMode: "sometimes"}, "sync mode"},
		{"more sync replicas than peers", Config{Node: "n1", Marks: marks, SyncReplicas: 2, Peers: map[string]string{"n1": "a:1", "n2": "b:1"}}, "only 1 peer is"},
		{"peer without address", Config{Node: "n1", Marks: marks, Peers: map[string]string{"n2": ""}}, "address"},
		{"batch over the frame", Config{Node: "n1", Marks: marks, MaxBatchBytes: 1 << 30}, "limited"},
	} {
		_, err := New(nil, tc.c) // refused before the store is used
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestSingleReplica: without peers, a write is acknowledged once durable
// here, in either mode.
func TestSingleReplica(t *testing.T) {
	c := newCluster(t, []string{"solo"}, nil)
	c.promote("solo")
	if s := c.r("solo").Status(); !s.Writable {
		t.Fatalf("a lone primary is not writable: %+v", s)
	}
	if _, err := put(c.r("solo"), "k", "v"); err != nil {
		t.Fatal(err)
	}
}
