package haproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPoolBatchedRead runs the pool tests again with the batched read
// forced on their one backend, so that both reads are held to the same
// behaviour against the real HAProxy.
func TestPoolBatchedRead(t *testing.T) {
	t.Cleanup(func() { batchedRead = false })
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"ConvergeFromEmptyAndIdempotent", TestConvergeFromEmptyAndIdempotent},
		{"FailThenRecover", TestFailThenRecover},
		{"DrainInFlightRequest", TestDrainInFlightRequest},
		{"DrainTimeout", TestDrainTimeout},
		{"Hold", TestHold},
		{"RemoveWithConnections", TestRemoveWithConnections},
		{"RemoveDrainsFirst", TestRemoveDrainsFirst},
		{"OperatorDriftPutBack", TestOperatorDriftPutBack},
		{"AddressChange", TestAddressChange},
		{"ReloadRestored", TestReloadRestored},
		{"RestartRestored", TestRestartRestored},
		{"BackendErrorsIsolated", TestBackendErrorsIsolated},
		{"AddServerIPv6", TestAddServerIPv6},
		{"DesiredValidation", TestDesiredValidation},
		{"WeightZero", TestWeightZero},
		{"MoveIsNotReload", TestMoveIsNotReload},
		{"SameNameFrontend", TestSameNameFrontend},
	} {
		batchedRead = true
		t.Run(tc.name, tc.f)
	}
}

func TestUseBatched(t *testing.T) {
	for _, tc := range []struct {
		read              readMode
		k, others, passes int
		want              bool
	}{
		{readAuto, 0, -1, 0, false},
		{readAuto, 1, -1, 0, false}, // one backend: on its own, always
		{readAuto, 1, 0, 0, false},
		{readAuto, 2, -1, 0, true}, // others unknown: read them
		{readAuto, 2, 0, 1, true},
		{readAuto, 2, 23, 1, true},
		{readAuto, 2, 24, 1, false}, // 2 round trips saved, 24 servers paid
		{readAuto, 2, 24, reprobePasses, true},
		{readAuto, 250, 0, 1, true},
		{readAuto, 250, 5000, 1, true},
		{readAuto, 4, 950, 1, false}, // BenchmarkReadBackends k=4
		{readPerBackend, 250, 0, 1, false},
		{readBatched, 1, 5000, 1, true},
	} {
		p := &Pool{read: tc.read, others: tc.others, passesSince: tc.passes}
		if got := p.useBatched(tc.k); got != tc.want {
			t.Errorf("%+v: got %v", tc, got)
		}
	}
}

// TestPoolReadChoice: a Desired of a few backends on an HAProxy with many
// other servers is read backend by backend after the first pass, which
// counts them; with the others emptied, the reprobe goes back to batched.
func TestPoolReadChoice(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	all := manyDesired(f, manyBackends) // 22 backends, 44 servers besides be's
	reconcile(t, f.pool, all)
	if f.pool.others != 0 {
		t.Errorf("others %d after a read of every backend", f.pool.others)
	}
	// be and be2 only: 40 servers elsewhere, more than 2·12.
	two := Desired{Prefix: all.Prefix, Backends: all.Backends[:2]}
	reconcile(t, f.pool, two)
	if f.pool.others != 2*manyBackends || f.pool.passesSince != 0 {
		t.Fatalf("others %d, passes %d after a batched read of 2 backends", f.pool.others, f.pool.passesSince)
	}
	for range 3 {
		reconcile(t, f.pool, two)
	}
	if f.pool.passesSince != 3 {
		t.Errorf("%d passes since the batched read, want 3 read backend by backend", f.pool.passesSince)
	}
}

// manyDesired is a Desired over be, be2 and the n backends many<i>, each
// with two of the fixture's VNFCs.
func manyDesired(f *fixture, n int) Desired {
	d := f.all(Serve)
	d.Backends = append(d.Backends, Backend{Name: "be2", Check: fastCheck, Servers: []Server{srv("b2", f.v[2], Serve)}})
	for i := range n {
		d.Backends = append(d.Backends, Backend{Name: fmt.Sprintf("many%d", i), Check: fastCheck, Servers: []Server{
			srv(fmt.Sprintf("m%da", i), f.v[i%3], Serve), srv(fmt.Sprintf("m%db", i), f.v[(i+1)%3], Serve),
		}})
	}
	return d
}

