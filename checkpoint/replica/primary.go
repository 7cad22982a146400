package replica

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// request is one Put or Delete waiting for the pipeline.
type request struct {
	op    checkpoint.Op
	key   string
	value []byte
	cond  checkpoint.Cond
	done  chan result // buffered: the pipeline and the acker never block on it
	enq   time.Time   // when it was queued
}

type result struct {
	rev     uint64
	created bool // a put's key did not exist before it
	err     error
}

func (q *request) answer(rev uint64, err error) { q.done <- result{rev: rev, err: err} }

// batch is one group commit: the entries of the requests the pipeline
// took at once.
type batch struct {
	entries []checkpoint.Entry
	reqs    []*request
	revs    []uint64 // each request's revision (its entry's)
	created []bool   // each request's: a put whose key did not exist
	first   uint64
	last    uint64
	payload []byte // the entries frame's payload, shared by every standby
	sent    time.Time
}

// peer is the primary's view of one standby node. Guarded by primary.mu.
type peer struct {
	node string
	// acked is the highest revision the standby acknowledged as durable.
	acked uint64
	// stale: Marks.Stale(node) returned nil and the peer has not been
	// counted again since; only then may writes go on without its ack.
	stale bool
	// sync: in the synchronous set (caught up, Marks.Sync returned nil).
	sync bool
	// staling, syncing: a Marks call is under way; never both, so that
	// the cluster's mark is always the last one asked for.
	staling, syncing bool
	// joining: caught up and counted (writes wait for its ack), not
	// yet marked sync: that waits until it acknowledged joinAt, every
	// write acknowledged before it was counted.
	joining bool
	joinAt  uint64
	retryAt time.Time // after a failed mark
	markErr string
	// staleFails counts the stale marks that failed in a row: while the
	// CIB refuses them (no quorum), a retry every markRetry must not
	// log twice a second.
	staleFails int
	sess       *session
	lag        time.Duration
}

// primary is the state of a replica while it is the primary.
type primary struct {
	r     *Replica
	epoch uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the pipeline and the acker
	marks  sync.WaitGroup // Marks calls under way

	mu      sync.Mutex
	stopped error // set once: why writes now fail
	queue   []*request
	wake    chan struct{} // the pipeline's (buffered 1)
	kick    chan struct{} // the acker's (buffered 1)
	peers   map[string]*peer
	names   []string // the peers, sorted
	// lastAcked is the highest revision acknowledged to a client, or
	// committed with the failed tail.
	lastAcked uint64
	waiting   []*batch // appended locally, waiting for the rule, in order
	// tail is the last batch that failed after its local append (its
	// writers got 503). Its revisions are durable here and may be on
	// standbys, so a read must not show them until the rule holds for
	// them; the acker goes on applying the rule to it without a new
	// write, so that reads on an idle primary do not wait on it forever.
	tail *batch
	// inflight is the batch sent to the standbys but not yet durable
	// here; a standby that turns live copies it so that it misses
	// nothing. A batch whose local append failed stays inflight (and is
	// appended again before anything else): the standbys may hold it,
	// so its revisions can never carry anything else.
	inflight *batch
	retry    bool       // inflight's append failed
	live     []*session // the pipeline's scratch list
}

func newPrimary(r *Replica, epoch uint64) *primary {
	ctx, cancel := context.WithCancel(r.ctx)
	p := &primary{
		r: r, epoch: epoch, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		peers: map[string]*peer{},
	}
	p.names = r.peerNames()
	for _, n := range p.names {
		p.peers[n] = &peer{node: n}
	}
	return p
}

func (p *primary) start() {
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.pipeline() }()
	go func() { defer p.wg.Done(); p.acker() }()
}

