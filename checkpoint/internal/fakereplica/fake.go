// Package fakereplica is an in-memory checkpoint.Replica for the tests of
// the API and the client: our own interface, so a fine seam. It keeps the
// whole history, can compact it (410), flip roles (421, failover), fail
// writes with any error, and records what the control calls asked for.
// It is no model of replication: checkpoint/replica's own tests cover that
// against the real store.
package fakereplica

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

// Fake is an in-memory replica. The zero value is not usable: call New.
type Fake struct {
	mu      sync.Mutex
	node    string
	role    checkpoint.Role
	primary string
	api     string
	epoch   uint64
	items   map[string]checkpoint.Item
	log     []checkpoint.Entry // every entry after oldest-1
	oldest  uint64             // oldest retained revision
	rev     uint64
	changed chan struct{}
	closed  bool

	// WriteErr, when set, is what Put and Delete return (after the
	// condition check, before writing).
	writeErr error
	// PromoteErr is what Promote returns.
	promoteErr error
	// Problems is reported in Status.
	problems []string

	// Promotes, Demotes and Follows record the control calls.
	Promotes []checkpoint.PromoteRequest
	Demotes  int
	Follows  []string
	// Watches counts the watchers that are open.
	watches int
	// writes counts the write calls, refused ones too.
	writes int
}

// SocketDir returns a temporary directory for unix sockets, removed when
// the test ends: t.TempDir's path can pass a socket's 107-byte limit.
func SocketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cpsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// New returns a replica of node in role (primary when role is
// checkpoint.RolePrimary).
func New(node string, role checkpoint.Role) *Fake {
	f := &Fake{node: node, role: role, epoch: 1, items: map[string]checkpoint.Item{}, oldest: 1, changed: make(chan struct{})}
	if role == checkpoint.RolePrimary {
		f.primary = node
	}
	return f
}

// SetRole makes the replica primary or standby; primary and api name the
// primary a standby's NotPrimaryError points to.
func (f *Fake) SetRole(role checkpoint.Role, primary, api string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.role, f.primary, f.api = role, primary, api
	if role == checkpoint.RolePrimary {
		f.primary, f.api = f.node, ""
	}
}

// SetWriteErr makes every write fail with err (nil: writes work again).
func (f *Fake) SetWriteErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeErr = err
}

// SetPromoteErr makes Promote fail with err.
func (f *Fake) SetPromoteErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.promoteErr = err
}

// SetProblems sets what Status reports as problems.
func (f *Fake) SetProblems(p ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = p
}

// Compact drops the entries up to rev: a watch from before rev gets a
// *checkpoint.CompactedError.
func (f *Fake) Compact(rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.log) > 0 && f.log[0].Rev <= rev {
		f.log = f.log[1:]
	}
	f.oldest = max(f.oldest, rev+1)
	f.wakeLocked()
}

// OpenWatches returns how many watchers are open (not yet closed).
func (f *Fake) OpenWatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watches
}

// Close ends every watch with checkpoint.ErrClosed and refuses writes.
func (f *Fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.wakeLocked()
}

func (f *Fake) wakeLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// WriteCalls returns how many writes were asked for, refused ones too.
func (f *Fake) WriteCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Rev returns the last revision.
func (f *Fake) Rev() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev
}

