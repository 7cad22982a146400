package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/haproxy"
)

// recheck is how soon a pool is looked at again while it has work in
// flight (a server draining, a deletion refused while sessions end).
const recheck = 200 * time.Millisecond

// lbWorker keeps one HAProxy's pools equal to the view. Each HAProxy has
// its own worker, so one that is down or slow never delays the others.
type lbWorker struct {
	cfg    HAProxyConfig
	pool   reconciler
	resync time.Duration
	log    logrus.FieldLogger
	m      *metrics
	bus    *Bus
	names  func() map[string]serverOwner // server name → instance, for log lines

	// wake holds at most one pending wake-up: a burst of views costs one
	// reconcile, of the newest.
	wake chan struct{}

	mu      sync.Mutex
	desired *haproxy.Desired
	status  LBStatus
	health  map[string]string // backend/server → last status seen, for events
	// known remembers the instance of every managed server HAProxy
	// holds, so that the drain and delete of a server whose instance has
	// left the view still name it. Used by run's goroutine only.
	known map[string]serverOwner
	// entering are the servers the bridge put into rotation (health
	// forced down until their checks pass): their DOWN is its own doing,
	// not a check result.
	entering map[string]bool
	passes   int // reconciles done, for tests to wait on
}

// reconciler is the part of haproxy.Pool the worker uses.
type reconciler interface {
	Reconcile(ctx context.Context, d haproxy.Desired) (haproxy.Actual, []haproxy.Change, error)
}

// serverOwner names the instance behind a managed server.
type serverOwner struct{ Service, Resource, Node string }