// stop ends the primary: every write not yet acknowledged fails with
// err, the standbys' connections close.
func (p *primary) stop(err error) {
	p.mu.Lock()
	if p.stopped == nil {
		p.stopped = err
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	for _, q := range p.queue {
		q.answer(0, err)
	}
	p.queue = nil
	for _, b := range p.waiting {
		b.fail(err)
	}
	p.waiting = nil
	if p.inflight != nil && !p.retry {
		p.inflight.fail(err)
	}
	var sessions []*session
	for _, pe := range p.peers {
		if pe.sess != nil {
			sessions = append(sessions, pe.sess)
		}
	}
	p.mu.Unlock()
	for _, s := range sessions {
		s.close()
	}
	for _, s := range sessions {
		<-s.done
	}
	p.marks.Wait()
}

func (b *batch) fail(err error) {
	for _, q := range b.reqs {
		q.answer(0, err)
	}
	b.reqs = nil
}

func (p *primary) enqueue(q *request) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped != nil {
		if errors.Is(p.stopped, checkpoint.ErrClosed) {
			return p.stopped
		}
		return p.r.notPrimary()
	}
	q.enq = time.Now()
	p.queue = append(p.queue, q)
	p.wakePipelineLocked()
	return nil
}

func (p *primary) wakePipelineLocked() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *primary) kickAcker() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// take removes from the queue what one batch may hold.
func (p *primary) take() []*request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var size int64
	n := 0
	for n < len(p.queue) {
		size += int64(len(p.queue[n].value) + len(p.queue[n].key) + 32)
		if n > 0 && size > p.r.c.MaxBatchBytes {
			break
		}
		n++
	}
	qs := p.queue[:n:n]
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil
	} else {
		p.wakePipelineLocked()
	}
	return qs
}

// maxWaiting is how many batches may be durable here and wait for the
// standbys' acks before the pipeline builds the next. One: the next batch
// takes everything that came meanwhile. The primary's and the standby's
// fdatasyncs of one batch still overlap (it is sent before it is
// appended), and what the window saves is syncs: with batches
// pipelined, 16 clients made batches of 4 writes on a primary and a
// standby sharing this machine's disk; with one waiting, batches of 7, a
// third fewer syncs per write and 10-15% more writes a second (in
// process, BenchmarkReplicatedPut in checkpoint/client). A lone writer
// never waits for it: its batch is the only one.
const maxWaiting = 1

// pipeline is the one goroutine that writes: it takes everything queued
// (no timer: a lone writer never waits), checks the conditions, assigns
// revisions, sends the batch to the standbys, appends it here, and hands
// it to the acker. The acker wakes it again when the batch leaves the
// window (maxWaiting).
func (p *primary) pipeline() {
	st := p.r.st
	// held: writes wait for a standby about to enter the synchronous set
	// (strict mode), until this timer refuses them.
	held := time.NewTimer(time.Hour)
	defer held.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		case <-held.C:
		}
		p.mu.Lock()
		full := len(p.waiting) >= maxWaiting
		p.mu.Unlock()
		if full {
			continue
		}
		qs := p.take()
		if len(qs) == 0 {
			continue
		}
		p.mu.Lock()
		retry := p.retry
		inflight := p.inflight
		p.mu.Unlock()
		if retry {
			// The last batch was sent but not appended here: it goes
			// first, or nothing does.
			if err := st.Append(inflight.entries); err != nil {
				err = appendErr(err)
				for _, q := range qs {
					q.answer(0, err)
				}
				continue
			}
			p.mu.Lock()
			p.inflight, p.retry = nil, false
			p.waiting = append(p.waiting, inflight)
			p.mu.Unlock()
			p.kickAcker()
		}
		if reason, soon := p.unwritable(); reason != "" {
			// A standby caught up and being marked sync (just after a
			// promote, or back from a restart) makes the writes wait
			// for it, each up to SyncTimeout, rather than fail: the
			// acker wakes the pipeline when its mark is done. The
			// queue is in arrival order: those that waited long enough
			// come first.
			now := time.Now()
			n := len(qs)
			if soon {
				n = 0
				for n < len(qs) && now.Sub(qs[n].enq) >= p.r.c.SyncTimeout {
					n++
				}
			}
			for _, q := range qs[:n] {
				q.answer(0, &checkpoint.UnavailableError{Reason: reason})
			}
			if rest := qs[n:]; len(rest) > 0 {
				p.mu.Lock()
				p.queue = append(rest, p.queue...)
				p.mu.Unlock()
				held.Reset(p.r.c.SyncTimeout - now.Sub(rest[0].enq))
			}
			continue
		}
		b := p.build(qs)
		if b == nil {
			continue
		}
		b.payload = wire.AppendEntries(make([]byte, 0, wire.EntriesSize(b.entries)), b.entries)
		p.mu.Lock()
		b.sent = time.Now()
		p.inflight = b
		live := p.live[:0]
		for _, pe := range p.peers {
			if pe.sess != nil && pe.sess.live {
				live = append(live, pe.sess)
			}
		}
		p.live = live
		p.mu.Unlock()
		// Sent from this goroutine, just before its own fdatasync: a
		// sender goroutine woken here would wait in this P's run queue
		// while the fdatasync holds it, and the two syncs would not
		// overlap (measured: +100 µs a write).
		for _, s := range live {
			s.sendBatch(b)
		}
		if err := st.Append(b.entries); err != nil {
			p.mu.Lock()
			p.retry = true
			p.mu.Unlock()
			b.fail(appendErr(err))
			p.r.log.WithError(err).Error("append failed; the batch is kept to be appended before any other")
			continue
		}
		p.mu.Lock()
		p.inflight = nil
		p.waiting = append(p.waiting, b)
		p.mu.Unlock()
		p.kickAcker()
	}
}