func (f *Fake) write(key string, value []byte, cond checkpoint.Cond, op checkpoint.Op) (rev uint64, created bool, err error) {
	if err := checkpoint.ValidKey(key); err != nil {
		return 0, false, &checkpoint.InvalidError{Reason: err.Error()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	switch {
	case f.closed:
		return 0, false, checkpoint.ErrClosed
	case f.role != checkpoint.RolePrimary:
		return 0, false, &checkpoint.NotPrimaryError{Primary: f.primary, PrimaryAPI: f.api}
	}
	cur, ok := f.items[key]
	if cond.Match && cur.Rev != cond.Rev {
		return 0, false, &checkpoint.ConditionError{Key: key, Want: cond.Rev, Have: cur.Rev}
	}
	if op == checkpoint.OpDelete && !ok {
		return 0, false, checkpoint.ErrNotFound
	}
	if f.writeErr != nil {
		return 0, false, f.writeErr
	}
	f.rev++
	e := checkpoint.Entry{Rev: f.rev, Epoch: f.epoch, Op: op, Key: key, Value: append([]byte(nil), value...)}
	f.log = append(f.log, e)
	if op == checkpoint.OpDelete {
		delete(f.items, key)
	} else {
		created := cur.Created
		if !ok {
			created = f.rev
		}
		f.items[key] = checkpoint.Item{Key: key, Value: e.Value, Rev: f.rev, Created: created}
	}
	f.wakeLocked()
	return f.rev, !ok, nil
}

// Put implements checkpoint.Replica.
func (f *Fake) Put(ctx context.Context, key string, value []byte, cond checkpoint.Cond) (uint64, bool, error) {
	return f.write(key, value, cond, checkpoint.OpPut)
}

// Delete implements checkpoint.Replica.
func (f *Fake) Delete(ctx context.Context, key string, cond checkpoint.Cond) (uint64, error) {
	rev, _, err := f.write(key, nil, cond, checkpoint.OpDelete)
	return rev, err
}

// Get implements checkpoint.Replica.
func (f *Fake) Get(ctx context.Context, key string) (checkpoint.Item, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[key]
	if !ok {
		return checkpoint.Item{}, f.rev, checkpoint.ErrNotFound
	}
	return it, f.rev, nil
}

// List implements checkpoint.Replica.
func (f *Fake) List(ctx context.Context, prefix, after string, limit int) ([]checkpoint.Item, uint64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.items {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	more := false
	if limit > 0 && len(keys) > limit {
		keys, more = keys[:limit], true
	}
	items := make([]checkpoint.Item, 0, len(keys))
	for _, k := range keys {
		items = append(items, f.items[k])
	}
	return items, f.rev, more, nil
}

// Watch implements checkpoint.Replica.
func (f *Fake) Watch(ctx context.Context, from uint64, prefix string) (checkpoint.Watcher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if from+1 < f.oldest {
		return nil, &checkpoint.CompactedError{From: from, Oldest: f.oldest}
	}
	f.watches++
	return &watcher{f: f, next: from + 1, prefix: prefix}, nil
}

type watcher struct {
	f      *Fake
	next   uint64
	prefix string
	once   sync.Once
}

func (w *watcher) Next(ctx context.Context) ([]checkpoint.Entry, error) {
	for {
		f := w.f
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return nil, checkpoint.ErrClosed
		}
		if w.next < f.oldest {
			err := &checkpoint.CompactedError{From: w.next - 1, Oldest: f.oldest}
			f.mu.Unlock()
			return nil, err
		}
		var out []checkpoint.Entry
		for _, e := range f.log {
			if e.Rev >= w.next && strings.HasPrefix(e.Key, w.prefix) {
				out = append(out, e)
			}
		}
		if f.rev >= w.next {
			w.next = f.rev + 1
		}
		ch := f.changed
		f.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

func (w *watcher) Close() error {
	w.once.Do(func() {
		w.f.mu.Lock()
		w.f.watches--
		w.f.mu.Unlock()
	})
	return nil
}

// Status implements checkpoint.Replica.
func (f *Fake) Status() checkpoint.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := checkpoint.Status{Node: f.node, Role: f.role, Epoch: f.epoch,
		Position: checkpoint.Position{Epoch: f.epoch, Rev: f.rev}, Primary: f.primary, PrimaryAPI: f.api,
		SyncMode: checkpoint.SyncStrict, SyncReplicas: 1, Problems: f.problems}
	st.Writable = f.role == checkpoint.RolePrimary && f.writeErr == nil && !f.closed
	if !st.Writable {
		st.Unwritable = "not the primary"
	}
	return st
}

// Promote implements checkpoint.Replica.
func (f *Fake) Promote(ctx context.Context, req checkpoint.PromoteRequest) (checkpoint.Status, error) {
	f.mu.Lock()
	f.Promotes = append(f.Promotes, req)
	err := f.promoteErr
	if err == nil && f.role != checkpoint.RolePrimary {
		f.role, f.primary, f.api = checkpoint.RolePrimary, f.node, ""
		f.epoch = max(f.epoch, req.MinEpoch) + 1
	}
	f.mu.Unlock()
	if err != nil {
		return checkpoint.Status{}, err
	}
	return f.Status(), nil
}

// Demote implements checkpoint.Replica.
func (f *Fake) Demote(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Demotes++
	if f.role == checkpoint.RolePrimary {
		f.role, f.primary = checkpoint.RoleStandby, ""
	}
	return nil
}

// Follow implements checkpoint.Replica.
func (f *Fake) Follow(node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if node == "" {
		return errors.New("follow: no node named")
	}
	f.Follows = append(f.Follows, node)
	if f.role != checkpoint.RolePrimary {
		f.primary = node
	}
	return nil
}

var _ checkpoint.Replica = (*Fake)(nil)
