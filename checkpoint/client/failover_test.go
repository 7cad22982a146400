package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/api"
	"github.com/vnfha/vnfha/checkpoint/internal/fakereplica"
	"github.com/vnfha/vnfha/checkpoint/replica"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
	"github.com/vnfha/vnfha/checkpoint/store"
)

// okMarks records marks and always succeeds: our own seam (checkpoint/marks
// is tested against the real CIB, the acknowledgement rule in
// checkpoint/replica).
type okMarks struct {
	mu    sync.Mutex
	marks map[string]string
}

func (m *okMarks) set(node, v string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marks[node] = v
	return nil
}
func (m *okMarks) Sync(_ context.Context, node string) error { return m.set(node, checkpoint.MarkSync) }
func (m *okMarks) Stale(_ context.Context, node string) error {
	return m.set(node, checkpoint.MarkStale)
}

// realNode is one replica with the real store and replica, and the real
// API on a unix socket.
type realNode struct {
	name string
	st   *store.Store
	rep  *replica.Replica
	sock string
}

// startReplicas runs n replicas on loopback (names node1..noden), each
// with its API on a socket in dir.
func startReplicas(t testing.TB, n int) []*realNode {
	t.Helper()
	dir := fakereplica.SocketDir(t)
	log := logrus.New()
	log.SetOutput(io.Discard)
	lns := map[string]net.Listener{}
	peers := map[string]string{}
	for i := 1; i <= n; i++ {
		name := "node" + strconv.Itoa(i)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[name], peers[name] = ln, ln.Addr().String()
	}
	marks := &okMarks{marks: map[string]string{}}
	key := make([]byte, 32)
	var nodes []*realNode
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		name := "node" + strconv.Itoa(i)
		st, err := store.Open(filepath.Join(dir, name), store.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		nd := &realNode{name: name, st: st, sock: filepath.Join(dir, name+".sock")}
		rep, err := replica.New(st, replica.Config{Node: name, Peers: peers, Auth: wire.Auth{Key: key}, Marks: marks, Logger: log,
			SyncMode: checkpoint.SyncStrict, SyncReplicas: 1,
			PrimaryAPI: func(node string) string { return "unix:" + filepath.Join(dir, node+".sock") }})
		if err != nil {
			t.Fatal(err)
		}
		nd.rep = rep
		srv, err := api.Listen(rep, api.Config{Socket: nd.sock, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); rep.Serve(ctx, lns[name]) }()
		go func() { defer wg.Done(); srv.Serve(ctx) }()
		nodes = append(nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.rep.Close()
		}
		cancel()
		wg.Wait()
		for _, nd := range nodes {
			nd.st.Close()
		}
	})
	return nodes
}

func waitWritable(t testing.TB, ctx context.Context, nd *realNode) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if nd.rep.Status().Writable {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not writable: %+v", nd.name, nd.rep.Status())
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("%s not writable: %+v", nd.name, nd.rep.Status())
}

// promoteFirst promotes the first node and waits until it takes writes.
func promoteFirst(t testing.TB, ctx context.Context, nodes []*realNode) {
	t.Helper()
	if _, err := nodes[0].rep.Promote(ctx, checkpoint.PromoteRequest{}); err != nil {
		t.Fatal(err)
	}
	waitWritable(t, ctx, nodes[0])
}

// TestFailoverRealReplicas: a writer writes sequential checkpoints through
// the client while the primary is demoted and a standby promoted, back and
// forth; every write the client saw acknowledged is then on the primary
// with its value, and revisions never went backwards. Real store, real
// replica, real API; only the cluster's marks are a seam.
func TestFailoverRealReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("failover rounds with real stores")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := startReplicas(t, 2)
	promoteFirst(t, ctx, nodes)
	c := newClient(t, "unix:"+nodes[0].sock, "unix:"+nodes[1].sock)
	c.MaxBackoff = 50 * time.Millisecond

	type acked struct {
		key string
		rev uint64
	}
	var (
		mu   sync.Mutex
		done []acked
	)
	stop := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		var last uint64
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerErr <- nil
				return
			default:
			}
			key := fmt.Sprintf("seq/%06d", i)
			rev, err := c.Put(ctx, key, []byte(key), checkpoint.Cond{})
			if err != nil {
				writerErr <- fmt.Errorf("put %s: %w", key, err)
				return
			}
			if rev <= last {
				writerErr <- fmt.Errorf("put %s: revision %d after %d", key, rev, last)
				return
			}
			last = rev
			mu.Lock()
			done = append(done, acked{key, rev})
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(done) }
	waitCount := func(n int) {
		t.Helper()
		for i := 0; count() < n; i++ {
			if i == 6000 {
				t.Fatalf("only %d writes acknowledged", count())
			}
			select {
			case err := <-writerErr:
				t.Fatalf("writer: %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	primary := 0
	for round := 0; round < 4; round++ {
		waitCount(count() + 50)
		old, next := nodes[primary], nodes[1-primary]
		if err := old.rep.Demote(ctx); err != nil {
			t.Fatalf("round %d: demote %s: %v", round, old.name, err)
		}
		// Promote the standby. The demoted primary may hold an entry
		// it never acknowledged (appended before its standby had it):
		// then it is the fresher, the promote is refused, and, as the
		// agent has Pacemaker do, the fresher one is promoted instead.
		_, err := next.rep.Promote(ctx, checkpoint.PromoteRequest{})
		var fresher *checkpoint.FresherPeerError
		switch {
		case errors.As(err, &fresher) && fresher.Peer == old.name:
			t.Logf("round %d: %v: promoting %s again", round, err, old.name)
			if _, err := old.rep.Promote(ctx, checkpoint.PromoteRequest{}); err != nil {
				t.Fatalf("round %d: promote %s: %v", round, old.name, err)
			}
			next.rep.Follow(old.name)
			continue
		case err != nil:
			t.Fatalf("round %d: promote %s: %v", round, next.name, err)
		}
		old.rep.Follow(next.name)
		primary = 1 - primary
	}
	waitCount(count() + 50)
	close(stop)
	if err := <-writerErr; err != nil {
		t.Fatal(err)
	}
	p := nodes[primary]
	mu.Lock()
	defer mu.Unlock()
	for _, a := range done {
		it, _, err := p.rep.Get(ctx, a.key)
		if err != nil || string(it.Value) != a.key || it.Rev != a.rev {
			t.Fatalf("acknowledged %s at %d: on %s %+v, %v", a.key, a.rev, p.name, it, err)
		}
	}
	t.Logf("%d acknowledged writes across 4 demote/promote rounds, all on the primary", len(done))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("ran out of time")
	}
}

// BenchmarkReplicatedPut: a 1 KiB PUT through the client and the API to
// a primary with one synchronous standby (real stores in the temp dir's
// file system, replication over loopback).
func BenchmarkReplicatedPut(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			nodes := startReplicas(b, 2)
			ctx := context.Background()
			promoteFirst(b, ctx, nodes)
			c, _ := New("unix:" + nodes[0].sock)
			benchPuts(b, c, clients)
		})
	}
}

// BenchmarkReplicatedPutDirect: the same put on the replica itself, with
// no API and no client: the difference with BenchmarkReplicatedPut is
// what HTTP costs.
func BenchmarkReplicatedPutDirect(b *testing.B) {
	nodes := startReplicas(b, 2)
	ctx := context.Background()
	promoteFirst(b, ctx, nodes)
	value := make([]byte, 1024)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, _, err := nodes[0].rep.Put(ctx, fmt.Sprintf("bench/%d", i%1000), value, checkpoint.Cond{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