// TestPoolBatchedMany: 22 backends (be, with a frontend of its name and a
// static server; be2; many0..19) read in two round trips, converged, and
// read the same as backend by backend.
func TestPoolBatchedMany(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	d := manyDesired(f, manyBackends)
	_, ch := reconcile(t, f.pool, d)
	if len(ch) != 2*(3+1+2*manyBackends) {
		t.Fatalf("%d changes, want add+enable per server: %v", len(ch), actions(ch))
	}
	for i := range manyBackends {
		waitStatus(t, f.p.admin, fmt.Sprintf("many%d", i), fmt.Sprintf("vnfha:m%db", i), "UP")
	}
	waitStatus(t, f.p.admin, "be", "vnfha:c", "UP")
	waitStatus(t, f.p.admin, "be2", "vnfha:b2", "UP")
	batched, ch := reconcile(t, f.pool, d)
	if len(ch) != 0 {
		t.Errorf("second reconcile issued %v", actions(ch))
	}
	// The same HAProxy read backend by backend.
	one := NewPool(f.p.admin, PoolOptions{})
	one.read = readPerBackend
	single, ch := reconcile(t, one, d)
	if len(ch) != 0 {
		t.Errorf("per-backend reconcile issued %v", actions(ch))
	}
	if len(batched.Backends) != len(d.Backends) {
		t.Fatalf("%d backends read, want %d", len(batched.Backends), len(d.Backends))
	}
	for i, b := range batched.Backends {
		if b.Name != d.Backends[i].Name || b.Err != nil {
			t.Errorf("backend %d: %s, err %v", i, b.Name, b.Err)
		}
		want := len(d.Backends[i].Servers)
		if b.Name == "be" {
			want++ // static1
		}
		if len(b.Servers) != want {
			t.Errorf("%s: %d servers, want %d", b.Name, len(b.Servers), want)
		}
		for _, s := range b.Servers {
			// A server that rose between the two reads would differ in
			// its check's timing only: compare what the pool acts on.
			if s.Status != "UP" || s.CheckStatus != "L7OK" || s.CheckCode != 200 {
				t.Errorf("%s/%s: status %q, check %q %d", b.Name, s.Name, s.Status, s.CheckStatus, s.CheckCode)
			}
		}
		if !slices.EqualFunc(b.Servers, single.Backends[i].Servers, func(x, y ServerStatus) bool {
			return x.Name == y.Name && x.Addr == y.Addr && x.Port == y.Port && x.Managed == y.Managed &&
				x.Admin == y.Admin && x.Weight == y.Weight && x.Status == y.Status
		}) {
			t.Errorf("%s: batched read %+v, per-backend %+v", b.Name, b.Servers, single.Backends[i].Servers)
		}
	}
	// Traffic still flows through be (the frontend named like it is not
	// taken for it).
	if code, err := get(f.p.frontPort, "/", 2*time.Second); err != nil || code != 200 {
		t.Errorf("request: %d %v", code, err)
	}
}

// TestPoolBatchedMissing: in a batched read, a backend that does not
// exist, one that refuses dynamic servers and an existing empty one are
// each reported on their own; the others are reconciled.
func TestPoolBatchedMissing(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	d := manyDesired(f, 2)
	d.Backends = slices.Insert(d.Backends, 1,
		Backend{Name: "nope", Check: fastCheck, Servers: []Server{srv("x", f.v[0], Serve)}},
		Backend{Name: "be_src", Check: fastCheck, Servers: []Server{srv("x", f.v[0], Serve)}},
		Backend{Name: "many5"}, // exists, nothing wanted: no error
	)
	act, ch, err := f.pool.Reconcile(context.Background(), d)
	if !errors.Is(err, ErrNoSuchBackend) || !errors.Is(err, ErrNotDynamicBackend) {
		t.Errorf("error %v, want both backends named", err)
	}
	for _, b := range act.Backends {
		switch b.Name {
		case "nope":
			if !errors.Is(b.Err, ErrNoSuchBackend) {
				t.Errorf("nope: %v", b.Err)
			}
		case "be_src":
			if !errors.Is(b.Err, ErrNotDynamicBackend) {
				t.Errorf("be_src: %v", b.Err)
			}
		default:
			if b.Err != nil {
				t.Errorf("%s: %v", b.Name, b.Err)
			}
		}
	}
	var ok int
	for _, c := range ch {
		if c.Err == nil {
			ok++
		}
	}
	if want := 2 * (3 + 1 + 4); ok != want {
		t.Errorf("%d successful changes, want %d: %v", ok, want, actions(ch))
	}
	waitStatus(t, f.p.admin, "many1", "vnfha:m1b", "UP")
}

// fakeState and fakeStat are replies in HAProxy's shape for the hostile
// tests: state rows "be_id be_name srv_name" (address 10.0.0.1:80, UP,
// weight 1, checks on) and stat rows "pxname,svname,iid,type".
func fakeState(rows ...string) string {
	var b strings.Builder
	b.WriteString("1\n# be_id be_name srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_check_state srv_port\n")
	for _, r := range rows {
		b.WriteString(r + " 10.0.0.1 2 0 1 6 80\n")
	}
	b.WriteString("\n")
	return b.String()
}