func appendErr(err error) error {
	if errors.Is(err, checkpoint.ErrNoSpace) {
		return fmt.Errorf("%w (the write may still be made once there is space: read the key again)", err)
	}
	return &checkpoint.UnavailableError{Reason: "the store cannot write: " + err.Error()}
}

// build checks each request's condition against the store and the
// batch's earlier requests, and makes the entries.
func (p *primary) build(qs []*request) *batch {
	st := p.r.st
	type state struct {
		rev, created uint64
		exists       bool
	}
	over := map[string]state{}
	next := st.Position().Rev + 1
	b := &batch{first: next}
	now := time.Now().UnixNano()
	for _, q := range qs {
		cur, ok := over[q.key]
		if !ok {
			it, _, err := st.Get(q.key)
			switch {
			case err == nil:
				cur = state{rev: it.Rev, created: it.Created, exists: true}
			case errors.Is(err, checkpoint.ErrNotFound):
			default:
				q.answer(0, &checkpoint.UnavailableError{Reason: "read " + q.key + ": " + err.Error()})
				continue
			}
		}
		have := uint64(0)
		if cur.exists {
			have = cur.rev
		}
		if q.cond.Match && q.cond.Rev != have {
			q.answer(0, &checkpoint.ConditionError{Key: q.key, Want: q.cond.Rev, Have: have})
			continue
		}
		if q.op == checkpoint.OpDelete && !cur.exists {
			q.answer(0, checkpoint.ErrNotFound)
			continue
		}
		e := checkpoint.Entry{Rev: next, Epoch: p.epoch, Op: q.op, Key: q.key, Value: q.value, Time: now}
		next++
		b.entries = append(b.entries, e)
		b.reqs = append(b.reqs, q)
		b.revs = append(b.revs, e.Rev)
		b.created = append(b.created, q.op == checkpoint.OpPut && !cur.exists)
		if q.op == checkpoint.OpDelete {
			over[q.key] = state{}
		} else {
			created := cur.created
			if !cur.exists {
				created = e.Rev
			}
			over[q.key] = state{rev: e.Rev, created: created, exists: true}
		}
	}
	if len(b.entries) == 0 {
		return nil
	}
	b.last = next - 1
	return b
}

// required is how many standbys strict mode needs: none without peers.
func (p *primary) required() int { return min(p.r.c.SyncReplicas, len(p.names)) }

