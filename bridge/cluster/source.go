// Package cluster follows the cluster's state for the bridge: it keeps a
// subscription to the CIB manager's change notifications (cib_diff_notify
// over libqb IPC, as crm_mon follows the cluster) and publishes the whole
// CIB on every change, on every reconnect and on a resync timer. On a
// change it applies the notified diff to the last CIB it published, as
// crm_mon does, when the diff follows on from that CIB's version and it
// is sure of every step; otherwise, and on every reconnect and resync,
// it reads the CIB anew. The CIB is the truth: a lost notification, a
// diff applied wrong, a restarted CIB manager or a restarted bridge cost
// at most one resync interval.
//
// It does not interpret the CIB beyond its version: the bridge's core does.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/internal/pcmkipc"
)

// Reasons a snapshot was taken.
const (
	ReasonSubscribe = "subscribe" // the first read after the first subscription
	ReasonNotify    = "notify"    // one or more notifications, read whole
	ReasonDiff      = "diff"      // one or more notifications, their diffs applied to the last snapshot
	ReasonReconnect = "reconnect" // the first read after a reconnect
	ReasonResync    = "resync"    // the resync timer: nothing was notified for a while
	ReasonFallback  = "fallback"  // read with the fallback (IPC unavailable), whatever the trigger
)

// Snapshot is the whole CIB at one moment.
type Snapshot struct {
	// XML is the whole <cib> document, checked to be complete (it starts
	// with <cib and its version, and ends with </cib>). Consumers must
	// not modify it.
	XML []byte
	// Version is the CIB's admin_epoch.epoch.num_updates.
	Version Version
	// Reason says what made the source read it: one of the Reason*.
	Reason string
	// Received is when the source saw the trigger (for a burst of
	// notifications, the first of them), for latency metrics.
	Received time.Time
}

// Options configure a Source. The zero value of each field means its
// default.
type Options struct {
	// Client names this client in the CIB manager's log (default
	// "vnfha-bridge").
	Client string
	// Resync is the longest time without a full read (default 5s): a
	// read, whatever its trigger, restarts it. It is the safety net for
	// whatever a notification could not say.
	Resync time.Duration
	// Reconnect is the first wait before reconnecting (default 200ms); it
	// doubles on every failure up to ReconnectMax (default 10s), each wait
	// drawn between half and all of it. The same backoff spaces retries
	// of IPC reads after one failed.
	Reconnect    time.Duration
	ReconnectMax time.Duration
	// QueryTimeout bounds one full read over IPC (default 5s). Pacemaker
	// 2.1.5 does not answer at all a query whose answer does not fit its
	// IPC buffer, so this is also how long it takes to notice that.
	QueryTimeout time.Duration
	// Fallback reads the whole CIB without IPC: while IPC is unavailable
	// (no connection, a server that is not Pacemaker's, a CIB too large
	// for its IPC buffer). Default: CibadminFallback(nil), i.e.
	// `cibadmin --query --local`.
	Fallback func(ctx context.Context) ([]byte, error)
	// FullReads turns the applying of diffs off: every notification is
	// followed by a full read, as before diffs were applied. For
	// comparing the two, and as a way out should a diff ever be applied
	// wrong where the resync is too slow to repair it.
	FullReads bool
	// Log receives the source's log lines (default logrus's standard logger).
	Log logrus.FieldLogger
	// Metrics counts what the source does (default: nothing).
	Metrics Metrics
}

