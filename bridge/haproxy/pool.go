package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Want is what the cluster wants of one server.
type Want int

const (
	// Serve: in rotation, once HAProxy's own check passes.
	Serve Want = iota
	// Drain: a planned stop; no new traffic, sessions finish, then maint.
	Drain
	// Fail: the instance failed; maint at once and its sessions shut.
	Fail
	// Hold: an operator holds the server (docs/bridge.md): it is left
	// exactly as it is, neither corrected nor removed.
	Hold
)

func (w Want) String() string {
	switch w {
	case Serve:
		return "serve"
	case Drain:
		return "drain"
	case Fail:
		return "fail"
	case Hold:
		return "hold"
	}
	return fmt.Sprintf("Want(%d)", int(w))
}

// Server is one desired server of a backend.
type Server struct {
	Name   string // a name made with ServerName; must start with Desired.Prefix
	Addr   netip.Addr
	Port   uint16
	Want   Want
	Reason string // why, for the Change log line (e.g. "stopped on node2")
}

// Check holds the check settings of the servers of a backend. They are
// passed on every `add server` because dynamic servers do not inherit
// default-server (research A.4 point 5). Zero values take the defaults
// noted on each field. They apply when a server is added: 2.6 cannot
// change inter/rise/fall of a live server, so a changed Check reaches an
// existing server only when it is added again (after a reload, or a
// remove and add).
type Check struct {
	Inter time.Duration // default 2s, HAProxy's own
	Rise  int           // default 2
	Fall  int           // default 3
	// Weight is the server's weight (0..256), also put back when an
	// operator changed it. nil takes HAProxy's default, 1; 0 is a weight
	// of 0 (checked, but no traffic from the balancing algorithm).
	Weight *int
	// Extra keywords appended to `add server` (e.g. "maxconn", "100").
	// "enabled", "disabled" and "track" are refused: see Reconcile.
	Extra []string
}

func (c Check) withDefaults() Check {
	if c.Inter <= 0 {
		c.Inter = 2 * time.Second
	}
	if c.Rise <= 0 {
		c.Rise = 2
	}
	if c.Fall <= 0 {
		c.Fall = 3
	}
	if c.Weight == nil {
		c.Weight = new(1)
	}
	return c
}

// Backend is the desired pool of one HAProxy backend.
type Backend struct {
	Name    string
	Check   Check
	Servers []Server
	// DrainTimeout bounds the drains of this backend's servers; 0 takes
	// PoolOptions.DrainTimeout.
	DrainTimeout time.Duration
}

// Desired is the whole desired state of one HAProxy. Servers whose name
// starts with Prefix are managed: added, changed and deleted to match.
// Any other server is never touched, only reported.
type Desired struct {
	Backends []Backend
	Prefix   string
}

// Actions recorded in Change.Action.
const (
	ActionAdd          = "add"           // add server
	ActionEnable       = "enable"        // enter rotation after checks pass
	ActionEnableHealth = "enable-health" // an operator had disabled checks
	ActionSetAddr      = "set-addr"      // maint + new address (then enable)
	ActionWeight       = "weight"        // weight put back
	ActionFail         = "fail"          // maint + shutdown sessions
	ActionShutdown     = "shutdown"      // shutdown sessions of a failed server left in maint
	ActionDrain        = "drain"         // state drain
	ActionMaint        = "maint"         // drained: no session left
	ActionDrainTimeout = "drain-timeout" // maint + shutdown sessions after DrainTimeout
	ActionDelete       = "delete"        // del server
)

// Change is one command line Reconcile issued, for the caller's log.
type Change struct {
	Backend, Server string
	Action          string
	Reason          string
	Err             error // nil when HAProxy accepted it
}