// unwritable says why the primary refuses writes now (strict mode
// without enough standbys in the synchronous set), or "", and whether
// enough standbys are on their way in: caught up, being marked sync.
func (p *primary) unwritable() (reason string, soon bool) {
	c := &p.r.c
	if c.SyncMode != checkpoint.SyncStrict {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n, coming := 0, 0
	for _, pe := range p.peers {
		switch {
		case pe.sync:
			n++
		case pe.sess != nil && (pe.joining || pe.syncing):
			coming++
		}
	}
	if n >= p.required() {
		return "", false
	}
	return fmt.Sprintf("%d %s in the synchronous set, %d required (sync_mode=strict): %s",
		n, plural(n, "standby", "standbys"), p.required(), p.missingLocked()), n+coming >= p.required()
}

// missingLocked says why each peer outside the sync set is there.
func (p *primary) missingLocked() string {
	var rs []string
	pos := p.r.st.Position().Rev
	for _, n := range p.names {
		pe := p.peers[n]
		switch {
		case pe.sync:
			continue
		case pe.sess == nil:
			rs = append(rs, n+" not connected")
		case pe.syncing, pe.joining:
			rs = append(rs, n+" being marked sync")
		case pe.markErr != "":
			rs = append(rs, n+": "+pe.markErr)
		default:
			rs = append(rs, fmt.Sprintf("%s catching up (rev %d/%d)", n, pe.acked, pos))
		}
	}
	if len(rs) == 0 {
		return "no peer configured"
	}
	return joinReasons(rs)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// acker answers the batches in revision order as the acknowledgement
// rule allows, and starts the stale marks that let it go on without a
// standby that does not answer.
func (p *primary) acker() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var wait time.Duration
		for len(p.waiting) > 0 {
			b := p.waiting[0]
			ok, fail, blockers := p.ackable(b)
			if ok {
				p.waiting = p.waiting[1:]
				for i, q := range b.reqs {
					q.done <- result{rev: b.revs[i], created: b.created[i]}
				}
				now := time.Now()
				for _, pe := range p.peers {
					if pe.acked >= b.last {
						pe.lag = now.Sub(b.sent)
					}
				}
				p.lastAcked = b.last
				p.r.setCommitted(b.last)
				continue
			}
			if fail != "" {
				p.waiting = p.waiting[1:]
				p.failLocked(b, &checkpoint.UnavailableError{Reason: fail})
				continue
			}
			wait = p.unblockLocked(b, blockers)
			break
		}
		if len(p.waiting) == 0 {
			wait = p.settleTailLocked()
		}
		if len(p.waiting) < maxWaiting && len(p.queue) > 0 {
			p.wakePipelineLocked()
		}
		p.mu.Unlock()
		if wait > 0 { // 0: only an event (an ack, a mark, a demote) can help
			timer.Reset(wait)
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick:
		case <-timer.C:
		}
	}
}

// failLocked fails b's writers; b, durable here, becomes the tail.
func (p *primary) failLocked(b *batch, err error) {
	b.fail(err)
	if p.tail == nil || b.last > p.tail.last {
		p.tail = b
	}
}

// settleTailLocked applies the rule to the failed tail when no batch
// waits: once every peer acknowledged it (a standby that came back and
// caught up) or is marked stale, its revisions are as safe as any
// acknowledged write and reads may show them. It returns how long to
// wait before looking again, as unblockLocked.
func (p *primary) settleTailLocked() time.Duration {
	b := p.tail
	if b == nil {
		return 0
	}
	if b.last <= p.lastAcked {
		p.tail = nil
		return 0
	}
	ok, fail, blockers := p.ackable(b)
	switch {
	case ok:
		p.tail = nil
		p.lastAcked = b.last
		p.r.setCommitted(b.last)
		p.r.log.Infof("revisions %d-%d, refused to their writers, now meet the acknowledgement rule: reads show them", b.first, b.last)
		return 0
	case fail != "":
		return 0 // a standby that connects (an event) may take it
	}
	return p.unblockLocked(b, blockers)
}

