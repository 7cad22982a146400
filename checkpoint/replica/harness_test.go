package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// fakeMarks is the cluster's marks as the tests see them: every call
// recorded, each node's current mark kept, and calls for a node made to
// fail or block on demand. (Marks is our own seam: checkpoint/marks is
// tested against the real CIB.)
type fakeMarks struct {
	mu    sync.Mutex
	calls []string
	marks map[string]string
	fail  map[string]error
	block map[string]chan struct{}
	// blocked is told the node of each call that starts blocking.
	blocked chan string
}

func newFakeMarks() *fakeMarks {
	return &fakeMarks{marks: map[string]string{}, fail: map[string]error{}, block: map[string]chan struct{}{}, blocked: make(chan string, 100)}
}

func (m *fakeMarks) Sync(ctx context.Context, node string) error {
	return m.do(ctx, checkpoint.MarkSync, node)
}

func (m *fakeMarks) Stale(ctx context.Context, node string) error {
	return m.do(ctx, checkpoint.MarkStale, node)
}

func (m *fakeMarks) do(ctx context.Context, mark, node string) error {
	m.mu.Lock()
	b := m.block[node]
	m.mu.Unlock()
	if b != nil {
		m.blocked <- node
		select {
		case <-b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, mark+" "+node)
	if err := m.fail[node]; err != nil {
		return err
	}
	m.marks[node] = mark
	return nil
}

func (m *fakeMarks) mark(node string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.marks[node]
}

func (m *fakeMarks) setFail(node string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail[node] = err
}

func (m *fakeMarks) setBlock(node string, ch chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch == nil {
		delete(m.block, node)
	} else {
		m.block[node] = ch
	}
}

func (m *fakeMarks) count(call string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		if c == call {
			n++
		}
	}
	return n
}

// syncBuf is a log sink shared by a cluster's replicas.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tnode is one replica of a test cluster.
type tnode struct {
	ln    net.Listener // until the first start
	name  string
	addr  string
	dir   string
	st    testStore
	r     *Replica
	stop  context.CancelFunc
	serve chan error
}

// cluster is several replicas in one process, each with its own store
// and replication port on loopback.
type cluster struct {
	t     testing.TB
	mu    sync.Mutex // guards each tnode's r against the writers' reads
	names []string
	nodes map[string]*tnode
	peers map[string]string
	marks *fakeMarks
	auth  wire.Auth
	mod   func(*Config)
	logs  *syncBuf
	// wrap, when set, wraps a node's store (to slow or fail it).
	wrap func(name string, st Store) Store
}

func newCluster(t testing.TB, names []string, mod func(*Config)) *cluster {
	t.Helper()
	c := newClusterNodes(t, names, mod)
	for _, n := range names {
		c.start(n)
	}
	return c
}

