package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/api"
	"github.com/vnfha/vnfha/checkpoint/internal/fakereplica"
	"github.com/vnfha/vnfha/checkpoint/problem"
)

// replicaServer is the real API over a fake replica on a unix socket in
// a temp dir; stop and start it again to play a restart.
type replicaServer struct {
	f      *fakereplica.Fake
	sock   string
	tcp    string
	cfg    api.Config
	cancel context.CancelFunc
	done   chan error
}

func serve(t *testing.T, f *fakereplica.Fake, cfg api.Config) *replicaServer {
	t.Helper()
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(fakereplica.SocketDir(t), "api.sock")
	}
	rs := &replicaServer{f: f, sock: cfg.Socket, cfg: cfg}
	rs.start(t)
	t.Cleanup(rs.stop)
	return rs
}

func (rs *replicaServer) start(t *testing.T) {
	t.Helper()
	s, err := api.Listen(rs.f, rs.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Addrs()) > 1 {
		rs.tcp = s.Addrs()[1].String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.cancel, rs.done = cancel, make(chan error, 1)
	go func() { rs.done <- s.Serve(ctx) }()
}

func (rs *replicaServer) stop() {
	if rs.cancel == nil {
		return
	}
	rs.cancel()
	<-rs.done
	rs.cancel = nil
}

func newClient(t *testing.T, eps ...string) *Client {
	t.Helper()
	c, err := New(eps...)
	if err != nil {
		t.Fatal(err)
	}
	c.MinBackoff, c.MaxBackoff = time.Millisecond, 20*time.Millisecond
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNew(t *testing.T) {
	for _, ep := range []string{"unix:/run/x.sock", "/run/x.sock", "http://127.0.0.1:7421", "https://h:1/", "http://[::1]:7421"} {
		if _, err := New(ep); err != nil {
			t.Errorf("%s: %v", ep, err)
		}
	}
	for _, ep := range []string{"unix:rel.sock", "ftp://h", "http://h/v1", "h:7421", "http://u:p@h:1", "http://h?x=1", ""} {
		if _, err := New(ep); err == nil {
			t.Errorf("%q accepted", ep)
		}
	}
	if _, err := New(); err == nil {
		t.Error("no endpoint accepted")
	}
}

// TestCalls: every call against the real API handler, with the typed
// errors of package checkpoint.
func TestCalls(t *testing.T) {
	ctx := testCtx(t)
	f := fakereplica.New("node1", checkpoint.RolePrimary)
	rs := serve(t, f, api.Config{Options: api.Options{MaxValue: 1024}})
	c := newClient(t, "unix:"+rs.sock)

	rev, err := c.Put(ctx, "calls/42", []byte("state"), checkpoint.Cond{})
	if err != nil || rev != 1 {
		t.Fatalf("put: %d, %v", rev, err)
	}
	it, applied, err := c.Get(ctx, "calls/42")
	if err != nil || string(it.Value) != "state" || it.Rev != 1 || applied != 1 || it.Key != "calls/42" {
		t.Fatalf("get: %+v %d %v", it, applied, err)
	}
	if _, err := c.Put(ctx, "calls/42", []byte("x"), checkpoint.Cond{Match: true}); !isCond(err, 0, 1) {
		t.Errorf("create over an existing key: %v", err)
	}
	if _, err := c.Put(ctx, "calls/42", []byte("x"), checkpoint.Cond{Match: true, Rev: 9}); !isCond(err, 9, 1) {
		t.Errorf("stale If-Match: %v", err)
	}
	if rev, err := c.Put(ctx, "calls/42", []byte("v2"), checkpoint.Cond{Match: true, Rev: 1}); err != nil || rev != 2 {
		t.Errorf("If-Match: %d, %v", rev, err)
	}
	if _, err := c.Put(ctx, "calls/../x", nil, checkpoint.Cond{}); !isInvalid(err) {
		t.Errorf("bad key: %v", err)
	}
	var big *checkpoint.TooLargeError
	if _, err := c.Put(ctx, "big", make([]byte, 1025), checkpoint.Cond{}); !errors.As(err, &big) || big.Limit != 1024 {
		t.Errorf("too large: %v", err)
	}
	if rev, err := c.Put(ctx, "odd key/été #?%", nil, checkpoint.Cond{}); err != nil || rev != 3 {
		t.Errorf("odd key: %d, %v", rev, err)
	}
	if it, _, err := c.Get(ctx, "odd key/été #?%"); err != nil || len(it.Value) != 0 {
		t.Errorf("odd key: %+v, %v", it, err)
	}
	if _, _, err := c.Get(ctx, "nope"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	for i := range 5 {
		c.Put(ctx, "page/"+string(rune('a'+i)), []byte{byte(i)}, checkpoint.Cond{})
	}
	items, _, more, err := c.List(ctx, "page/", "", 2)
	if err != nil || len(items) != 2 || !more || items[0].Key != "page/a" || items[1].Value[0] != 1 {
		t.Errorf("list: %+v %v %v", items, more, err)
	}
	all, rev, err := c.ListAll(ctx, "page/")
	if err != nil || len(all) != 5 || rev != 8 {
		t.Errorf("list all: %d items at %d, %v", len(all), rev, err)
	}
	if rev, err := c.Delete(ctx, "page/a", checkpoint.Cond{Match: true, Rev: 4}); err != nil || rev != 9 {
		t.Errorf("delete: %d, %v", rev, err)
	}
	if _, err := c.Delete(ctx, "page/a", checkpoint.Cond{}); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
	if _, err := c.Delete(ctx, "page/b", checkpoint.Cond{Match: true}); !isInvalid(err) {
		t.Errorf("delete if absent: %v", err)
	}

	// Writes that cannot succeed now are retried up to the bound, then
	// reported with the last answer's error.
	c.MaxAttempts = 3
	f.SetWriteErr(&checkpoint.UnavailableError{Reason: "node2 not connected"})
	var unav *checkpoint.UnavailableError
	if _, err := c.Put(ctx, "a", nil, checkpoint.Cond{}); !errors.Is(err, ErrRetriesExhausted) || !errors.As(err, &unav) || unav.Reason != "node2 not connected" {
		t.Errorf("unavailable: %v", err)
	}
	f.SetWriteErr(checkpoint.ErrNoSpace)
	if _, err := c.Put(ctx, "a", nil, checkpoint.Cond{}); !errors.Is(err, checkpoint.ErrNoSpace) || errors.Is(err, ErrRetriesExhausted) {
		t.Errorf("no space (not retried): %v", err)
	}
	f.SetWriteErr(nil)

	// Control and status, on the socket.
	st, err := c.Status(ctx)
	if err != nil || st.Node != "node1" || st.Role != checkpoint.RolePrimary {
		t.Errorf("status: %+v, %v", st, err)
	}
	if st, err := c.Demote(ctx); err != nil || st.Role != checkpoint.RoleStandby {
		t.Errorf("demote: %+v, %v", st, err)
	}
	if st, err := c.FollowPrimary(ctx, "node2"); err != nil || st.Primary != "node2" {
		t.Errorf("follow: %+v, %v", st, err)
	}
	f.SetPromoteErr(&checkpoint.FresherPeerError{Peer: "node3", Position: checkpoint.Position{Epoch: 2, Rev: 9}})
	var fresh *checkpoint.FresherPeerError
	if _, err := c.Promote(ctx, checkpoint.PromoteRequest{MinEpoch: 4}); !errors.As(err, &fresh) || fresh.Peer != "node3" || fresh.Position.Rev != 9 {
		t.Errorf("promote: %v", err)
	}
	if len(f.Promotes) != 1 || f.Promotes[0].MinEpoch != 4 {
		t.Errorf("promote requests %+v", f.Promotes)
	}
}

func isCond(err error, want, have uint64) bool {
	var ce *checkpoint.ConditionError
	return errors.As(err, &ce) && ce.Want == want && ce.Have == have
}

func isInvalid(err error) bool {
	var ie *checkpoint.InvalidError
	return errors.As(err, &ie)
}

// TestToken: the TCP API with a token.
func TestToken(t *testing.T) {
	ctx := testCtx(t)
	rs := serve(t, fakereplica.New("node1", checkpoint.RolePrimary), api.Config{Listen: "127.0.0.1:0", Token: "t0k"})
	c := newClient(t, "http://"+rs.tcp)
	c.MaxAttempts = 2
	var pe *problem.Error
	if _, err := c.Put(ctx, "a", nil, checkpoint.Cond{}); !errors.As(err, &pe) || pe.Problem.Status != 401 {
		t.Errorf("no token: %v", err)
	}
	c.Token = "t0k"
	if _, err := c.Put(ctx, "a", nil, checkpoint.Cond{}); err != nil {
		t.Errorf("token: %v", err)
	}
	// Control is not served over TCP.
	if _, err := c.Demote(ctx); !errors.As(err, &pe) || pe.Problem.Type != problem.TypeNoRoute {
		t.Errorf("demote over TCP: %v", err)
	}
}

// TestFailover: a write follows the primary: to the endpoint a 421 names,
// to the next endpoint when the standby names none or is unreachable, and
// through a time when no replica is primary.
func TestFailover(t *testing.T) {
	ctx := testCtx(t)
	fa := fakereplica.New("node1", checkpoint.RolePrimary)
	fb := fakereplica.New("node2", checkpoint.RoleStandby)
	a := serve(t, fa, api.Config{})
	b := serve(t, fb, api.Config{})
	c := newClient(t, "unix:"+a.sock, "unix:"+b.sock)

	put := func(key string) {
		t.Helper()
		if _, err := c.Put(ctx, key, []byte(key), checkpoint.Cond{}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	has := func(f *fakereplica.Fake, key string) bool {
		_, _, err := f.Get(ctx, key)
		return err == nil
	}
	put("k1")
	if !has(fa, "k1") {
		t.Fatal("k1 not on node1")
	}
	// Failover: node1 is a standby that names node2's API.
	fa.SetRole(checkpoint.RoleStandby, "node2", "unix:"+b.sock)
	fb.SetRole(checkpoint.RolePrimary, "", "")
	put("k2")
	if !has(fb, "k2") {
		t.Fatal("k2 not on node2 after the 421")
	}
	// The primary the 421 named is tried first from then on.
	before := fa.WriteCalls()
	put("k2b")
	if fa.WriteCalls() != before || !has(fb, "k2b") {
		t.Errorf("k2b went to node1 first (%d calls there)", fa.WriteCalls()-before)
	}
	// Back, and node2 names no primary: the client tries the next one.
	fb.SetRole(checkpoint.RoleStandby, "", "")
	fa.SetRole(checkpoint.RolePrimary, "", "")
	put("k3")
	if !has(fa, "k3") {
		t.Fatal("k3 not on node1")
	}
	// node1's server goes away: node2 takes over.
	a.stop()
	fb.SetRole(checkpoint.RolePrimary, "", "")
	put("k4")
	if !has(fb, "k4") {
		t.Fatal("k4 not on node2 with node1 down")
	}
	// No primary for a while: the write waits for one.
	fb.SetRole(checkpoint.RoleStandby, "", "")
	done := make(chan error, 1)
	go func() {
		_, err := c.Put(ctx, "k5", []byte("k5"), checkpoint.Cond{})
		done <- err
	}()
	before = fb.WriteCalls()
	for i := 0; i < 1000 && fb.WriteCalls() < before+3; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	fb.SetRole(checkpoint.RolePrimary, "", "")
	if err := <-done; err != nil || !has(fb, "k5") {
		t.Fatalf("k5 after the failover: %v", err)
	}
	// A dead endpoint and a ctx that ends: the call ends with ctx.
	fb.SetRole(checkpoint.RoleStandby, "", "")
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Put(short, "k6", nil, checkpoint.Cond{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no primary until ctx ends: %v", err)
	}
}

// TestWatch: entries in order across a server restart (no gap, no
// repeat), and the end of a watch that fell behind the log.
func TestWatch(t *testing.T) {
	ctx := testCtx(t)
	f := fakereplica.New("node1", checkpoint.RolePrimary)
	rs := serve(t, f, api.Config{})
	c := newClient(t, "unix:"+rs.sock)
	put := func(k string) { f.Put(ctx, k, []byte(k), checkpoint.Cond{}) }
	put("a/1")
	put("b/1")
	w, err := c.Watch(ctx, 0, "a/")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var got []string
	next := func(n int) {
		t.Helper()
		for len(got) < n {
			es, err := w.Next(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			for _, e := range es {
				got = append(got, e.Op.String()+" "+e.Key+" "+string(e.Value))
			}
		}
	}
	next(1)
	rs.stop()
	put("a/2") // while the server is down
	rs.start(t)
	put("a/3")
	f.Delete(ctx, "a/1", checkpoint.Cond{})
	next(4)
	want := []string{"put a/1 a/1", "put a/2 a/2", "put a/3 a/3", "delete a/1 "}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("entries %q; want %q", got, want)
	}
	// Fallen behind.
	f.Compact(f.Rev() + 5)
	var comp *checkpoint.CompactedError
	if _, err := w.Next(ctx); !errors.As(err, &comp) {
		t.Errorf("after compaction: %v", err)
	}
	if _, err := c.Watch(ctx, 0, ""); !errors.As(err, &comp) {
		t.Errorf("watch from a compacted revision: %v", err)
	}
	if _, err := c.Watch(ctx, 0, "../"); !isInvalid(err) {
		t.Errorf("bad prefix: %v", err)
	}
}

// TestMirror: a standby VNFC's view: the state, then its changes, and the
// state again when the watch fell behind.
func TestMirror(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	f := fakereplica.New("node1", checkpoint.RolePrimary)
	rs := serve(t, f, api.Config{})
	c := newClient(t, "unix:"+rs.sock)
	for _, k := range []string{"s/a", "s/b", "t/x"} {
		f.Put(ctx, k, []byte("1"), checkpoint.Cond{})
	}
	state := map[string]string{}
	updates := make(chan Update, 100)
	done := make(chan error, 1)
	go func() {
		done <- c.Mirror(ctx, "s/", func(u Update) error {
			if u.Reset {
				clear(state)
				for _, it := range u.Items {
					state[it.Key] = string(it.Value)
				}
			}
			for _, e := range u.Entries {
				if e.Op == checkpoint.OpDelete {
					delete(state, e.Key)
				} else {
					state[e.Key] = string(e.Value)
				}
			}
			updates <- Update{Reset: u.Reset, Revision: u.Revision}
			return nil
		})
	}()
	wait := func(rev uint64, reset bool) {
		t.Helper()
		for {
			select {
			case u := <-updates:
				if u.Revision >= rev && (!reset || u.Reset) {
					return
				}
			case err := <-done:
				t.Fatalf("mirror ended: %v", err)
			case <-ctx.Done():
				t.Fatal("timed out")
			}
		}
	}
	wait(3, true)
	f.Put(ctx, "s/c", []byte("2"), checkpoint.Cond{})
	f.Delete(ctx, "s/a", checkpoint.Cond{})
	wait(5, false)
	if len(state) != 2 || state["s/b"] != "1" || state["s/c"] != "2" {
		t.Errorf("state %v", state)
	}
	// Fallen behind: a new list.
	f.Put(ctx, "s/d", []byte("3"), checkpoint.Cond{})
	f.Compact(f.Rev() + 1)
	f.Put(ctx, "s/e", []byte("4"), checkpoint.Cond{})
	wait(6, true)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("mirror ended with %v", err)
	}
	if state["s/d"] != "3" {
		t.Errorf("state after the relist %v", state)
	}
}

// TestWatchGivesUp: a replica that ends every watch at once (it is
// closing) is asked again with backoff, then given up on after the
// client's bound, not hammered forever.
func TestWatchGivesUp(t *testing.T) {
	ctx := testCtx(t)
	f := fakereplica.New("node1", checkpoint.RolePrimary)
	rs := serve(t, f, api.Config{})
	c := newClient(t, "unix:"+rs.sock)
	c.MaxAttempts = 3
	w, err := c.Watch(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f.Close()
	if _, err := w.Next(ctx); !errors.Is(err, ErrRetriesExhausted) {
		t.Errorf("watch of a closing replica: %v", err)
	}
}

// dropFirstWrite is the API with a fault: the first write is made, then
// its connection is closed before the answer (the client cannot know
// whether it happened).
type dropFirstWrite struct {
	h       http.Handler
	mu      sync.Mutex
	dropped bool
}

func (d *dropFirstWrite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	drop := !d.dropped && r.Method == http.MethodPut
	d.dropped = d.dropped || drop
	d.mu.Unlock()
	if !drop {
		d.h.ServeHTTP(w, r)
		return
	}
	d.h.ServeHTTP(httptest.NewRecorder(), r)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestUnknownOutcome: a write whose answer is lost is sent again. Plain,
// it is written twice (same value); with If-Match, the retry finds the
// first attempt's write and fails with a ConditionError whose Have is
// that write's revision, as the package doc says.
func TestUnknownOutcome(t *testing.T) {
	ctx := testCtx(t)
	for _, conditional := range []bool{false, true} {
		f := fakereplica.New("node1", checkpoint.RolePrimary)
		seed := func() uint64 { r, _, _ := f.Put(ctx, "k", []byte("v0"), checkpoint.Cond{}); return r }()
		sock := filepath.Join(fakereplica.SocketDir(t), "api.sock")
		l, err := api.ListenUnix(sock, 0o600, "")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: &dropFirstWrite{h: api.NewHandler(f, api.Options{})}}
		go srv.Serve(l)
		c := newClient(t, "unix:"+sock)
		cond := checkpoint.Cond{}
		if conditional {
			cond = checkpoint.Cond{Match: true, Rev: seed}
		}
		rev, err := c.Put(ctx, "k", []byte("v1"), cond)
		var ce *checkpoint.ConditionError
		switch {
		case !conditional && (err != nil || rev != seed+2):
			t.Errorf("plain: %d, %v; want written twice (revision %d)", rev, err, seed+2)
		case conditional && (!errors.As(err, &ce) || ce.Have != seed+1):
			t.Errorf("If-Match: %d, %v; want a ConditionError with Have %d", rev, err, seed+1)
		}
		if it, _, err := f.Get(ctx, "k"); err != nil || string(it.Value) != "v1" {
			t.Errorf("value %q, %v", it.Value, err)
		}
		srv.Close()
	}
}