func fakeStat(rows ...string) string {
	var b strings.Builder
	b.WriteString("# pxname,svname,iid,type,status,scur,check_status,check_code\n")
	for _, r := range rows {
		if strings.HasSuffix(r, ",1") {
			b.WriteString(r + ",UP,0,,\n")
		} else {
			b.WriteString(r + ",UP,0,L7OK,200\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// TestPoolBatchedHostile: the batched read against a peer that cuts its
// replies, or whose two replies disagree (a reload between them, or a
// lie). A reply cut or malformed leaves the pass unread and issues
// nothing; a backend the two replies disagree on is that backend's error
// only, and nothing is issued for it.
func TestPoolBatchedHostile(t *testing.T) {
	state := fakeState("3 be vnfha:a", "4 be2 vnfha:a")
	stat := fakeStat("be,vnfha:a,3,2", "be,BACKEND,3,1", "be2,vnfha:a,4,2", "be2,BACKEND,4,1", "be3,BACKEND,5,1")
	for _, tc := range []struct {
		name        string
		state, stat string
		whole       bool     // the whole read fails
		bad         []string // backends with an error
	}{
		{"consistent", state, stat, false, nil},
		{"state cut after its header", strings.Join(strings.SplitAfter(state, "\n")[:2], ""), stat, true, nil},
		{"state cut mid-row", state[:len(state)-10], stat, true, nil},
		{"state without its end", strings.TrimSuffix(state, "\n"), stat, true, nil},
		{"stat cut after a row", strings.Join(strings.SplitAfter(stat, "\n")[:3], ""), stat, true, nil},
		{"stat cut", state, stat[:len(stat)/2], true, nil},
		{"stat refused", state, "Unknown command\n\n", true, nil},
		{"state garbage", "garbage", stat, true, nil},
		{"empty replies", "", "", true, nil},
		{"reload between the reads", state,
			fakeStat("be,vnfha:a,4,2", "be,BACKEND,4,1", "be2,vnfha:a,3,2", "be2,BACKEND,3,1", "be3,BACKEND,5,1"), false, []string{"be", "be2"}},
		{"backend gone from stat", state, fakeStat("be,vnfha:a,3,2", "be,BACKEND,3,1", "be3,BACKEND,5,1"), false, []string{"be2"}},
		{"stat rows of another proxy under the id", state,
			fakeStat("be,vnfha:a,3,2", "be,BACKEND,3,1", "other,vnfha:a,4,2", "be2,BACKEND,4,1", "be3,BACKEND,5,1"), false, []string{"be2"}},
		{"servers added between the reads", state,
			fakeStat("be,vnfha:a,3,2", "be,BACKEND,3,1", "be2,vnfha:a,4,2", "be2,BACKEND,4,1", "be3,vnfha:a,5,2", "be3,BACKEND,5,1"), false, []string{"be3"}},
		{"state lists a backend under two ids", fakeState("3 be vnfha:a", "4 be2 vnfha:a", "7 be2 vnfha:b"), stat, false, []string{"be2"}},
		{"backend listed twice in stat", state, fakeStat("be,BACKEND,3,1", "be,BACKEND,3,1"), true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, written := readsPeer(t, map[string]string{"show servers state": tc.state, "show stat -1 6 -1": tc.stat})
			p := NewPool(c, PoolOptions{})
			// vnfha:a is there and serving: nothing to do for it. vnfha:b
			// is missing: an add, which must go out only for a backend
			// read whole. be3 exists and is empty.
			var d Desired
			d.Prefix = "vnfha:"
			for _, be := range []string{"be", "be2", "be3"} {
				d.Backends = append(d.Backends, Backend{Name: be, Servers: []Server{
					{Name: "vnfha:a", Addr: mustAddr("10.0.0.1"), Port: 80},
					{Name: "vnfha:b", Addr: mustAddr("10.0.0.2"), Port: 80},
				}})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			act, ch, err := p.Reconcile(ctx, d)
			writes := written()
			if tc.whole {
				if err == nil || act.Backends != nil || len(ch) != 0 || len(writes) != 0 {
					t.Fatalf("a bad read was acted on: err %v, backends %+v, writes %q", err, act.Backends, writes)
				}
				return
			}
			if (err != nil) != (len(tc.bad) > 0) {
				t.Errorf("err %v", err)
			}
			if len(act.Backends) != 3 {
				t.Fatalf("backends %+v", act.Backends)
			}
			for _, b := range act.Backends {
				if slices.Contains(tc.bad, b.Name) != (b.Err != nil) {
					t.Errorf("%s: err %v", b.Name, b.Err)
				}
				if b.Err != nil && len(b.Servers) != 0 {
					t.Errorf("%s: servers reported from a read refused: %+v", b.Name, b.Servers)
				}
				added := slices.Contains(writes, "add server "+b.Name+"/vnfha:b 10.0.0.2:80 check inter 2000 rise 2 fall 3 weight 1")
				if added == (b.Err != nil) {
					t.Errorf("%s: err %v, yet add issued %v (writes %q)", b.Name, b.Err, added, writes)
				}
				if b.Name == "be3" && b.Err == nil && slices.Contains(writes, "add server be3/vnfha:a 10.0.0.1:80 check inter 2000 rise 2 fall 3 weight 1") != true {
					t.Errorf("be3 (empty): a not added: %q", writes)
				}
			}
		})
	}
}