// ServerStatus is one server as HAProxy reported it: managed or not.
type ServerStatus struct {
	Name        string
	Addr        netip.Addr
	Port        uint16
	Managed     bool
	OpState     OpState
	Admin       AdminState
	Check       CheckState
	Weight      int    // user weight
	Status      string // show stat status ("UP 1/2", "MAINT", ...)
	CheckStatus string // L7OK, L4CON, INI, ...; empty in maint
	CheckCode   int
	Scur        int
	// LastChange is how long ago the status changed (-1: unknown);
	// ChkDown is HAProxy's count of the server's UP → DOWN transitions.
	LastChange time.Duration
	ChkDown    int
}

// BackendStatus is one desired backend as read from HAProxy.
type BackendStatus struct {
	Name    string
	Servers []ServerStatus
	// Err is why this backend could not be (fully) reconciled: it does
	// not exist, refuses dynamic servers, or could not be read.
	Err error
}

// Actual is what one HAProxy held when Reconcile read it, before the
// changes it made (those are the returned []Change), except the fails it
// issued before reading (see Reconcile): those servers already read as
// in maintenance.
type Actual struct {
	Pid     int
	Uptime  time.Duration
	Version string
	// Reloaded is true when this pass saw a reload or restart (a new
	// worker, or every managed server gone); Reloads counts them since
	// NewPool. The first pass never counts.
	Reloaded bool
	Reloads  int
	Backends []BackendStatus
	// NextWake is when Reconcile should run again because something is
	// in progress (a drain, a delete to retry); zero when nothing is.
	NextWake time.Time
}

// NeedsRecheck reports whether something is in progress and Reconcile
// should run again at NextWake rather than only at the resync interval.
func (a Actual) NeedsRecheck() bool { return !a.NextWake.IsZero() }

// PoolOptions tunes a Pool. Zero values take the defaults.
type PoolOptions struct {
	// DrainTimeout bounds a drain: after it, the server goes to maint and
	// its remaining sessions are shut. Default 30s.
	DrainTimeout time.Duration
	// Recheck is how soon to look again at a draining server. Default
	// 200ms.
	Recheck time.Duration
	// DeleteRetry is how soon to retry a `del server` refused because
	// connections were still attached (2.6 has no `wait`; research A.4
	// point 8). Default 1s.
	DeleteRetry time.Duration
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logf, when set, receives one line per change.
	Logf func(format string, args ...any)
}

// Pool reconciles the backends of one HAProxy. It keeps only bookkeeping
// that may be lost (when drains began, what worker it saw last): a new
// Pool converges from HAProxy's state alone, at worst restarting a
// drain's timeout.
//
// Reconcile calls are serialized by the Pool; one goroutine per HAProxy
// is the intended use, so that a slow HAProxy delays only itself.
type Pool struct {
	c    *Client
	opts PoolOptions
	// read chooses how backends are read (see useBatched); tests force
	// one way.
	read readMode

	mu         sync.Mutex
	drainStart map[string]time.Time // "be/srv" -> when Reconcile saw or began its drain
	seen       bool
	lastPid    int
	lastUptime int64
	hadManaged bool // the previous pass saw at least one managed server
	reloads    int
	// live are the managed servers ("be/srv") the last pass left in
	// rotation (present, not in maintenance): the ones whose fail
	// Reconcile sends before it reads anything.
	live map[string]bool
	// others is how many servers the last batched read saw in backends
	// the Desired did not name (-1: never read); passesSince counts the
	// passes since that read.
	others      int
	passesSince int
}

type readMode int

const (
	readAuto readMode = iota
	readPerBackend
	readBatched
)

// Choosing between the reads. A round trip of the runtime API (connect,
// command, close) costs about what reading roundTripServers servers costs
// (HAProxy dumping their rows, the bridge parsing them), measured on
// 2.6.12 over a unix socket by BenchmarkReadBackends: 0.12 ms a round
// trip, 10 µs a server. So the batched read of k backends saves 2(k-1)
// round trips and pays for the servers of the other backends; it is
// chosen while those are fewer than 2(k-1)·roundTripServers. One backend
// is therefore always read on its own. How many other servers there are
// is known only from a batched read, so one is made when it is not known,
// and again every reprobePasses passes, in case the other backends
// emptied.
const (
	roundTripServers = 12
	reprobePasses    = 100
)