// ackable applies the acknowledgement rule to b (durable here already):
// every peer acknowledged b's last revision or is durably marked stale;
// in strict mode, at least SyncReplicas peers acknowledged it. It
// returns ok, or why b can never be acknowledged, or the peers it waits
// for.
func (p *primary) ackable(b *batch) (ok bool, fail string, blockers []*peer) {
	acks, possible := 0, 0
	for _, n := range p.names {
		pe := p.peers[n]
		switch {
		case pe.acked >= b.last:
			acks++
		case pe.stale:
		default:
			blockers = append(blockers, pe)
			if pe.sess != nil {
				possible++
			}
		}
	}
	strict := p.r.c.SyncMode == checkpoint.SyncStrict
	if strict && acks+possible < p.required() {
		return false, fmt.Sprintf("revision %d is on %d of the %d standbys sync_mode=strict requires, and no other is connected to take it: %s",
			b.last, acks, p.required(), p.missingLocked()), nil
	}
	if len(blockers) == 0 && (!strict || acks >= p.required()) {
		return true, "", nil
	}
	return false, "", blockers
}

// unblockLocked starts the stale mark of each peer that holds b up and
// may no longer be waited on: disconnected, outside the sync set, or in
// it but silent past sync_timeout. It returns how long to wait before
// looking again (0: only an event will change anything).
func (p *primary) unblockLocked(b *batch, blockers []*peer) time.Duration {
	now := time.Now()
	var wait time.Duration
	later := func(d time.Duration) {
		if d < 1 {
			d = 1
		}
		if wait == 0 || d < wait {
			wait = d
		}
	}
	for _, pe := range blockers {
		if pe.staling || pe.syncing {
			continue // its mark decides; it kicks when done
		}
		if now.Before(pe.retryAt) {
			later(pe.retryAt.Sub(now))
			continue
		}
		overdue := now.Sub(b.sent) >= p.r.c.SyncTimeout
		if pe.sess == nil || !(pe.sync || pe.joining) || overdue {
			why := "not connected"
			switch {
			case pe.sess == nil:
			case !pe.sync:
				why = "not in the synchronous set"
			default:
				why = fmt.Sprintf("no acknowledgement of revision %d within %s (acked %d)", b.last, p.r.c.SyncTimeout, pe.acked)
			}
			p.markStaleLocked(pe, why)
			continue
		}
		later(b.sent.Add(p.r.c.SyncTimeout).Sub(now))
	}
	return wait
}

// markStaleLocked marks pe stale in the cluster; writes wait meanwhile.
// Only once the mark is durable does pe stop counting, and its
// connection closes so that it knows it is no longer sync.
func (p *primary) markStaleLocked(pe *peer, why string) {
	if p.stopped != nil {
		return
	}
	pe.staling = true
	log := p.r.log.WithField("peer", pe.node)
	if pe.staleFails == 0 {
		log.Warnf("marking %s stale: %s", pe.node, why)
	}
	p.mark(pe.node, p.r.c.Marks.Stale, func(err error) {
		p.mu.Lock()
		pe.staling = false
		var s *session
		fails := pe.staleFails
		if err == nil {
			pe.staleFails = 0
			pe.stale, pe.sync, pe.joining, pe.markErr = true, false, false, ""
			// A standby told it is caught up must learn it no longer
			// is: its connection closes. One still catching up goes on.
			if pe.sess != nil && pe.sess.told {
				s = pe.sess
				pe.sess = nil
			}
		} else {
			pe.staleFails++
			pe.markErr = "cannot mark it stale: " + err.Error()
			pe.retryAt = time.Now().Add(markRetry)
			// Writes that wait on it fail (503) rather than hang;
			// later ones try the mark again.
			var keep []*batch
			for _, b := range p.waiting {
				if pe.acked < b.last {
					p.failLocked(b, &checkpoint.UnavailableError{Reason: fmt.Sprintf("%s did not acknowledge revision %d (%s) and %s", pe.node, b.last, why, pe.markErr)})
				} else {
					keep = append(keep, b)
				}
			}
			p.waiting = keep
		}
		p.mu.Unlock()
		if err == nil {
			p.r.setProblem("mark:"+pe.node, "")
			if fails > 0 {
				log.Infof("%s marked stale after %d failed attempts; writes go on without it", pe.node, fails)
			} else {
				log.Infof("%s marked stale; writes go on without it", pe.node)
			}
			if s != nil {
				s.close()
			}
		} else {
			p.r.setProblem("mark:"+pe.node, fmt.Sprintf("cannot mark %s stale: %v", pe.node, err))
			// The first failure, then one a minute: the problem is in
			// the status all along.
			if fails%staleLogEvery == 0 {
				log.WithError(err).Errorf("cannot mark %s stale (%d attempts so far, one every %s): writes that need it fail", pe.node, fails+1, markRetry)
			}
		}
	})
}

