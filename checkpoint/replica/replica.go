// Package replica is one node's replica of the checkpoint store: its role
// (primary or standby), the primary's write pipeline, the replication
// stream to the standbys, the synchronous set and the marks that keep a
// replica lacking an acknowledged write from being promoted. It
// implements checkpoint.Replica on top of a checkpoint/store.Store.
//
// The acknowledgement rule (design13): a write is acknowledged only when
// it is durable in the primary's store and, for every peer, either the
// peer acknowledged (after its own fdatasync) an entry at or after the
// write's revision, or the peer was durably marked stale in the cluster
// (Marks.Stale returned nil) before the acknowledgement. Everything else
// here (the sync set, sync_mode, catch-up) is policy around that rule;
// primary.go's ackable is the one place that applies it.
//
// Use (vnfha checkpoint serve): open the store, make the replica with
// New (a standby: it searches its peers for a primary at once), run Run
// in a goroutine for the replication port, serve the HTTP API over the
// replica. To stop: cancel Run's context, Close the replica (writes not
// yet acknowledged fail with checkpoint.ErrClosed), then close the store.
// Config.Auth comes from wire.KeyFile (the shared key) or wire.TLSFiles.
package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// Store is what a replica needs of one node's durable storage:
// checkpoint/store.Store's methods. Append has one caller at a time (the
// primary's pipeline or the standby's appender, never both); everything
// else may run concurrently.
type Store interface {
	Position() checkpoint.Position
	Epoch() uint64
	SetEpoch(e uint64) error
	EpochStart(e uint64) (uint64, bool)
	Append(entries []checkpoint.Entry) error
	Get(key string) (checkpoint.Item, uint64, error)
	List(prefix, after string, limit int) ([]checkpoint.Item, uint64, bool, error)
	Entries(from uint64, max int, maxBytes int64) ([]checkpoint.Entry, error)
	Oldest() uint64
	Changed() <-chan struct{}
	Snapshot(w io.Writer) (checkpoint.Position, error)
	Restore(r io.Reader) error
	Problems() []string
}

// Config is a replica's configuration. Zero values take the defaults
// named on each field.
type Config struct {
	// Node is this node's name, as the peers know it.
	Node string
	// Peers maps every replica's node to its replication address
	// (host:port); this node's own entry is ignored.
	Peers map[string]string
	// Listen is the replication listen address (Run).
	Listen string
	// Auth authenticates the replication link (a shared key or mutual
	// TLS); required.
	Auth wire.Auth
	// SyncReplicas is how many standbys must hold a write before it is
	// acknowledged in strict mode (default checkpoint.DefaultSyncCount),
	// at most the number of peers. A replica without peers (a store of
	// one node) acknowledges once a write is durable here.
	SyncReplicas int
	// SyncMode is checkpoint.SyncStrict (default) or SyncAvailable.
	SyncMode string
	// SyncTimeout is how long a standby of the synchronous set may take
	// to acknowledge a write before it is marked stale and dropped from
	// the set (default 1s).
	SyncTimeout time.Duration
	// MaxBatchBytes bounds one group commit (default 4 MiB).
	MaxBatchBytes int64
	// MaxValue bounds a value (default checkpoint.DefaultMaxValue).
	MaxValue int64
	// MarkTimeout bounds one Marks call (default 30s).
	MarkTimeout time.Duration
	// Marks records in the cluster which replicas may be promoted;
	// required.
	Marks checkpoint.Marks
	// Logger gets what the replica has to say (default: logrus's
	// standard logger).
	Logger logrus.FieldLogger
	// PrimaryAPI, when set, gives a node's client API address, for the
	// 421 answers that send clients to the primary.
	PrimaryAPI func(node string) string
}

// searchTimeout bounds a standby's search for the primary (a var: tests
// make it long, to show that a nudge does not wait for it).
var searchTimeout = 2 * time.Second