// useBatched reports whether this pass reads its k backends with readAll.
func (p *Pool) useBatched(k int) bool {
	switch {
	case p.read == readPerBackend || k < 2:
		return p.read == readBatched
	case p.read == readBatched || p.others < 0 || p.passesSince >= reprobePasses:
		return true
	}
	return p.others < 2*(k-1)*roundTripServers
}

// NewPool returns a Pool for the HAProxy c talks to.
func NewPool(c *Client, opts PoolOptions) *Pool {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.Recheck <= 0 {
		opts.Recheck = 200 * time.Millisecond
	}
	if opts.DeleteRetry <= 0 {
		opts.DeleteRetry = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pool{c: c, opts: opts, others: -1, drainStart: map[string]time.Time{}}
}

// Reconcile reads the whole state of the desired backends from HAProxy and
// issues the smallest set of commands that moves the managed servers to d.
// It is level-triggered and idempotent: a second call with the same d and
// an unchanged HAProxy issues nothing (except to advance a drain).
//
// The returned error is non-nil when HAProxy could not be read at all (the
// Actual is then empty) or when some backends failed (each also in its
// BackendStatus.Err); the other backends are reconciled regardless. A
// refused command is in its Change.Err; a transport error stops the pass.
func (p *Pool) Reconcile(ctx context.Context, d Desired) (Actual, []Change, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d.Prefix == "" {
		return Actual{}, nil, errors.New("haproxy reconcile: empty Prefix would manage every server")
	}
	if err := checkName("prefix", d.Prefix); err != nil {
		return Actual{}, nil, fmt.Errorf("haproxy reconcile: %w", err)
	}
	r := reconciler{p: p, ctx: ctx, now: p.opts.Now(), prefix: d.Prefix, live: map[string]bool{}}
	// A failed instance's server leaves the pool before anything is read:
	// reading first (show info, show servers state, show stat) costs
	// three round trips, each a wake-up of HAProxy and of the bridge, and
	// on a loaded machine they took most of the time from a VNFC's crash
	// to its server in maintenance. The read that follows is the check.
	r.failFirst(d)
	p.live = nil // rebuilt by this pass, if it completes
	if r.fatal != nil {
		return Actual{}, r.changes, fmt.Errorf("haproxy reconcile: %w", r.fatal)
	}
	info, err := p.c.ShowInfo(ctx)
	if err != nil {
		return Actual{}, r.changes, fmt.Errorf("haproxy reconcile: %w", err)
	}

	act := Actual{Pid: info.Pid, Uptime: time.Duration(info.Uptime) * time.Second, Version: info.Version}
	// A new worker has a new Pid (a reload, or a restart); a restart that
	// reused the Pid still restarts the uptime, which otherwise only grows.
	if p.seen && (info.Pid != p.lastPid || info.Uptime < p.lastUptime) {
		act.Reloaded = true
	}

	var errs []error
	// Every backend is checked before anything is read, so that the
	// batched read knows which backends it is for.
	type planned struct {
		be   Backend
		want map[string]bool
		err  error
	}
	var plan []planned
	var names []string
	seenBE := map[string]bool{}
	for _, be := range d.Backends {
		if seenBE[be.Name] {
			errs = append(errs, fmt.Errorf("backend %s: listed twice", be.Name))
			continue
		}
		seenBE[be.Name] = true
		pb := planned{be: be}
		if pb.err = checkName("backend", be.Name); pb.err == nil {
			pb.want, pb.err = r.validate(be)
		}
		if pb.err == nil {
			names = append(names, be.Name)
			if len(pb.want) > 0 {
				r.wantAny = true
			}
		}
		plan = append(plan, pb)
	}
	var reads map[string]backendRead
	p.passesSince++
	if p.useBatched(len(names)) {
		reads, err = r.readAll(names)
		if err != nil {
			// Nothing was read: the Actual is empty, as when show info
			// fails, and no bookkeeping moves.
			return Actual{}, nil, errors.Join(append(errs, fmt.Errorf("haproxy reconcile: %w", err))...)
		}
	}
	managed := 0
	for _, pb := range plan {
		bs := BackendStatus{Name: pb.be.Name}
		err := pb.err
		if err == nil {
			rd, ok := reads[pb.be.Name]
			if !ok {
				rd = r.readOne(pb.be.Name)
			}
			var n int
			bs, n, err = r.backend(pb.be, pb.want, rd)
			managed += n
		}
		if err != nil {
			bs.Err = err
			errs = append(errs, fmt.Errorf("haproxy %s: backend %s: %w", p.c, pb.be.Name, err))
		}
		act.Backends = append(act.Backends, bs)
		if r.fatal != nil {
			break
		}
	}
	// Every managed server gone while some were there before is a reload
	// too (a restart within the second, or a reload we could not see by
	// Pid). Servers the bridge deleted itself do not count as there
	// before (hadManaged is taken after the deletions).
	if p.seen && !act.Reloaded && p.hadManaged && managed == 0 && r.fatal == nil && r.wantAny {
		act.Reloaded = true
	}
	if act.Reloaded {
		p.reloads++
		// The drains we tracked belonged to servers that are gone.
		clear(p.drainStart)
	}
	if r.fatal == nil {
		// What this pass deleted itself is not there any more: a pool
		// it emptied (an instance that moved) is not a reload next time.
		p.seen, p.lastPid, p.lastUptime, p.hadManaged = true, info.Pid, info.Uptime, managed-r.deleted > 0
		p.live = r.live
	}
	// Forget drains of servers that are no longer draining or present.
	for k := range p.drainStart {
		if !r.draining[k] {
			delete(p.drainStart, k)
		}
	}
	act.Reloads = p.reloads
	act.NextWake = r.wake
	if r.fatal != nil {
		errs = append(errs, r.fatal)
	}
	return act, r.changes, errors.Join(errs...)
}

// reconciler is the state of one Reconcile pass.
type reconciler struct {
	p        *Pool
	ctx      context.Context
	now      time.Time
	prefix   string
	changes  []Change
	wake     time.Time
	draining map[string]bool
	wantAny  bool  // some backend wants at least one server present
	deleted  int   // managed servers this pass deleted
	fatal    error // a transport error: stop issuing commands
	// live: the managed servers this pass leaves in rotation (see
	// Pool.live); failed: those failFirst took out.
	live   map[string]bool
	failed map[string]bool
}

// failFirst sends the fail of every server d wants failed that the last
// pass left in rotation, before anything is read. A server that is not
// there any more (HAProxy reloaded since) refuses it: that reply is
// dropped, and the pass proper does what the state it reads calls for. A
// server that was in rotation but is not any more (an operator's maint)
// gets a fail it did not need, which changes nothing.
func (r *reconciler) failFirst(d Desired) {
	for _, be := range d.Backends {
		for _, s := range be.Servers {
			id := key(be.Name, s.Name)
			if s.Want != Fail || !r.p.live[id] || r.failed[id] || r.fatal != nil {
				continue
			}
			// live holds only names HAProxy listed; checked again all
			// the same, since these go into a command line.
			if checkName("backend", be.Name) != nil || checkName("server", s.Name) != nil || !strings.HasPrefix(s.Name, r.prefix) {
				continue
			}
			err := r.p.c.Exec(r.ctx, "set server "+id+" state maint", "shutdown sessions server "+id)
			if errors.As(err, new(*ReplyError)) {
				continue
			}
			r.record(be.Name, s.Name, ActionFail, s.Reason, err)
			if err == nil {
				if r.failed == nil {
					r.failed = map[string]bool{}
				}
				r.failed[id] = true
			}
		}
	}
}

func (r *reconciler) wakeAt(t time.Time) {
	if r.wake.IsZero() || t.Before(r.wake) {
		r.wake = t
	}
}

// do issues one command line for be/srv and records it as a Change.
func (r *reconciler) do(be, srv, action, reason string, cmds ...string) error {
	err := r.p.c.Exec(r.ctx, cmds...)
	r.record(be, srv, action, reason, err)
	return err
}

// record notes one command line's outcome as a Change; a transport error
// ends the pass.
func (r *reconciler) record(be, srv, action, reason string, err error) {
	r.changes = append(r.changes, Change{Backend: be, Server: srv, Action: action, Reason: reason, Err: err})
	if err == nil {
		switch action {
		case ActionFail, ActionMaint, ActionDrainTimeout, ActionSetAddr, ActionDelete:
			delete(r.live, key(be, srv)) // out of rotation now
		case ActionEnable:
			r.live[key(be, srv)] = true // in rotation, checks pending
		}
	}
	if r.p.opts.Logf != nil {
		if err != nil {
			r.p.opts.Logf("haproxy %s: %s/%s: %s (%s) failed: %v", r.p.c, be, srv, action, reason, err)
		} else {
			r.p.opts.Logf("haproxy %s: %s/%s: %s (%s)", r.p.c, be, srv, action, reason)
		}
	}
	var re *ReplyError
	if err != nil && !errors.As(err, &re) {
		r.fatal = err
	}
}

// backendRead is what was read of one backend: its rows of show servers
// state and of show stat, or why they could not be read.
type backendRead struct {
	states []ServerState
	stats  []StatRow
	err    error
}

// readOne reads one backend with its own two commands: `show servers
// state <be>`, then `show stat <be_id> 4 -1`. HAProxy's refusal (no such
// backend) is the backend's error; any other failure to read is fatal to
// the pass.
func (r *reconciler) readOne(name string) backendRead {
	fail := func(err error) backendRead {
		if !errors.As(err, new(*ReplyError)) {
			r.fatal = err
		}
		return backendRead{err: err}
	}
	states, err := r.p.c.ServersState(r.ctx, name)
	if err != nil {
		return fail(err)
	}
	// show stat by the backend's id, not its name, which a frontend of
	// the same name would hide (TestSameNameFrontend). A backend without
	// servers has no row to give the id, and no stat to read.
	if len(states) == 0 {
		return backendRead{}
	}
	id := states[0].BackendID
	for _, st := range states {
		if st.BackendID != id || st.Backend != name {
			return backendRead{err: fmt.Errorf("%w: show servers state of %s lists %s (id %d)", ErrFormat, name, truncate(st.Backend), st.BackendID)}
		}
	}
	stats, err := r.p.c.StatID(r.ctx, name, id)
	if err != nil {
		return fail(err)
	}
	return backendRead{states: states, stats: stats}
}

// readAll reads every backend in names with two commands whatever their
// number: `show servers state` and `show stat -1 6 -1`, both of all
// backends, matched by proxy id (be_id, iid) and name. The error is for a
// failed read, which leaves every backend unread; what is wrong with one
// backend only (missing, or renumbered by a reload between the two reads)
// is in its backendRead.
func (r *reconciler) readAll(names []string) (map[string]backendRead, error) {
	states, err := r.p.c.AllServersState(r.ctx)
	if err != nil {
		return nil, err
	}
	stats, ids, err := r.p.c.StatAll(r.ctx)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	reads := make(map[string]backendRead, len(names))
	stateID := make(map[string]int, len(names))
	others := 0
	for _, st := range states {
		if !want[st.Backend] {
			others++
			continue
		}
		rd := reads[st.Backend]
		if id, ok := stateID[st.Backend]; ok && id != st.BackendID && rd.err == nil {
			rd.err = fmt.Errorf("%w: show servers state lists %s under ids %d and %d", ErrFormat, st.Backend, id, st.BackendID)
		}
		stateID[st.Backend] = st.BackendID
		rd.states = append(rd.states, st)
		reads[st.Backend] = rd
	}
	byID := make(map[int][]StatRow, len(names))
	for _, row := range stats {
		byID[row.ProxyID] = append(byID[row.ProxyID], row)
	}
	for _, n := range names {
		rd := reads[n]
		id, listed := ids[n]
		sid, hasServers := stateID[n]
		switch {
		case rd.err != nil:
		case !listed && !hasServers:
			rd.err = fmt.Errorf("%w: not among the backends of show stat", ErrNoSuchBackend)
		case !listed:
			rd.err = fmt.Errorf("%w: backend %s has servers in show servers state but no row in show stat (reloaded?)", ErrFormat, n)
		case hasServers && sid != id:
			rd.err = fmt.Errorf("%w: backend %s is proxy %d in show servers state, %d in show stat (reloaded?)", ErrFormat, n, sid, id)
		case !hasServers && len(byID[id]) > 0:
			// Servers added between the two reads: acting on the empty
			// state would add them again.
			rd.err = fmt.Errorf("%w: backend %s has no server in show servers state but %d in show stat (changed between the reads)", ErrFormat, n, len(byID[id]))
		default:
			rd.stats = byID[id]
			for _, row := range rd.stats {
				if row.Backend != n {
					rd.err = fmt.Errorf("%w: show stat lists %s under the id %d of backend %s", ErrFormat, truncate(row.Backend), id, n)
					break
				}
			}
		}
		if rd.err != nil {
			rd.states, rd.stats = nil, nil
		}
		reads[n] = rd
	}
	r.p.others, r.p.passesSince = others, 0
	return reads, nil
}

// backend reconciles one backend from what was read of it; it returns
// what it read, the number of managed servers present, and the backend's
// error.
func (r *reconciler) backend(be Backend, want map[string]bool, rd backendRead) (BackendStatus, int, error) {
	bs := BackendStatus{Name: be.Name}
	if rd.err != nil {
		return bs, 0, rd.err
	}
	states, stats := rd.states, rd.stats
	byName := make(map[string]StatRow, len(stats))
	for _, s := range stats {
		byName[s.Server] = s
	}
	have := make(map[string]ServerStatus, len(states))
	managed := 0
	for _, st := range states {
		ss := ServerStatus{
			Name: st.Name, Addr: st.Addr, Port: st.Port,
			Managed: strings.HasPrefix(st.Name, r.prefix),
			OpState: st.OpState, Admin: st.Admin, Check: st.Check, Weight: st.UWeight,
		}
		if row, ok := byName[st.Name]; ok {
			ss.Status, ss.CheckStatus, ss.CheckCode, ss.Scur = row.Status, row.CheckStatus, row.CheckCode, row.Scur
			ss.LastChange, ss.ChkDown = -1, row.ChkDown
			if row.LastChange >= 0 {
				ss.LastChange = time.Duration(row.LastChange) * time.Second
			}
		}
		bs.Servers = append(bs.Servers, ss)
		if ss.Managed {
			managed++
			have[st.Name] = ss
			if !inMaint(ss) {
				r.live[key(be.Name, st.Name)] = true
			}
		}
	}

	var beErr error
	// Desired servers, in the caller's order, so commands are issued in a
	// stable order.
	for _, s := range be.Servers {
		if r.fatal != nil {
			break
		}
		cur, present := have[s.Name]
		if err := r.server(be, s, cur, present); errors.Is(err, ErrNotDynamicBackend) || errors.Is(err, ErrNoSuchBackend) {
			beErr = err
			break // every other add would be refused the same way
		}
	}
	// Managed servers nobody wants any more: drain, then maint, then del.
	for _, cur := range bs.Servers {
		if r.fatal != nil {
			break
		}
		if !cur.Managed || want[cur.Name] {
			continue
		}
		r.remove(be, cur)
	}
	return bs, managed, beErr
}

// validate checks the desired backend before any command is built, so
// that nothing the caller passed can change a command's meaning.
func (r *reconciler) validate(be Backend) (map[string]bool, error) {
	for _, kw := range be.Check.Extra {
		if err := checkKeyword(kw); err != nil {
			return nil, err
		}
	}
	want := make(map[string]bool, len(be.Servers))
	for _, s := range be.Servers {
		if err := checkName("server", s.Name); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(s.Name, r.prefix) {
			return nil, fmt.Errorf("server %s: name lacks the managed prefix %q", s.Name, r.prefix)
		}
		if want[s.Name] {
			return nil, fmt.Errorf("server %s: listed twice", s.Name)
		}
		if _, err := hostPort(s.Addr, s.Port); err != nil {
			return nil, fmt.Errorf("server %s: %w", s.Name, err)
		}
		if s.Want < Serve || s.Want > Hold {
			return nil, fmt.Errorf("server %s: unknown %v", s.Name, s.Want)
		}
		want[s.Name] = true
	}
	return want, nil
}

// checkKeyword refuses what must never reach `add server` on 2.6:
// "enabled" (haproxy/haproxy#2497: the server never enters the LB tree),
// "disabled" (would leave CMAINT set and confuse the maint test), "track"
// (refused between dynamic servers, and pins a static one against
// deletion), and anything that is not one plain token.
func checkKeyword(kw string) error {
	if kw == "" || strings.ContainsAny(kw, " \t;\r\n#") {
		return fmt.Errorf("check keyword %q: must be one token", truncate(kw))
	}
	switch kw {
	case "enabled", "disabled", "track", "check", "inter", "rise", "fall", "weight":
		return fmt.Errorf("check keyword %q: not allowed in Extra (set by Check or refused on 2.6)", kw)
	}
	return nil
}

func key(be, srv string) string { return be + "/" + srv }

// server moves one managed, desired server towards s.Want.
func (r *reconciler) server(be Backend, s Server, cur ServerStatus, present bool) error {
	id := be.Name + "/" + s.Name
	switch s.Want {
	case Serve:
		if !present {
			cmd, err := addServerCmd(be.Name, s.Name, s.Addr, s.Port, be.Check)
			if err != nil {
				return err
			}
			if err := r.do(be.Name, s.Name, ActionAdd, s.Reason, cmd); err != nil {
				return err
			}
			return r.do(be.Name, s.Name, ActionEnable, s.Reason, enterCmds(id)...)
		}
		if cur.Addr.Unmap() != s.Addr.Unmap() || cur.Port != s.Port {
			if err := r.do(be.Name, s.Name, ActionSetAddr, s.Reason,
				"set server "+id+" state maint", setAddrCmd(be.Name, s.Name, s.Addr, s.Port)); err != nil {
				return err
			}
			return r.do(be.Name, s.Name, ActionEnable, s.Reason, enterCmds(id)...)
		}
		if w := *be.Check.withDefaults().Weight; cur.Weight != w {
			r.do(be.Name, s.Name, ActionWeight, s.Reason, fmt.Sprintf("set server %s weight %d", id, w))
		}
		switch {
		case inMaint(cur):
			return r.do(be.Name, s.Name, ActionEnable, s.Reason, enterCmds(id)...)
		case cur.Admin&AdminForcedDrain != 0:
			// Even a drained server shown UP with L7OK goes through the
			// full sequence: after maint -> drain, show stat still shows
			// the check from before the maint (testdata/stat_mixed.csv,
			// dyn_drain), so "UP" does not prove a check since it came
			// back. The price: rise checks before traffic returns.
			return r.do(be.Name, s.Name, ActionEnable, s.Reason, enterCmds(id)...)
		case cur.Check&CheckEnabled == 0:
			// Traffic goes on while the checks restart: the server was
			// serving, and the first failing checks take it out.
			return r.do(be.Name, s.Name, ActionEnableHealth, s.Reason, "enable health "+id)
		}
	case Fail:
		if !present || r.failed[id] {
			return nil // or failFirst just did
		}
		if !inMaint(cur) {
			return r.do(be.Name, s.Name, ActionFail, s.Reason, "set server "+id+" state maint", "shutdown sessions server "+id)
		}
		if cur.Scur > 0 {
			return r.do(be.Name, s.Name, ActionShutdown, s.Reason, "shutdown sessions server "+id)
		}
	case Drain:
		if present {
			r.drain(be, cur, s.Reason)
		}
	}
	return nil
}

// enterCmds brings a server into rotation only after HAProxy's own checks
// pass, with no instant where it takes traffic unchecked: from drain
// (checked but out of the LB), health is forced down, and only then is
// the server made ready, still DOWN, to rise after `rise` passing checks.
// `set server health down` while in maint would be lost (leaving maint
// resets health, research A.4 point 4), hence drain first; and ready
// after down on one line never exposes an unchecked server even with
// several threads (TestEnterRotationNoTraffic).
func enterCmds(id string) []string {
	return []string{
		"enable health " + id,
		"set server " + id + " state drain",
		"set server " + id + " health down",
		"set server " + id + " state ready",
	}
}

// inMaint: forced into maintenance (by us, `disable server`, or a new
// dynamic server), or shown as MAINT for another reason. AdminConfigMaint
// alone is not enough (see its comment).
func inMaint(s ServerStatus) bool {
	return s.Admin&AdminForcedMaint != 0 || strings.HasPrefix(s.Status, "MAINT")
}

// drain moves a server through drain -> maint, bounded by DrainTimeout.
// It reports whether the server is in maint (already, or now).
func (r *reconciler) drain(b Backend, cur ServerStatus, reason string) bool {
	be := b.Name
	id := key(be, cur.Name)
	timeout := b.DrainTimeout
	if timeout <= 0 {
		timeout = r.p.opts.DrainTimeout
	}
	if inMaint(cur) {
		return true // a server in maint stays there
	}
	if cur.Admin&AdminForcedDrain == 0 {
		if r.do(be, cur.Name, ActionDrain, reason, "set server "+id+" state drain") == nil {
			r.p.drainStart[id] = r.now
		}
		r.keepDraining(id)
		return false
	}
	began, ok := r.p.drainStart[id]
	if !ok {
		// Drained by someone else, or bookkeeping lost (a new bridge):
		// the timeout counts from now, never shorter than promised.
		began = r.now
		r.p.drainStart[id] = began
	}
	var err error
	switch {
	case cur.Scur == 0:
		err = r.do(be, cur.Name, ActionMaint, reason, "set server "+id+" state maint")
	case !r.now.Before(began.Add(timeout)):
		err = r.do(be, cur.Name, ActionDrainTimeout, reason, "set server "+id+" state maint", "shutdown sessions server "+id)
	default:
		r.keepDraining(id)
		return false
	}
	if err != nil {
		r.keepDraining(id)
		return false
	}
	return true
}

// keepDraining keeps the drain's start time and asks for a recheck.
func (r *reconciler) keepDraining(id string) {
	if r.draining == nil {
		r.draining = map[string]bool{}
	}
	r.draining[id] = true
	r.wakeAt(r.now.Add(r.p.opts.Recheck))
}

// remove takes a managed server nobody wants out: drain, maint, del.
func (r *reconciler) remove(b Backend, cur ServerStatus) {
	be := b.Name
	const reason = "not desired"
	if !inMaint(cur) {
		if r.drain(b, cur, reason) {
			r.wakeAt(r.now.Add(r.p.opts.Recheck)) // del on the next pass
		}
		return
	}
	id := key(be, cur.Name)
	err := r.do(be, cur.Name, ActionDelete, reason, "del server "+id)
	if err == nil {
		r.deleted++
	}
	if errors.Is(err, ErrHasConnections) {
		// 2.6 has no `wait`: shut what is left and try again soon.
		r.do(be, cur.Name, ActionShutdown, reason, "shutdown sessions server "+id)
		r.wakeAt(r.now.Add(r.p.opts.DeleteRetry))
	} else if err != nil {
		r.wakeAt(r.now.Add(r.p.opts.DeleteRetry))
	}
}
