package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConvergeFromEmptyAndIdempotent(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	act, ch := reconcile(t, f.pool, f.all(Serve))
	want := []string{"vnfha:a:add", "vnfha:a:enable", "vnfha:b:add", "vnfha:b:enable", "vnfha:c:add", "vnfha:c:enable"}
	if got := actions(ch); !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if act.Reloaded || act.Pid == 0 || len(act.Backends) != 1 || len(act.Backends[0].Servers) != 1 {
		t.Errorf("first actual %+v", act)
	}
	// Entering rotation never shows an unchecked UP: right after enable
	// the server is DOWN until rise checks pass.
	if r, _ := statusOf(t, f.p.admin, "be", "vnfha:a"); !strings.HasPrefix(r.Status, "DOWN") && r.Status != "UP" {
		t.Errorf("after enable: status %q", r.Status)
	}
	for _, n := range []string{"a", "b", "c"} {
		waitStatus(t, f.p.admin, "be", "vnfha:"+n, "UP")
	}
	act, ch = reconcile(t, f.pool, f.all(Serve))
	if len(ch) != 0 {
		t.Errorf("second reconcile issued %v", actions(ch))
	}
	if act.NeedsRecheck() {
		t.Errorf("nothing in progress, yet NextWake %v", act.NextWake)
	}
	// All four servers reported; only ours managed; health read.
	var managed int
	for _, s := range act.Backends[0].Servers {
		if s.Managed {
			managed++
			if s.Port == 0 || !s.Addr.IsValid() || s.Health().State != HealthUp || s.CheckStatus != "L7OK" || s.CheckCode != 200 {
				t.Errorf("managed server %+v, health %+v", s, s.Health())
			}
		} else if s.Name != "static1" {
			t.Errorf("unexpected unmanaged %s", s.Name)
		}
	}
	if managed != 3 {
		t.Errorf("%d managed servers, want 3", managed)
	}
	// Traffic reaches all of them.
	for range 40 {
		if code, err := get(f.p.frontPort, "/", 2*time.Second); err != nil || code != 200 {
			t.Fatalf("request: %d %v", code, err)
		}
	}
	for i, v := range f.v {
		if v.hits.Load() == 0 {
			t.Errorf("vnfc %d got no request", i)
		}
	}
}

func TestFailThenRecover(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	d := f.all(Serve)
	d.Backends[0].Servers[1].Want = Fail
	_, ch := reconcile(t, f.pool, d)
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:b:fail"}) {
		t.Fatalf("changes %v", got)
	}
	// Maint at once, not at the next check.
	if r, _ := statusOf(t, f.p.admin, "be", "vnfha:b"); r.Status != "MAINT" {
		t.Fatalf("after fail: %q", r.Status)
	}
	if _, ch := reconcile(t, f.pool, d); len(ch) != 0 {
		t.Errorf("failed server: second reconcile issued %v", actions(ch))
	}
	before := f.v[1].hits.Load()
	for range 20 {
		if code, err := get(f.p.frontPort, "/", 2*time.Second); err != nil || code != 200 {
			t.Fatalf("request: %d %v", code, err)
		}
	}
	if f.v[1].hits.Load() != before {
		t.Errorf("a failed server still got traffic")
	}
	// Recovery: back only through checks.
	_, ch = reconcile(t, f.pool, f.all(Serve))
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:b:enable"}) {
		t.Fatalf("changes %v", got)
	}
	if r, _ := statusOf(t, f.p.admin, "be", "vnfha:b"); !strings.HasPrefix(r.Status, "DOWN") && r.Status != "UP" {
		t.Errorf("right after enable: %q, want DOWN (rising)", r.Status)
	}
	waitStatus(t, f.p.admin, "be", "vnfha:b", "UP")
}