// Timings of the stream, not worth a flag each.
const (
	heartbeatEvery = time.Second
	// A standby that hears nothing from its primary for this long
	// (heartbeats included) drops the connection and searches again.
	streamSilence = 5 * time.Second
	// peerQueryTimeout bounds promote's look at its peers.
	peerQueryTimeout = 5 * time.Second
	snapshotChunk    = 1 << 20
	// writeTimeout bounds a write to a standby's connection: a standby
	// that has not read for this long (its socket buffer full) is
	// dropped; it reconnects and catches up from the store.
	writeTimeout  = 2 * time.Second
	markRetry     = time.Second
	maxBatchBytes = 64 << 20
)

func (c *Config) defaults() error {
	if c.Node == "" {
		return errors.New("replica: no node name")
	}
	if c.Marks == nil {
		return errors.New("replica: no Marks")
	}
	if c.SyncReplicas <= 0 {
		c.SyncReplicas = checkpoint.DefaultSyncCount
	}
	switch c.SyncMode {
	case "":
		c.SyncMode = checkpoint.SyncStrict
	case checkpoint.SyncStrict, checkpoint.SyncAvailable:
	default:
		return fmt.Errorf("replica: sync mode %q: want %s or %s", c.SyncMode, checkpoint.SyncStrict, checkpoint.SyncAvailable)
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = time.Second
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 4 << 20
	}
	if c.MaxValue <= 0 {
		c.MaxValue = checkpoint.DefaultMaxValue
	}
	// A batch, or one value, must fit a frame.
	if c.MaxBatchBytes > maxBatchBytes || c.MaxValue > maxBatchBytes {
		return fmt.Errorf("replica: batches and values are limited to %d bytes (the replication frame's bound)", maxBatchBytes)
	}
	if c.MarkTimeout <= 0 {
		c.MarkTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	peers := map[string]string{}
	for n, a := range c.Peers {
		if n == c.Node {
			continue
		}
		if n == "" || a == "" {
			return fmt.Errorf("replica: peer %q at %q: a node and an address are needed", n, a)
		}
		peers[n] = a
	}
	c.Peers = peers
	if len(peers) > 0 && c.SyncReplicas > len(peers) {
		return fmt.Errorf("replica: sync_replicas %d, but only %d %s configured", c.SyncReplicas, len(peers), plural(len(peers), "peer is", "peers are"))
	}
	return nil
}

// Replica is one node's replica. It starts as a standby that searches
// its peers for a primary; Promote makes it the primary.
type Replica struct {
	st  Store
	c   Config
	log logrus.FieldLogger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	role      checkpoint.Role
	promoting bool
	prim      *primary // while primary
	// standby's view
	following string
	connected bool
	caughtUp  bool
	isSync    bool
	follow    *follower // the running follower, nil on a primary
	problems  map[string]string
	// commit wakes watchers on a primary when the acknowledged revision
	// moves (closed then replaced).
	commit    chan struct{}
	committed uint64
	// history counts the changes that may take back what a watcher saw
	// (a demote, a rebuild from a snapshot): a watch ends at one, and
	// the client lists again.
	history uint64
}

var _ checkpoint.Replica = (*Replica)(nil)

// New makes a replica over st, a standby until promoted. It starts
// following at once; Run serves the replication port.
func New(st Store, c Config) (*Replica, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Replica{
		st: st, c: c, log: c.Logger.WithField("node", c.Node),
		ctx: ctx, cancel: cancel,
		role: checkpoint.RoleStandby, problems: map[string]string{},
		commit: make(chan struct{}),
	}
	r.mu.Lock()
	r.startFollowerLocked("")
	r.mu.Unlock()
	return r, nil
}

// Run serves the replication port until ctx ends or Close: status
// requests from any peer, the stream to standbys while primary.
func (r *Replica) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", r.c.Listen)
	if err != nil {
		return fmt.Errorf("replication listen: %w", err)
	}
	return r.Serve(ctx, ln)
}

// Serve is Run on a listener the caller made.
func (r *Replica) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-r.ctx.Done():
		}
		cancel() // handshakes under way end too
		ln.Close()
	}()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || r.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("replication accept: %w", err)
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			r.serveConn(ctx, nc)
		}()
	}
}