func (o *Options) defaults() {
	if o.Client == "" {
		o.Client = "vnfha-bridge"
	}
	if o.Resync <= 0 {
		o.Resync = 5 * time.Second
	}
	if o.Reconnect <= 0 {
		o.Reconnect = 200 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 10 * time.Second
	}
	o.ReconnectMax = max(o.ReconnectMax, o.Reconnect)
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	if o.Fallback == nil {
		o.Fallback = CibadminFallback(nil)
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
}

// CibadminFallback reads the CIB with `cibadmin --query --local` through
// r (nil: the local binaries), the way pcs and ha_cluster_exporter read it.
func CibadminFallback(r crmwrap.Runner) func(ctx context.Context) ([]byte, error) {
	if r == nil {
		r = crmwrap.ExecRunner{}
	}
	return func(ctx context.Context) ([]byte, error) {
		return r.Run(ctx, "cibadmin", []string{"--query", "--local"}, nil)
	}
}

// Source follows the CIB. Run does the work, in the caller's goroutine;
// Snapshots may be read from any goroutine.
type Source struct {
	o   Options
	out chan Snapshot

	// Run's own state.
	running   sync.Mutex
	lastRead  time.Time // the last full read that was published
	lastTry   time.Time // the last fallback read, whether it worked or not
	ipcRetry  time.Time // IPC reads are not tried before this
	ipcBack   backoff
	connected bool // a connection was made once: the next is a reconnect
	// base is the last snapshot published, as a tree to apply diffs
	// to; nil when there is none to trust (the next notification is then
	// read whole).
	base *cibDoc
}

// New returns a Source with o's settings, defaults filled in.
func New(o Options) *Source {
	o.defaults()
	return &Source{o: o, out: make(chan Snapshot, 1), ipcBack: backoff{min: o.Reconnect, max: o.ReconnectMax}}
}

// Snapshots is where the snapshots come, newest only: it holds at most
// one, and a newer snapshot replaces one not yet taken, so a slow consumer
// never blocks the source and never sees an older snapshot after a newer
// one. It is never closed.
func (s *Source) Snapshots() <-chan Snapshot { return s.out }

// Run connects to the CIB manager (the cib_ro service), signs on,
// subscribes to diff and replace notifications and publishes a snapshot of
// the whole CIB; then it publishes a fresh one after every notification
// (the last one patched with the notified diffs, or read whole when they
// do not apply; a burst of notifications that arrive meanwhile makes one
// snapshot, not one each), after every reconnect, and whenever Resync
// passes without a full read. A lost connection is reconnected with
// backoff; while there is none, and while IPC reads fail, the Fallback
// reads the CIB on the resync timer. Run returns nil when ctx ends; it
// must not be called twice at once.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.TryLock() {
		return errors.New("cluster: Run is already running")
	}
	defer s.running.Unlock()
	conn := backoff{min: s.o.Reconnect, max: s.o.ReconnectMax}
	for ctx.Err() == nil {
		sess, err := s.connect(ctx)
		if err == nil {
			conn.reset()
			err = s.follow(ctx, sess)
			sess.close()
			if ctx.Err() != nil {
				break
			}
			s.o.Metrics.Failed("connection")
			s.o.Log.WithError(err).Warn("cluster: the connection to the CIB manager is lost; reconnecting")
		} else if ctx.Err() == nil {
			s.o.Metrics.Failed("connect")
			s.o.Log.WithError(err).Warn("cluster: cannot follow the CIB manager over IPC; reading with the fallback until it can")
			if s.lastRead.IsZero() {
				// Nothing published yet: the bridge should not wait
				// for a resync to have a view.
				s.fallback(ctx, time.Now())
			}
		}
		if !s.disconnected(ctx, conn.next()) {
			break
		}
	}
	return nil
}

// connect dials, signs on and subscribes, within QueryTimeout.
func (s *Source) connect(ctx context.Context) (*session, error) {
	cctx, cancel := context.WithTimeout(ctx, s.o.QueryTimeout)
	defer cancel()
	sess, err := dial(cctx, s.o.Client, nil)
	if err != nil {
		return nil, err
	}
	s.o.Metrics.Connected()
	return sess, nil
}

// disconnected waits d before the next connection attempt, reading with the
// fallback whenever a resync is due. It returns false when ctx ended.
func (s *Source) disconnected(ctx context.Context, d time.Duration) bool {
	wait := time.NewTimer(d)
	defer wait.Stop()
	for {
		resync := time.NewTimer(time.Until(s.due()))
		select {
		case <-ctx.Done():
			resync.Stop()
			return false
		case <-wait.C:
			resync.Stop()
			return true
		case at := <-resync.C:
			s.fallback(ctx, at) // a failure is tried again a resync later (due)
		}
	}
}