func newClusterNodes(t testing.TB, names []string, mod func(*Config)) *cluster {
	t.Helper()
	key, err := wire.DeriveKey([]byte("test replication secret, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, names: names, nodes: map[string]*tnode{}, peers: map[string]string{},
		marks: newFakeMarks(), auth: wire.Auth{Key: key}, mod: mod, logs: &syncBuf{}}
	for _, n := range names {
		ln := listenFixed(t)
		addr := ln.Addr().String()
		c.peers[n] = addr
		c.nodes[n] = &tnode{name: n, addr: addr, dir: t.TempDir(), ln: ln}
	}
	t.Cleanup(func() {
		for _, n := range c.names {
			c.crash(n)
			if ln := c.nodes[n].ln; ln != nil {
				ln.Close()
			}
		}
		if t.Failed() {
			t.Logf("replica logs:\n%s", c.logs.String())
		}
	})
	return c
}

// newClusterStopped makes the cluster without starting its replicas.
func newClusterStopped(t testing.TB, names []string, mod func(*Config)) *cluster {
	t.Helper()
	return newClusterNodes(t, names, mod)
}

func (c *cluster) config(name string) Config {
	log := logrus.New()
	log.SetOutput(c.logs)
	log.SetLevel(logrus.DebugLevel)
	cfg := Config{
		Node: name, Peers: c.peers, Listen: c.peers[name], Auth: c.auth,
		Marks: c.marks, Logger: log, SyncTimeout: 300 * time.Millisecond,
		PrimaryAPI: func(n string) string { return "/run/" + n + ".sock" },
	}
	if c.mod != nil {
		c.mod(&cfg)
	}
	return cfg
}

// listenFixed listens on a loopback port below the kernel's ephemeral
// range, so that a replica that restarts gets its port back: a port from
// the ephemeral range may meanwhile be the source port of some outgoing
// connection (a bind race seen under -race).
func listenFixed(t testing.TB) net.Listener {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	base := max(lo-12000, 1024)
	for i := 0; i < 200; i++ {
		port := base + rand.IntN(lo-base)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return ln
		}
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return nil
}

// takeListener gives name's replication port to a test's fake peer.
func (c *cluster) takeListener(name string) net.Listener {
	c.t.Helper()
	n := c.nodes[name]
	if ln := n.ln; ln != nil {
		n.ln = nil
		return ln
	}
	ln, err := net.Listen("tcp", n.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	return ln
}

// start opens name's store from its directory and starts its replica.
func (c *cluster) start(name string) {
	c.t.Helper()
	n := c.nodes[name]
	if n.r != nil {
		c.t.Fatalf("%s already runs", name)
	}
	n.st = openTestStore(c.t, n.dir)
	var st Store = n.st
	if c.wrap != nil {
		st = c.wrap(name, st)
	}
	r, err := New(st, c.config(name))
	if err != nil {
		c.t.Fatal(err)
	}
	// The port was free a moment ago; on a restart the old listener is
	// closed. A few tries cover a port in TIME_WAIT edge cases.
	ln := n.ln // the first start's listener was made with the cluster
	n.ln = nil
	for i := 0; ln == nil && i < 50; i++ {
		if ln, err = net.Listen("tcp", n.addr); err != nil {
			ln = nil
			time.Sleep(20 * time.Millisecond)
		}
	}
	if ln == nil {
		c.t.Fatalf("listen %s: %v", n.addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	n.r, n.stop, n.serve = r, cancel, make(chan error, 1)
	c.mu.Unlock()
	go func() { n.serve <- r.Serve(ctx, ln) }()
}

// crash stops name's replica at once and closes its store, as a killed
// process would leave it (what was durable stays).
func (c *cluster) crash(name string) {
	n := c.nodes[name]
	c.mu.Lock()
	r := n.r
	n.r = nil
	c.mu.Unlock()
	if r == nil {
		return
	}
	n.stop()
	r.Close()
	<-n.serve
	n.st.Close()
	n.st = nil
}

func (c *cluster) r(name string) *Replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name].r
}

func (c *cluster) promote(name string) checkpoint.Status {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.r(name).Promote(ctx, checkpoint.PromoteRequest{})
	if err != nil {
		c.t.Fatalf("promote %s: %v", name, err)
	}
	return s
}

// waitFor polls cond for up to 15 s (a bound, not a speed goal).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *cluster) waitSync(primary string, standbys ...string) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%v in %s's synchronous set", standbys, primary), func() bool {
		s := c.r(primary).Status()
		n := 0
		for _, sb := range s.Standbys {
			for _, want := range standbys {
				if sb.Node == want && sb.Sync {
					n++
				}
			}
		}
		return n == len(standbys)
	})
}

func put(r *Replica, key, value string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rev, _, err := r.Put(ctx, key, []byte(value), checkpoint.Cond{})
	return rev, err
}

// acked records every acknowledged write, to check the rule against.
type acked struct {
	mu   sync.Mutex
	revs map[uint64]kv
	last uint64
}

type kv struct{ key, value string }

func newAcked() *acked { return &acked{revs: map[uint64]kv{}} }

func (a *acked) add(t testing.TB, rev uint64, key, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rev <= a.last {
		t.Errorf("revision %d acknowledged after %d: revisions went backwards", rev, a.last)
	}
	a.last = rev
	a.revs[rev] = kv{key, value}
}

// check verifies the rule's consequence on every running replica whose
// mark is sync (one that may be promoted): it holds every acknowledged
// write, at its revision, with its value.
func (c *cluster) check(a *acked) {
	c.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	revs := make([]uint64, 0, len(a.revs))
	for r := range a.revs {
		revs = append(revs, r)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	for _, name := range c.names {
		n := c.nodes[name]
		if n.st == nil || c.marks.mark(name) != checkpoint.MarkSync {
			continue
		}
		for _, rev := range revs {
			es, err := n.st.Entries(rev-1, 1, 1<<30)
			want := a.revs[rev]
			if err != nil || len(es) == 0 || es[0].Rev != rev || es[0].Key != want.key || string(es[0].Value) != want.value {
				c.t.Errorf("%s (mark sync) lacks acknowledged revision %d %s=%q: %v %v", name, rev, want.key, want.value, es, err)
				return
			}
		}
	}
}

func isUnavailable(err error) bool {
	var u *checkpoint.UnavailableError
	return errors.As(err, &u)
}