// Close stops the replica: a primary's pending writes fail with
// ErrClosed, the stream ends. The store is the caller's to close.
func (r *Replica) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	p := r.prim
	r.prim = nil
	f := r.follow
	r.follow = nil
	r.mu.Unlock()
	r.cancel()
	if p != nil {
		p.stop(checkpoint.ErrClosed)
	}
	if f != nil {
		f.stop()
	}
	r.wg.Wait()
	return nil
}

// Get returns key's item and the revision the replica has applied: on a
// standby its own applied state; on a primary only what was acknowledged
// (see readAcked).
func (r *Replica) Get(ctx context.Context, key string) (checkpoint.Item, uint64, error) {
	if err := checkpoint.ValidKey(key); err != nil {
		return checkpoint.Item{}, 0, &checkpoint.InvalidError{Reason: err.Error()}
	}
	var it checkpoint.Item
	var rev uint64
	err := r.readAcked(ctx, func() (uint64, error) {
		var err error
		it, rev, err = r.st.Get(key)
		if errors.Is(err, checkpoint.ErrNotFound) {
			// A delete not yet acknowledged hides the key too: the
			// answer waits for the store's position.
			return rev, err
		}
		return it.Rev, err
	})
	return it, rev, err
}

// List returns the items under prefix after after, in key order; on a
// primary only once every item's write was acknowledged (readAcked).
func (r *Replica) List(ctx context.Context, prefix, after string, limit int) ([]checkpoint.Item, uint64, bool, error) {
	if err := checkpoint.ValidPrefix(prefix); err != nil {
		return nil, 0, false, &checkpoint.InvalidError{Reason: err.Error()}
	}
	var items []checkpoint.Item
	var rev uint64
	var more bool
	err := r.readAcked(ctx, func() (uint64, error) {
		var err error
		items, rev, more, err = r.st.List(prefix, after, limit)
		// A delete not yet acknowledged may be missing from the page:
		// the whole page waits for the store's position.
		return rev, err
	})
	return items, rev, more, err
}

// readAckedWait bounds how long a read on a primary waits for the writes
// it would show to be acknowledged: normally a millisecond; longer only
// while the primary cannot acknowledge (no standby in strict mode, a mark
// being written), and then the reader is told why instead of waiting on.
const readAckedWait = 5 * time.Second

// readAcked runs read (which returns the highest revision its answer
// shows) until what it read is acknowledged. On a primary the store holds
// writes that are durable here but not yet on the standbys; showing one
// would be a dirty read: a failover at that moment loses it, although a
// reader acted on it. So a read that would show one waits for its
// acknowledgement (or reads again when the history changed: a demote).
// On a standby everything applied is shown.
func (r *Replica) readAcked(ctx context.Context, read func() (uint64, error)) error {
	ctx, cancel := context.WithTimeout(ctx, readAckedWait)
	defer cancel()
	_, _, hist := r.visible()
	need, err := read()
	for {
		if err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
			return err
		}
		acked, changed, h := r.visible()
		if h != hist {
			// Demoted (or rebuilt): what was read may be taken back;
			// read again what the replica holds now. Reading again only
			// then, never because more was written meanwhile, keeps a
			// busy primary's reads from chasing its own pipeline.
			hist = h
			need, err = read()
			continue
		}
		if need <= acked {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return &checkpoint.UnavailableError{Reason: fmt.Sprintf(
				"the read would show revision %d, which the standbys have not acknowledged yet (acknowledged: %d)", need, acked)}
		}
	}
}

// Put sets key to value; see checkpoint.Replica.
func (r *Replica) Put(ctx context.Context, key string, value []byte, cond checkpoint.Cond) (uint64, bool, error) {
	if err := checkpoint.ValidKey(key); err != nil {
		return 0, false, &checkpoint.InvalidError{Reason: err.Error()}
	}
	if int64(len(value)) > r.c.MaxValue {
		return 0, false, &checkpoint.TooLargeError{Size: int64(len(value)), Limit: r.c.MaxValue}
	}
	// The store may keep the value after the write returns (its
	// overlay), and the caller may reuse its buffer.
	v := make([]byte, len(value))
	copy(v, value)
	res, err := r.write(ctx, &request{op: checkpoint.OpPut, key: key, value: v, cond: cond})
	return res.rev, res.created, err
}