// due is when the resync timer next reads the CIB: a resync after the last
// read, and after the last failed one too, so that a read that fails every
// way is tried again a resync later (or at the next notification), never
// in a loop.
func (s *Source) due() time.Time {
	last := s.lastRead
	if s.lastTry.After(last) {
		last = s.lastTry
	}
	return last.Add(s.o.Resync)
}

// follow reads the CIB once subscribed, then waits for notifications and
// the resync timer, until the connection is lost (its error returned) or
// ctx ends.
func (s *Source) follow(ctx context.Context, sess *session) error {
	reason := ReasonSubscribe
	if s.connected {
		reason = ReasonReconnect
	}
	s.connected = true
	s.ipcRetry = time.Time{}
	s.ipcBack.reset()
	if err := s.read(ctx, sess, reason, time.Now()); err != nil {
		return err
	}
	for {
		due := s.due()
		wctx, cancel := context.WithDeadline(ctx, due)
		msg, at, err := sess.next(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			if err := s.read(ctx, sess, ReasonResync, due); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("wait for notifications: %w", err)
		}
		burst := [][]byte{msg}
		// What else came meanwhile is the same burst: one snapshot
		// for all.
		for {
			msg, ok := sess.conn.PollEvent()
			if !ok {
				break
			}
			burst = append(burst, msg)
		}
		if s.o.FullReads {
			for _, msg := range burst {
				s.notified(msg)
			}
		} else if s.patch(burst, at) {
			continue
		}
		if err := s.read(ctx, sess, ReasonNotify, at); err != nil {
			return err
		}
	}
}

// patch applies the diffs of a burst of notifications, in order, to the
// last snapshot and publishes the result, as crm_mon follows the CIB; it
// reports whether it did. On any doubt (a notification that is not a
// diff, a diff not from the last snapshot's version, one that does not
// apply cleanly) it does not publish and forgets the last snapshot: the
// caller reads the CIB whole, as it did before diffs were applied.
func (s *Source) patch(burst [][]byte, at time.Time) bool {
	ok := s.base != nil
	for _, msg := range burst {
		text := s.notified(msg)
		if !ok || text == nil {
			ok = false
			continue
		}
		n, err := parseDiffNotification(text)
		if err == nil {
			err = s.base.apply(n)
		}
		if err != nil {
			// A pcs change is often a replace: no error, but read whole.
			if !errors.Is(err, errWholeRead) {
				s.o.Metrics.Failed("diff")
			}
			s.o.Log.WithError(err).Debug("cluster: not applying the notified diff; reading the CIB")
			ok = false
		}
	}
	var doc []byte
	if ok {
		var err error
		if doc, err = s.base.bytes(); err != nil {
			s.o.Metrics.Failed("diff")
			s.o.Log.WithError(err).Warn("cluster: the CIB patched with the notified diffs is not whole; reading the CIB")
			ok = false
		}
	}
	if !ok {
		s.base = nil // half-patched, or behind: the read replaces it
		return false
	}
	s.publish(Snapshot{XML: doc, Version: s.base.version, Reason: ReasonDiff, Received: at})
	return true
}

// notified reads one server event, to log and count it, and returns its
// text (nil when it is unreadable). Whatever it holds, even nothing
// readable, it is a trigger for a new snapshot.
func (s *Source) notified(msg []byte) []byte {
	_, text, err := pcmkipc.Unframe(msg)
	var n Notification
	if err == nil {
		n, err = parseNotification(text)
	}
	if err != nil {
		s.o.Metrics.Notified("malformed")
		s.o.Metrics.Failed("notification")
		s.o.Log.WithError(err).Warn("cluster: unreadable event from the CIB manager; reading the CIB anyway")
		return nil
	}
	s.o.Metrics.Notified(n.Type)
	if s.o.Log != nil {
		e := s.o.Log.WithFields(logrus.Fields{"type": n.Type, "op": n.Op, "rc": n.RC})
		if n.Versioned {
			e = e.WithField("version", n.Version.String())
		}
		e.Debug("cluster: CIB notification")
	}
	return text
}