// staleLogEvery: a stale mark that keeps failing is logged once every
// this many attempts (a minute at markRetry).
const staleLogEvery = 60

// mark runs one Marks call (set) for node in the background, bounded by
// MarkTimeout, then done with its result; the acker is kicked after.
func (p *primary) mark(node string, set func(context.Context, string) error, done func(error)) {
	p.marks.Add(1)
	go func() {
		defer p.marks.Done()
		ctx, cancel := context.WithTimeout(p.ctx, p.r.c.MarkTimeout)
		err := set(ctx, node)
		cancel()
		done(err)
		p.kickAcker()
	}()
}

// maybeJoinLocked counts a caught-up standby, in two steps. First it is
// no longer "stale" in memory: from then on every write waits for its
// ack. Then, once it acknowledged every write acknowledged before that
// (joinAt), it is marked sync in the cluster. So the cluster never calls
// it sync while it lacks a write that was acknowledged, or could be.
func (p *primary) maybeJoinLocked(pe *peer, s *session) {
	if p.stopped != nil || pe.sess != s || pe.sync || pe.syncing || pe.staling || time.Now().Before(pe.retryAt) {
		return
	}
	if !pe.joining {
		if !s.caughtUp(pe.acked) {
			return
		}
		pe.joining, pe.stale, pe.joinAt = true, false, p.lastAcked
	}
	if pe.acked < pe.joinAt {
		return
	}
	pe.joining = false
	pe.syncing = true
	s.told = true
	s.sendState(wire.State{CaughtUp: true})
	log := p.r.log.WithField("peer", pe.node)
	p.mark(pe.node, p.r.c.Marks.Sync, func(err error) {
		p.mu.Lock()
		pe.syncing = false
		ok := err == nil && pe.sess == s
		if ok {
			pe.sync, pe.markErr = true, ""
		} else if err != nil {
			pe.markErr = "cannot mark it sync: " + err.Error()
			pe.retryAt = time.Now().Add(markRetry)
		}
		p.mu.Unlock()
		switch {
		case ok:
			p.r.setProblem("mark:"+pe.node, "")
			log.Infof("%s caught up and marked sync: in the synchronous set", pe.node)
			s.sendState(wire.State{CaughtUp: true, Sync: true})
		case err != nil:
			p.r.setProblem("mark:"+pe.node, fmt.Sprintf("cannot mark %s sync: %v", pe.node, err))
			log.WithError(err).Errorf("cannot mark %s sync", pe.node)
		}
	})
}

// status fills a primary's part of s.
func (p *primary) status(s *checkpoint.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for n := range p.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pe := p.peers[n]
		ss := checkpoint.StandbyStatus{Node: n, Acked: pe.acked, Sync: pe.sync, LagMicros: pe.lag.Microseconds()}
		if pe.sess != nil {
			ss.Addr = pe.sess.conn.RemoteAddr()
		}
		s.Standbys = append(s.Standbys, ss)
	}
	s.Writable = true
	switch {
	case p.stopped != nil:
		s.Writable, s.Unwritable = false, "the primary is stopping"
	case p.retry:
		s.Writable, s.Unwritable = false, "the last batch could not be written to the store; it is tried again before any new write"
	case p.r.c.SyncMode == checkpoint.SyncStrict:
		n := 0
		for _, pe := range p.peers {
			if pe.sync {
				n++
			}
		}
		if n < p.required() {
			s.Writable = false
			s.Unwritable = fmt.Sprintf("%d %s in the synchronous set, %d required (sync_mode=strict): %s",
				n, plural(n, "standby", "standbys"), p.required(), p.missingLocked())
		}
	}
}