// Delete removes key; see checkpoint.Replica.
func (r *Replica) Delete(ctx context.Context, key string, cond checkpoint.Cond) (uint64, error) {
	if err := checkpoint.ValidKey(key); err != nil {
		return 0, &checkpoint.InvalidError{Reason: err.Error()}
	}
	res, err := r.write(ctx, &request{op: checkpoint.OpDelete, key: key, cond: cond})
	return res.rev, err
}

func (r *Replica) write(ctx context.Context, q *request) (result, error) {
	r.mu.Lock()
	p := r.prim
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return result{}, checkpoint.ErrClosed
	}
	if p == nil {
		return result{}, r.notPrimary()
	}
	q.done = make(chan result, 1)
	if err := p.enqueue(q); err != nil {
		return result{}, err
	}
	select {
	case res := <-q.done:
		return res, res.err
	case <-ctx.Done():
		// The write goes on without its caller: it may or may not
		// happen, as an error always says.
		return result{}, &checkpoint.UnavailableError{Reason: "the write was not acknowledged before the request ended: " + ctx.Err().Error()}
	}
}

func (r *Replica) notPrimary() error {
	r.mu.Lock()
	primary := r.following
	r.mu.Unlock()
	e := &checkpoint.NotPrimaryError{Primary: primary}
	if primary != "" && r.c.PrimaryAPI != nil {
		e.PrimaryAPI = r.c.PrimaryAPI(primary)
	}
	return e
}

// Status says what the replica is and how it is doing.
func (r *Replica) Status() checkpoint.Status {
	r.mu.Lock()
	s := checkpoint.Status{
		Node: r.c.Node, Role: r.role,
		Epoch: r.st.Epoch(), Position: r.st.Position(),
		SyncMode: r.c.SyncMode, SyncReplicas: r.c.SyncReplicas,
	}
	p := r.prim
	if p == nil {
		s.Primary = r.following
		s.Connected, s.CaughtUp, s.Sync = r.connected, r.caughtUp, r.isSync
		if r.promoting {
			s.Unwritable = "a promote is under way"
		} else if r.following != "" {
			s.Unwritable = "this replica is a standby of " + r.following
		} else {
			s.Unwritable = "this replica is a standby and knows no primary"
		}
	} else {
		s.Primary = r.c.Node
	}
	for _, v := range r.problems {
		s.Problems = append(s.Problems, v)
	}
	r.mu.Unlock()
	if p != nil {
		p.status(&s)
	}
	if s.Primary != "" && r.c.PrimaryAPI != nil {
		s.PrimaryAPI = r.c.PrimaryAPI(s.Primary)
	}
	s.Problems = append(s.Problems, r.st.Problems()...)
	sort.Strings(s.Problems)
	s.Problems = slices.Compact(s.Problems)
	return s
}

// setProblem records (msg != "") or clears a named problem.
func (r *Replica) setProblem(name, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if msg == "" {
		delete(r.problems, name)
	} else {
		r.problems[name] = msg
	}
}

// setCommitted moves the acknowledged revision watchers see on a
// primary.
func (r *Replica) setCommitted(rev uint64) {
	r.mu.Lock()
	if rev > r.committed {
		r.committed = rev
		close(r.commit)
		r.commit = make(chan struct{})
	}
	r.mu.Unlock()
}

// newHistoryLocked ends the watches (r.mu held).
func (r *Replica) newHistoryLocked() {
	r.history++
	close(r.commit)
	r.commit = make(chan struct{})
}

// peerNames is the configured peers, sorted.
func (r *Replica) peerNames() []string {
	names := make([]string, 0, len(r.c.Peers))
	for n := range r.c.Peers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func joinReasons(rs []string) string { return strings.Join(rs, ", ") }