// decodeEvent unframes and parses a notification.
func decodeEvent(msg []byte) (Notification, error) {
	_, text, err := pcmkipc.Unframe(msg)
	if err != nil {
		return Notification{}, err
	}
	return parseNotification(text)
}

// read reads the whole CIB and publishes it: over IPC, or with the
// fallback while IPC reads are failing (retried with backoff). It returns
// an error only when the connection is lost.
func (s *Source) read(ctx context.Context, sess *session, reason string, trigger time.Time) error {
	if !time.Now().Before(s.ipcRetry) {
		qctx, cancel := context.WithTimeout(ctx, s.o.QueryTimeout)
		start := time.Now()
		doc, v, err := sess.query(qctx)
		cancel()
		s.o.Metrics.Queried("ipc", time.Since(start), err)
		if err == nil {
			s.ipcBack.reset()
			s.publish(Snapshot{XML: doc, Version: v, Reason: reason, Received: trigger})
			s.keep(doc)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errConn) {
			return err
		}
		s.o.Metrics.Failed("query")
		wait := s.ipcBack.next()
		s.ipcRetry = time.Now().Add(wait)
		s.o.Log.WithError(err).WithField("retry_in", wait.Round(time.Millisecond).String()).
			Warn("cluster: reading the CIB over IPC failed (a CIB larger than PCMK_ipc_buffer is not answered); reading with the fallback")
	}
	s.fallback(ctx, trigger)
	return nil
}

// fallback reads the CIB with the fallback and publishes it; it reports
// whether it did.
func (s *Source) fallback(ctx context.Context, trigger time.Time) bool {
	qctx, cancel := context.WithTimeout(ctx, s.o.QueryTimeout)
	start := time.Now()
	out, err := s.o.Fallback(qctx)
	cancel()
	s.lastTry = time.Now()
	var doc []byte
	var v Version
	if err == nil {
		doc, v, err = checkCIB(out)
	}
	s.o.Metrics.Queried("fallback", time.Since(start), err)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Metrics.Failed("fallback")
			s.o.Log.WithError(err).Warn("cluster: the fallback read of the CIB failed")
		}
		return false
	}
	s.publish(Snapshot{XML: doc, Version: v, Reason: ReasonFallback, Received: trigger})
	s.keep(doc)
	return true
}

// keep makes a snapshot just read whole the base for the next diffs.
// It is parsed after it is published, so the parse costs the next
// notification nothing.
func (s *Source) keep(doc []byte) {
	if s.o.FullReads {
		return
	}
	base, err := loadCIB(doc)
	if err != nil {
		s.o.Log.WithError(err).Debug("cluster: the CIB read cannot take diffs; notifications are read whole")
	}
	s.base = base
}

// publish hands snap over, replacing a snapshot not yet taken. Run is the
// only sender, so once the stale one is taken out the send cannot block.
func (s *Source) publish(snap Snapshot) {
	// A patched snapshot does not put the resync off: the full read
	// every Resync is the safety net for what a diff could get wrong.
	if snap.Reason != ReasonDiff {
		s.lastRead = time.Now()
	}
	select {
	case s.out <- snap:
	default:
		select {
		case <-s.out:
		default:
		}
		s.out <- snap
	}
	s.o.Metrics.Published(snap.Reason, time.Since(snap.Received))
	s.o.Log.WithFields(logrus.Fields{"reason": snap.Reason, "version": snap.Version.String(), "bytes": len(snap.XML)}).
		Debug("cluster: CIB snapshot published")
}

// backoff is a capped exponential backoff with jitter.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) reset() { b.cur = 0 }

// next is the wait before the next attempt: between half and all of a
// wait that doubles from min up to max.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}