// TestEnterRotationNoTraffic adds (and re-enables) servers whose port is
// closed, while clients send requests through the frontend: none may fail,
// because a server enters rotation only after its checks pass.
func TestEnterRotationNoTraffic(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	waitStatus(t, f.p.admin, "be", "static1", "UP")
	dead := startVNFC(t, "127.0.0.1")
	dead.stop() // the port is closed now
	tr := startTraffic(f.p.frontPort)
	defer tr.stop()
	for i := range 5 {
		d := desired(fastCheck, srv("dead", dead, Serve))
		reconcile(t, f.pool, d) // add (first) or enable (after the fail below)
		time.Sleep(150 * time.Millisecond)
		d.Backends[0].Servers[0].Want = Fail
		reconcile(t, f.pool, d)
		_ = i
	}
	time.Sleep(200 * time.Millisecond)
	tr.stop()
	if tr.failed.Load() != 0 || tr.ok.Load() == 0 {
		t.Errorf("%d requests failed, %d ok: a closed port was given traffic", tr.failed.Load(), tr.ok.Load())
	}
}

func TestDrainInFlightRequest(t *testing.T) {
	f := newFixture(t, PoolOptions{DrainTimeout: 20 * time.Second, Recheck: 50 * time.Millisecond})
	// Only vnfc a serves, so the slow request lands on it.
	d := desired(fastCheck, srv("a", f.v[0], Serve))
	reconcile(t, f.pool, d)
	waitStatus(t, f.p.admin, "be", "vnfha:a", "UP")
	_, _ = f.p.admin.Run(context.Background(), "set server be/static1 state maint")
	defer f.p.admin.Run(context.Background(), "set server be/static1 state ready")
	type result struct {
		code int
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		code, err := get(f.p.frontPort, "/slow", 15*time.Second)
		done <- result{code, err, time.Now()}
	}()
	waitHits(t, f.v[0], 1)
	d.Backends[0].Servers[0].Want = Drain
	_, ch := reconcile(t, f.pool, d)
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:drain"}) {
		t.Fatalf("changes %v", got)
	}
	// While the request runs, the server stays in drain.
	for range 3 {
		act, ch := reconcile(t, f.pool, d)
		if len(ch) != 0 || !act.NeedsRecheck() {
			t.Fatalf("during the drain: changes %v, recheck %v", actions(ch), act.NeedsRecheck())
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.v[0].unblock()
	r := <-done
	if r.err != nil || r.code != 200 {
		t.Fatalf("the drained request failed: %d %v", r.code, r.err)
	}
	var maintAt time.Time
	for i := 0; i < 100 && maintAt.IsZero(); i++ {
		act, ch := reconcile(t, f.pool, d)
		if slices.Contains(actions(ch), "vnfha:a:maint") {
			maintAt = time.Now()
			if act.NeedsRecheck() {
				t.Errorf("drain over, yet NextWake %v", act.NextWake)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if maintAt.IsZero() {
		t.Fatal("the drained server never went to maint")
	}
	if maintAt.Before(r.at) {
		t.Errorf("maint at %v before the request ended at %v", maintAt, r.at)
	}
	if _, ch := reconcile(t, f.pool, d); len(ch) != 0 {
		t.Errorf("drained: second reconcile issued %v", actions(ch))
	}
}

// slowOnA makes vnfha:a the only server in rotation (static1 in maint)
// and starts a slow request, which lands on it; done gets its result.
func slowOnA(t *testing.T, f *fixture) (Desired, <-chan error) {
	t.Helper()
	d := desired(fastCheck, srv("a", f.v[0], Serve))
	reconcile(t, f.pool, d)
	waitStatus(t, f.p.admin, "be", "vnfha:a", "UP")
	if err := f.p.admin.Exec(context.Background(), "set server be/static1 state maint"); err != nil {
		t.Fatal(err)
	}
	// The request must be in flight on vnfha:a for the drain to wait on
	// it. One that failed before it got there (seen once in CI, on a
	// loaded machine, with no error kept) is sent again, at most twice,
	// and its error is told.
	var errs []error
	for range 3 {
		done := make(chan error, 1)
		go func() { _, err := get(f.p.frontPort, "/slow", 15*time.Second); done <- err }()
		for range 100 {
			if f.v[0].hits.Load() >= 1 {
				return d, done
			}
			select {
			case err := <-done:
				errs = append(errs, fmt.Errorf("the slow request ended before vnfha:a got it: %v", err))
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
	}
	t.Fatalf("vnfc got %d requests, want 1: %v", f.v[0].hits.Load(), errs)
	return d, nil
}

func waitHits(t *testing.T, v *vnfc, n int64) {
	t.Helper()
	for range 100 {
		if v.hits.Load() >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("vnfc got %d requests, want %d", v.hits.Load(), n)
}

// TestDrainTimeout: the pool's timeout, or the backend's own when it sets
// one, bounds a drain; then the server goes to maint and its sessions are
// shut.
func TestDrainTimeout(t *testing.T) {
	for _, tt := range []struct {
		name          string
		pool, backend time.Duration
	}{
		{"pool", 10 * time.Second, 0},
		{"backend", time.Hour, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			clock := func() time.Time { return now }
			f := newFixture(t, PoolOptions{DrainTimeout: tt.pool, Now: clock})
			d, done := slowOnA(t, f)
			d.Backends[0].DrainTimeout = tt.backend
			d.Backends[0].Servers[0].Want = Drain
			reconcile(t, f.pool, d)
			now = now.Add(9 * time.Second)
			if _, ch := reconcile(t, f.pool, d); len(ch) != 0 {
				t.Fatalf("before the timeout: %v", actions(ch))
			}
			now = now.Add(time.Second)
			_, ch := reconcile(t, f.pool, d)
			if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:drain-timeout"}) {
				t.Fatalf("at the timeout: %v", got)
			}
			select {
			case <-done: // its session was shut, as promised on timeout
			case <-time.After(5 * time.Second):
				t.Fatal("the session outlived the drain timeout")
			}
		})
	}
}

// TestHold: a held server is left exactly as the operator set it, and a
// held server that is missing is not added.
func TestHold(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	ctx := context.Background()
	if err := f.p.admin.Exec(ctx, "set server be/vnfha:a state maint"); err != nil {
		t.Fatal(err)
	}
	if err := f.p.admin.Exec(ctx, "set server be/vnfha:b state maint"); err != nil {
		t.Fatal(err)
	}
	if err := f.p.admin.Exec(ctx, "del server be/vnfha:b"); err != nil {
		t.Fatal(err)
	}
	d := f.all(Serve)
	for i := range d.Backends[0].Servers {
		if s := &d.Backends[0].Servers[i]; s.Name == "vnfha:a" || s.Name == "vnfha:b" {
			s.Want = Hold
		}
	}
	for i := 0; i < 2; i++ {
		if _, ch := reconcile(t, f.pool, d); len(ch) != 0 {
			t.Fatalf("pass %d on held servers: %v", i, actions(ch))
		}
	}
	st, ok := statusOf(t, f.p.admin, "be", "vnfha:a")
	if !ok || !strings.HasPrefix(st.Status, "MAINT") {
		t.Errorf("held vnfha:a is %q, want the operator's MAINT", st.Status)
	}
	if _, ok := statusOf(t, f.p.admin, "be", "vnfha:b"); ok {
		t.Error("held, deleted vnfha:b was added back")
	}
	// Released: put back.
	_, ch := reconcile(t, f.pool, f.all(Serve))
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:enable", "vnfha:b:add", "vnfha:b:enable"}) {
		t.Errorf("after release: %v", got)
	}
}

func TestRemoveWithConnections(t *testing.T) {
	f := newFixture(t, PoolOptions{DeleteRetry: 50 * time.Millisecond})
	_, done := slowOnA(t, f)
	// An operator puts it in maint by hand, the session stays attached;
	// then the cluster no longer wants it.
	if err := f.p.admin.Exec(context.Background(), "set server be/vnfha:a state maint"); err != nil {
		t.Fatal(err)
	}
	empty := desired(fastCheck)
	act, ch := reconcile2(t, f.pool, empty)
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:delete", "vnfha:a:shutdown"}) || !errors.Is(ch[0].Err, ErrHasConnections) {
		t.Fatalf("changes %+v", ch)
	}
	if !act.NeedsRecheck() {
		t.Error("a refused delete must ask for a recheck")
	}
	select {
	case <-done: // shut by the shutdown that followed the refused delete
	case <-time.After(5 * time.Second):
		t.Fatal("the session survived shutdown sessions")
	}
	deleted := false
	for i := 0; i < 50 && !deleted; i++ {
		time.Sleep(50 * time.Millisecond)
		_, ch := reconcile2(t, f.pool, empty)
		deleted = len(ch) > 0 && ch[0].Action == ActionDelete && ch[0].Err == nil
	}
	if !deleted {
		t.Fatal("never deleted")
	}
	if _, ok := statusOf(t, f.p.admin, "be", "vnfha:a"); ok {
		t.Error("still listed after delete")
	}
	if _, ch := reconcile2(t, f.pool, empty); len(ch) != 0 {
		t.Errorf("after delete: %v", actions(ch))
	}
}

// reconcile2 is reconcile that tolerates refused commands.
func reconcile2(t *testing.T, p *Pool, d Desired) (Actual, []Change) {
	t.Helper()
	act, ch, err := p.Reconcile(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return act, ch
}

func TestRemoveDrainsFirst(t *testing.T) {
	f := newFixture(t, PoolOptions{Recheck: 20 * time.Millisecond})
	f.converge(t)
	d := desired(fastCheck, srv("a", f.v[0], Serve), srv("b", f.v[1], Serve))
	var got []string
	for i := 0; i < 20; i++ {
		_, ch := reconcile(t, f.pool, d)
		if len(ch) == 0 {
			break
		}
		got = append(got, actions(ch)...)
	}
	if want := []string{"vnfha:c:drain", "vnfha:c:maint", "vnfha:c:delete"}; !slices.Equal(got, want) {
		t.Errorf("removal %v, want %v", got, want)
	}
}

func TestOperatorDriftPutBack(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	ctx := context.Background()
	for _, cmd := range []string{
		"set server be/vnfha:a state maint",
		"disable health be/vnfha:b",
		"set server be/vnfha:c weight 7",
		"set server be/static1 weight 9", // unmanaged: must stay
	} {
		if err := f.p.admin.Exec(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	_, ch := reconcile(t, f.pool, f.all(Serve))
	want := []string{"vnfha:a:enable", "vnfha:b:enable-health", "vnfha:c:weight"}
	if got := actions(ch); !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	waitStatus(t, f.p.admin, "be", "vnfha:a", "UP")
	waitStatus(t, f.p.admin, "be", "vnfha:b", "UP")
	st, err := f.p.admin.ServersState(ctx, "be")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		switch s.Name {
		case "static1":
			if s.UWeight != 9 {
				t.Errorf("unmanaged static1 weight %d, want the operator's 9", s.UWeight)
			}
		case "vnfha:b":
			if !s.HealthEnabled() {
				t.Error("health not enabled again")
			}
		case "vnfha:c":
			if s.UWeight != 1 {
				t.Errorf("weight %d, want 1", s.UWeight)
			}
		}
	}
	if _, ch := reconcile(t, f.pool, f.all(Serve)); len(ch) != 0 {
		t.Errorf("after drift: %v", actions(ch))
	}
}

func TestAddressChange(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	d := f.all(Serve)
	d.Backends[0].Servers[0].Port = uint16(f.v[2].port)
	_, ch := reconcile(t, f.pool, d)
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:set-addr", "vnfha:a:enable"}) {
		t.Fatalf("changes %v", got)
	}
	r, _ := statusOf(t, f.p.admin, "be", "vnfha:a")
	if want := netip.AddrPortFrom(f.v[2].addr, uint16(f.v[2].port)).String(); r.Addr != want {
		t.Errorf("addr %s, want %s", r.Addr, want)
	}
	waitStatus(t, f.p.admin, "be", "vnfha:a", "UP")
	if _, ch := reconcile(t, f.pool, d); len(ch) != 0 {
		t.Errorf("after the move: %v", actions(ch))
	}
}

func TestReloadRestored(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	f.p.reload()
	act, ch := reconcile(t, f.pool, f.all(Serve))
	if !act.Reloaded || act.Reloads != 1 {
		t.Errorf("reload not detected: %+v", act)
	}
	if got := actions(ch); len(got) != 6 {
		t.Errorf("after reload: %v, want the three servers added back", got)
	}
	for _, n := range []string{"a", "b", "c"} {
		waitStatus(t, f.p.admin, "be", "vnfha:"+n, "UP")
	}
	if act, ch := reconcile(t, f.pool, f.all(Serve)); len(ch) != 0 || act.Reloaded || act.Reloads != 1 {
		t.Errorf("after restore: %v %+v", actions(ch), act)
	}
}

func TestRestartRestored(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	f.p.kill()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _, err := f.pool.Reconcile(ctx, f.all(Serve))
	cancel()
	if err == nil {
		t.Fatal("reconcile of a dead haproxy succeeded")
	}
	f.p.start()
	act, ch := reconcile(t, f.pool, f.all(Serve))
	if !act.Reloaded || act.Reloads != 1 || len(ch) != 6 {
		t.Errorf("after restart: reloaded=%v reloads=%d changes %v", act.Reloaded, act.Reloads, actions(ch))
	}
	for _, n := range []string{"a", "b", "c"} {
		waitStatus(t, f.p.admin, "be", "vnfha:"+n, "UP")
	}
}

func TestBackendErrorsIsolated(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	d := f.all(Serve)
	d.Backends = append([]Backend{
		{Name: "nope", Check: fastCheck, Servers: []Server{srv("x", f.v[0], Serve)}},
		{Name: "be_src", Check: fastCheck, Servers: []Server{srv("x", f.v[0], Serve)}},
	}, d.Backends...)
	d.Backends = append(d.Backends, Backend{Name: "be2", Check: fastCheck, Servers: []Server{srv("y", f.v[1], Serve)}})
	act, ch, err := f.pool.Reconcile(context.Background(), d)
	if !errors.Is(err, ErrNoSuchBackend) || !errors.Is(err, ErrNotDynamicBackend) {
		t.Errorf("error %v, want both backends named", err)
	}
	if !errors.Is(act.Backends[0].Err, ErrNoSuchBackend) || !errors.Is(act.Backends[1].Err, ErrNotDynamicBackend) ||
		act.Backends[2].Err != nil || act.Backends[3].Err != nil {
		t.Errorf("backend errors: %v / %v / %v / %v", act.Backends[0].Err, act.Backends[1].Err, act.Backends[2].Err, act.Backends[3].Err)
	}
	var ok int
	for _, c := range ch {
		if c.Err == nil {
			ok++
		}
	}
	if ok != 8 { // add+enable for a, b, c and y
		t.Errorf("%d successful changes, want 8: %+v", ok, ch)
	}
	waitStatus(t, f.p.admin, "be2", "vnfha:y", "UP")
}

func TestAddServerIPv6(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	l, err := netListen6()
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err) // the loopback is the machine's, not a tool: not a testenv requirement
	}
	l.Close()
	v6 := startVNFC(t, "::1")
	reconcile(t, f.pool, desired(fastCheck, srv("v6", v6, Serve)))
	waitStatus(t, f.p.admin, "be", "vnfha:v6", "UP")
	r, _ := statusOf(t, f.p.admin, "be", "vnfha:v6")
	if want := "[::1]:" + itoa(v6.port); r.Addr != want {
		t.Errorf("addr %q, want %q", r.Addr, want)
	}
	if _, ch := reconcile(t, f.pool, desired(fastCheck, srv("v6", v6, Serve))); len(ch) != 0 {
		t.Errorf("v6 not idempotent: %v", actions(ch))
	}
}

func TestOperatorLevelSocket(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	pool := NewPool(f.p.oper, PoolOptions{})
	_, ch, err := pool.Reconcile(context.Background(), f.all(Serve))
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) == 0 || !errors.Is(ch[0].Err, ErrPermission) {
		t.Errorf("changes %+v, want permission denied", ch)
	}
}

func TestDesiredValidation(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	bad := []Desired{
		{Prefix: "", Backends: f.all(Serve).Backends},
		{Prefix: "bad prefix", Backends: f.all(Serve).Backends},
		desired(fastCheck, Server{Name: "other:a", Addr: f.v[0].addr, Port: 1}),
		desired(fastCheck, Server{Name: "vnfha:a;del server be/static1", Addr: f.v[0].addr, Port: 1}),
		desired(fastCheck, Server{Name: "vnfha:a", Port: 1}),
		desired(fastCheck, srv("a", f.v[0], Serve), srv("a", f.v[1], Serve)),
		desired(Check{Extra: []string{"enabled"}}, srv("a", f.v[0], Serve)),
		desired(Check{Extra: []string{"maxconn 10"}}, srv("a", f.v[0], Serve)),
		desired(fastCheck, Server{Name: "vnfha:a", Addr: netip.MustParseAddr("fe80::1%lo"), Port: 1}),
		desired(fastCheck, Server{Name: "vnfha:a", Addr: f.v[0].addr, Port: 1, Want: 7}),
	}
	for i, d := range bad {
		_, ch, err := f.pool.Reconcile(context.Background(), d)
		if err == nil || len(ch) != 0 {
			t.Errorf("%d: err %v, changes %v", i, err, actions(ch))
		}
	}
	if _, ok := statusOf(t, f.p.admin, "be", "static1"); !ok {
		t.Error("static1 gone")
	}
}

// TestWeightZero: weight 0 is a weight HAProxy takes (the server is
// checked but gets no traffic from the balancing algorithm) and the
// bridge's config allows; it must reach HAProxy as 0, not as the default.
func TestWeightZero(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	ck := fastCheck
	ck.Weight = new(0)
	d := desired(ck, srv("a", f.v[0], Serve))
	reconcile(t, f.pool, d)
	st, err := f.p.admin.ServersState(context.Background(), "be")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == "vnfha:a" && s.UWeight != 0 {
			t.Errorf("weight %d, want 0", s.UWeight)
		}
	}
	if _, ch := reconcile(t, f.pool, d); len(ch) != 0 {
		t.Errorf("second reconcile issued %v", actions(ch))
	}
}

