package bridge

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/haproxy"
)

// scriptedPool replays one Actual and its changes per Reconcile: what a
// real HAProxy reported in a sequence the test sets, to check the
// worker's reading of it.
type scriptedPool struct {
	steps []scriptStep
	i     int
}

type scriptStep struct {
	status  string // show stat status of be/vnfha-a:node1
	changes []haproxy.Change
}

func (p *scriptedPool) Reconcile(ctx context.Context, d haproxy.Desired) (haproxy.Actual, []haproxy.Change, error) {
	s := p.steps[p.i]
	p.i++
	a := haproxy.Actual{Backends: []haproxy.BackendStatus{{Name: "be", Servers: []haproxy.ServerStatus{
		{Name: "vnfha-a:node1", Managed: true, Status: s.status},
		{Name: "static1", Status: s.status},
	}}}}
	return a, s.changes, nil
}

// TestHealthEvents: lb.backend_down and lb.backend_up report what
// HAProxy's own checks found, for managed and unmanaged servers; a server
// the bridge itself brings into rotation (health forced down until its
// checks pass) is not reported down.
func TestHealthEvents(t *testing.T) {
	enable := []haproxy.Change{{Backend: "be", Server: "vnfha-a:node1", Action: haproxy.ActionEnable}}
	tests := []struct {
		name  string
		steps []scriptStep
		want  string // the events of the managed server, then of static1
	}{
		{"check fails then passes", []scriptStep{{status: "UP"}, {status: "DOWN"}, {status: "UP"}},
			"lb.backend_down lb.backend_up | lb.backend_down lb.backend_up"},
		{"the bridge brings a server back from maint", []scriptStep{{status: "MAINT", changes: enable}, {status: "DOWN"}, {status: "UP"}},
			"lb.backend_up | lb.backend_up"},
		{"the bridge takes a drained server back", []scriptStep{{status: "DRAIN", changes: enable}, {status: "DOWN"}, {status: "UP"}},
			"lb.backend_up | lb.backend_down lb.backend_up"},
		{"a draining server's check fails", []scriptStep{{status: "DRAIN"}, {status: "DOWN"}},
			"lb.backend_down | lb.backend_down"},
		{"rising, then its check fails", []scriptStep{{status: "MAINT", changes: enable}, {status: "DOWN"}, {status: "UP"}, {status: "DOWN"}},
			"lb.backend_up lb.backend_down | lb.backend_up lb.backend_down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(minimalConfig + "listen: \"\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			pool := &scriptedPool{steps: tt.steps}
			b, err := New(cfg, Options{Log: quietLog(), Source: &fakeSource{}, Pools: map[string]reconciler{"lb1": pool}})
			if err != nil {
				t.Fatal(err)
			}
			var managed, static []string
			b.Bus.Attach(SinkFunc(func(e Event) {
				if !strings.HasPrefix(e.Type, "lb.") {
					return
				}
				if e.Managed {
					managed = append(managed, e.Type)
				} else {
					static = append(static, e.Type)
				}
			}))
			w := b.lbs[0]
			for range tt.steps {
				if _, _, err := w.reconcile(context.Background(), haproxy.Desired{Prefix: "vnfha-"}); err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Join(managed, " ") + " | " + strings.Join(static, " "); strings.TrimSpace(got) != tt.want {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// TestChangeNamesItsInstance: the log line and pool.changed event of a
// change name the instance's service, resource and node, also when the
// instance has left the view (a server drained and deleted because its
// instance is gone).
func TestChangeNamesItsInstance(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimalConfig + "listen: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	drain := []haproxy.Change{{Backend: "be", Server: "vnfha-a:node1", Action: haproxy.ActionDrain, Reason: "not desired"}}
	pool := &scriptedPool{steps: []scriptStep{{status: "UP"}, {status: "UP", changes: drain}}}
	b, err := New(cfg, Options{Log: quietLog(), Source: &fakeSource{}, Pools: map[string]reconciler{"lb1": pool}})
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	b.Bus.Attach(SinkFunc(func(e Event) {
		if e.Type == "pool.changed" {
			got = append(got, e)
		}
	}))
	w := b.lbs[0]
	b.owners = map[string]serverOwner{"vnfha-a:node1": {Service: "web", Resource: "web", Node: "node1"}}
	if _, _, err := w.reconcile(context.Background(), haproxy.Desired{Prefix: "vnfha-"}); err != nil {
		t.Fatal(err)
	}
	b.owners = map[string]serverOwner{} // the instance left the view
	if _, _, err := w.reconcile(context.Background(), haproxy.Desired{Prefix: "vnfha-"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Service != "web" || got[0].Resource != "web" || got[0].Node != "node1" {
		t.Errorf("pool.changed events: %+v", got)
	}
}

// erringPool reports one backend HAProxy refused, as Pool.Reconcile does.
type erringPool struct{}

func (erringPool) Reconcile(ctx context.Context, d haproxy.Desired) (haproxy.Actual, []haproxy.Change, error) {
	err := errors.New("backend be_vnfc: Backend must use a dynamic load balancing")
	return haproxy.Actual{Backends: []haproxy.BackendStatus{{Name: "be_vnfc", Err: err}}}, nil, err
}

// TestStatusShowsBackendErrors: /v1/status says why a backend is not
// reconciled, in words (haproxy.BackendStatus.Err, an error value,
// encodes as {} in JSON).
func TestStatusShowsBackendErrors(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimalConfig + "listen: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, Options{Log: quietLog(), Source: &fakeSource{}, Pools: map[string]reconciler{"lb1": erringPool{}}})
	if err != nil {
		t.Fatal(err)
	}
	b.lbs[0].reconcile(context.Background(), haproxy.Desired{Prefix: "vnfha-"})
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	if !strings.Contains(rec.Body.String(), `"be_vnfc": "backend be_vnfc: Backend must use`) {
		t.Errorf("status:\n%s", rec.Body)
	}
}

// TestNextPass: errors back off, the pool's wake time is honoured, a
// refusal that persists backs off instead of being retried every 200 ms,
// and nothing waits longer than the resync interval.
func TestNextPass(t *testing.T) {
	const resync = 5 * time.Second
	now := time.Unix(1000, 0)
	type pass struct {
		wake    time.Duration // from now; 0 = nothing in flight
		refused bool
		err     bool
		want    time.Duration
	}
	for _, tt := range []struct {
		name   string
		passes []pass
	}{
		{"at rest", []pass{{want: resync}, {want: resync}}},
		{"drain recheck", []pass{{wake: 200 * time.Millisecond, want: 200 * time.Millisecond}}},
		{"delete retry in 1s", []pass{{wake: time.Second, want: time.Second}}},
		{"wake in the past", []pass{{wake: -time.Second, want: 10 * time.Millisecond}}},
		{"errors back off, then reset", []pass{{err: true, want: 200 * time.Millisecond}, {err: true, want: 400 * time.Millisecond},
			{err: true, want: 800 * time.Millisecond}, {want: resync}}},
		{"errors capped at resync", []pass{{err: true}, {err: true}, {err: true}, {err: true}, {err: true}, {err: true, want: resync}}},
		{"refusals back off", []pass{{wake: 200 * time.Millisecond, refused: true, want: 400 * time.Millisecond},
			{wake: 200 * time.Millisecond, refused: true, want: 800 * time.Millisecond},
			{wake: 200 * time.Millisecond, refused: true, want: 1600 * time.Millisecond},
			{wake: 200 * time.Millisecond, want: 200 * time.Millisecond}}},
		{"refusals capped at resync", []pass{{wake: 1, refused: true}, {wake: 1, refused: true}, {wake: 1, refused: true},
			{wake: 1, refused: true}, {wake: 1, refused: true}, {wake: 1, refused: true, want: resync}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			failures, refusals := 0, 0
			for i, p := range tt.passes {
				var wake time.Time
				if p.wake != 0 {
					wake = now.Add(p.wake)
				}
				var err error
				if p.err {
					err = errors.New("connection refused")
				}
				got := nextPass(resync, now, wake, p.refused, err, &failures, &refusals)
				if p.want != 0 && got != p.want {
					t.Errorf("pass %d: next %s, want %s", i+1, got, p.want)
				}
			}
		})
	}
}