// LBStatus is one HAProxy as /v1/status shows it.
type LBStatus struct {
	Name      string    `json:"name"`
	Admin     string    `json:"admin"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	ErrorAt   time.Time `json:"error_at,omitzero"`
	// BackendErrors says, by backend, why one was not (fully) reconciled
	// in the last pass: Actual's error values have no JSON form.
	BackendErrors map[string]string `json:"backend_errors,omitempty"`
	Actual        *haproxy.Actual   `json:"actual,omitempty"`
}

func (w *lbWorker) set(d haproxy.Desired) {
	w.mu.Lock()
	w.desired = &d
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *lbWorker) snapshot() LBStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// run reconciles on every new view, on the resync interval (which is what
// finds an operator's change, a reload or a restart of HAProxy), sooner
// while a drain is in flight, and with backoff after an error.
func (w *lbWorker) run(ctx context.Context) {
	timer := time.NewTimer(w.resync)
	defer timer.Stop()
	failures, refusals := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		w.mu.Lock()
		d := w.desired
		w.mu.Unlock()
		next := w.resync
		// No view yet: reconciling against an empty desired pool would
		// drain every server the bridge owns.
		if d != nil {
			wake, refused, err := w.reconcile(ctx, *d)
			next = nextPass(w.resync, time.Now(), wake, refused, err, &failures, &refusals)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// nextPass decides when the loop looks at its HAProxy again: after an
// error, with backoff; while something is in flight, when the pool asked
// (a drain's recheck, a refused delete's retry), but backing off while
// HAProxy keeps refusing commands, so a refusal that persists is not
// retried and logged five times a second forever; otherwise at the resync
// interval. Never later than the resync interval.
func nextPass(resync time.Duration, now, wake time.Time, refused bool, err error, failures, refusals *int) time.Duration {
	if err != nil {
		*failures++
		return min(resync, 100*time.Millisecond<<min(*failures, 10))
	}
	*failures = 0
	if !refused {
		*refusals = 0
	} else {
		*refusals++
	}
	if wake.IsZero() {
		return resync
	}
	next := max(wake.Sub(now), 10*time.Millisecond)
	if *refusals > 0 {
		next = max(next, recheck<<min(*refusals, 10))
	}
	return min(next, resync)
}

func (w *lbWorker) reconcile(ctx context.Context, d haproxy.Desired) (wake time.Time, refused bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout.Duration)
	defer cancel()
	start := time.Now()
	w.log.WithField("haproxy", w.cfg.Name).Debug("reconcile start")
	actual, changes, err := w.pool.Reconcile(rctx, d)
	took := time.Since(start)
	w.m.reconcileTime.WithLabelValues(w.cfg.Name).Observe(took.Seconds())
	w.log.WithFields(logrus.Fields{"haproxy": w.cfg.Name, "took": took.String(), "changes": len(changes)}).Debug("reconcile done")
	owners := w.names()
	for _, c := range changes {
		o, ok := owners[c.Server]
		if !ok {
			o = w.known[c.Server]
		}
		f := w.log.WithFields(logrus.Fields{
			"haproxy": w.cfg.Name, "backend": c.Backend, "server": c.Server,
			"service": o.Service, "resource": o.Resource, "node": o.Node, "reason": c.Reason,
		})
		w.m.commands.WithLabelValues(w.cfg.Name, c.Action).Inc()
		if c.Err != nil {
			refused = true
			w.m.commandErrors.WithLabelValues(w.cfg.Name).Inc()
			f.WithError(c.Err).Warnf("%s failed", c.Action)
			continue
		}
		f.Info(c.Action)
		w.bus.Publish(Event{Type: "pool.changed", Time: time.Now(), Service: o.Service, Resource: o.Resource,
			Node: o.Node, HAProxy: w.cfg.Name, Backend: c.Backend, Server: c.Server, Managed: true, To: c.Action, Detail: c.Reason})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.passes++
	if err != nil && !errors.Is(err, context.Canceled) {
		w.m.reconciles.WithLabelValues(w.cfg.Name, "error").Inc()
		w.m.commandErrors.WithLabelValues(w.cfg.Name).Inc()
		if w.status.LastError != err.Error() {
			w.log.WithField("haproxy", w.cfg.Name).WithError(err).Warn("reconcile failed; retrying with backoff")
		}
		w.status.LastError, w.status.ErrorAt = err.Error(), time.Now()
	} else if err == nil {
		w.m.reconciles.WithLabelValues(w.cfg.Name, "ok").Inc()
		if w.status.LastError != "" {
			w.log.WithField("haproxy", w.cfg.Name).Info("reconcile works again")
		}
		w.status.LastError, w.status.LastOK = "", time.Now()
	}
	if actual.Backends != nil {
		// actual was read before this pass's changes: observe it with
		// what the earlier passes did, then note this pass's.
		w.observe(&actual, owners)
		w.status.Actual = &actual
		w.status.BackendErrors = nil
		for _, be := range actual.Backends {
			if be.Err != nil {
				if w.status.BackendErrors == nil {
					w.status.BackendErrors = map[string]string{}
				}
				w.status.BackendErrors[be.Name] = be.Err.Error()
			}
		}
	}
	w.noteEntering(changes)
	if actual.Backends != nil {
		w.remember(&actual, owners)
	}
	return actual.NextWake, refused, err
}

// remember keeps the instance of every managed server present: from the
// view when it is there, else from before.
func (w *lbWorker) remember(a *haproxy.Actual, owners map[string]serverOwner) {
	known := make(map[string]serverOwner, len(w.known))
	for _, be := range a.Backends {
		for _, s := range be.Servers {
			if !s.Managed {
				continue
			}
			if o, ok := owners[s.Name]; ok {
				known[s.Name] = o
			} else if o, ok := w.known[s.Name]; ok {
				known[s.Name] = o
			}
		}
	}
	w.known = known
}

// noteEntering remembers the servers a pass put into rotation: they read
// DOWN until `rise` checks pass. Called with w.mu held.
func (w *lbWorker) noteEntering(changes []haproxy.Change) {
	for _, c := range changes {
		if c.Err != nil {
			continue
		}
		switch c.Action {
		case haproxy.ActionAdd, haproxy.ActionEnable, haproxy.ActionSetAddr:
			if w.entering == nil {
				w.entering = map[string]bool{}
			}
			w.entering[c.Backend+"/"+c.Server] = true
		}
	}
}

// observe turns what HAProxy reports into metrics and into health events:
// HAProxy's own check results, for managed and unmanaged servers alike.
// Called with w.mu held.
func (w *lbWorker) observe(a *haproxy.Actual, owners map[string]serverOwner) {
	if a.Reloaded {
		w.m.reloads.WithLabelValues(w.cfg.Name).Inc()
		w.log.WithField("haproxy", w.cfg.Name).Warn("HAProxy was reloaded or restarted: its pool is being restored")
	}
	w.m.servers.DeletePartialMatch(map[string]string{"haproxy": w.cfg.Name})
	seen := make(map[string]string, len(w.health))
	for _, be := range a.Backends {
		counts := map[[2]string]int{}
		for _, s := range be.Servers {
			st := s.Health().State
			managed := "false"
			if s.Managed {
				managed = "true"
			}
			counts[[2]string{st, managed}]++
			key := be.Name + "/" + s.Name
			seen[key] = st
			prev, known := w.health[key]
			typ := ""
			switch {
			case st == haproxy.HealthUp:
				delete(w.entering, key)
				if known && prev != st {
					typ = "lb.backend_up"
				}
			case st == haproxy.HealthDown:
				// Down is news only from a state in which checks were
				// passing; out of maintenance (the bridge's enable, an
				// operator's) or while the bridge brings it in, the
				// server is DOWN until its checks pass, which is not a
				// check failing.
				if known && (prev == haproxy.HealthUp || prev == haproxy.HealthDrain) && !w.entering[key] {
					typ = "lb.backend_down"
				}
			default:
				delete(w.entering, key)
			}
			if typ != "" {
				o, ok := owners[s.Name]
				if !ok {
					o = w.known[s.Name]
				}
				now := time.Now()
				changed := now
				if s.LastChange >= 0 {
					changed = now.Add(-s.LastChange).Truncate(time.Second)
				}
				w.bus.Publish(Event{Type: typ, Time: now, Service: o.Service, Resource: o.Resource, Node: o.Node,
					HAProxy: w.cfg.Name, Backend: be.Name, Server: s.Name, Managed: s.Managed, From: prev, To: st,
					Detail: healthDetail(s.Health()), Changed: changed,
					Ref: fmt.Sprintf("%d-%d-%d", a.Pid, s.ChkDown, changed.Unix())})
			}
		}
		for k, n := range counts {
			w.m.servers.WithLabelValues(w.cfg.Name, be.Name, k[0], k[1]).Set(float64(n))
		}
	}
	w.health = seen
	for k := range w.entering {
		if _, ok := seen[k]; !ok {
			delete(w.entering, k)
		}
	}
}

func healthDetail(h haproxy.Health) string {
	d := "status " + h.Status
	if h.CheckStatus != "" {
		d += ", check " + h.CheckStatus
	}
	if h.CheckCode != 0 {
		d += fmt.Sprintf(" (%d)", h.CheckCode)
	}
	return d
}