// TestMoveIsNotReload: a service whose only instance moves (a primitive
// banned from node1, started on node2) empties the pool through its own
// del server, then adds the new server. That is not a reload: no reload
// counted (the metric and the warning would send an operator after
// HAProxy), and no drain bookkeeping forgotten.
func TestMoveIsNotReload(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	a, b := srv("a", f.v[0], Serve), srv("b", f.v[1], Drain)
	reconcile(t, f.pool, desired(fastCheck, a))
	a.Want = Fail // stopped on node1: maint at once
	reconcile(t, f.pool, desired(fastCheck, a))
	// node1's instance is gone from the CIB's view, node2's start is
	// pending: a is deleted, b is not there yet.
	_, ch := reconcile(t, f.pool, desired(fastCheck, b))
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:delete"}) {
		t.Fatalf("changes %v, want a deleted", got)
	}
	b.Want = Serve
	act, ch := reconcile(t, f.pool, desired(fastCheck, b))
	if act.Reloaded || act.Reloads != 0 {
		t.Errorf("a move counted as a reload: reloaded=%v reloads=%d", act.Reloaded, act.Reloads)
	}
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:b:add", "vnfha:b:enable"}) {
		t.Errorf("changes %v", got)
	}
}

// TestSameNameFrontend: with a frontend named like the backend (the
// fixture has "frontend be" and "backend be"), `show stat be 4 -1` answers
// for the frontend, which has no servers. Reconcile must still read every
// server's health and sessions: without them a drain would end at once
// (no sessions seen) and HAProxy's checks would never be reported.
func TestSameNameFrontend(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	act, _ := reconcile(t, f.pool, f.all(Serve))
	if len(act.Backends) != 1 || len(act.Backends[0].Servers) != 4 {
		t.Fatalf("backends %+v", act.Backends)
	}
	for _, s := range act.Backends[0].Servers {
		if s.Status != "UP" || s.CheckStatus != "L7OK" || s.CheckCode != 200 {
			t.Errorf("%s: status %q, check %q %d: show stat not read", s.Name, s.Status, s.CheckStatus, s.CheckCode)
		}
	}
}
