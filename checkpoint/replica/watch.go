package replica

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/vnfha/vnfha/checkpoint"
)

var errWatchClosed = errors.New("watch closed")

// watchBatch bounds what one Next returns.
const (
	watchMax      = 1024
	watchMaxBytes = 4 << 20
)

// Watch returns the entries after from whose keys start with prefix, as
// they are applied here. On a primary a watcher sees only acknowledged
// entries (so that what it sees survives a failover); on a standby, what
// the standby has made durable.
func (r *Replica) Watch(ctx context.Context, from uint64, prefix string) (checkpoint.Watcher, error) {
	if err := checkpoint.ValidPrefix(prefix); err != nil {
		return nil, &checkpoint.InvalidError{Reason: err.Error()}
	}
	if old := r.st.Oldest(); from+1 < old {
		return nil, &checkpoint.CompactedError{From: from, Oldest: old}
	}
	r.mu.Lock()
	h := r.history
	r.mu.Unlock()
	return &watcher{r: r, cursor: from, prefix: prefix, history: h, closed: make(chan struct{})}, nil
}

type watcher struct {
	r       *Replica
	prefix  string
	history uint64

	mu     sync.Mutex // one Next at a time
	cursor uint64

	once   sync.Once
	closed chan struct{}
}

func (w *watcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return nil
}

// visible is the highest revision a watcher may see now, what closes
// when it may change, and the history it belongs to.
func (r *Replica) visible() (uint64, <-chan struct{}, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prim != nil {
		return r.committed, r.commit, r.history
	}
	return ^uint64(0), r.commit, r.history
}

func (w *watcher) Next(ctx context.Context) ([]checkpoint.Entry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.r.st
	for {
		select {
		case <-w.closed:
			return nil, errWatchClosed
		default:
		}
		changed := st.Changed()
		limit, commit, history := w.r.visible()
		if history != w.history {
			// A promote, a demote or a rebuild may take back entries
			// the watcher saw (an old primary's unacknowledged ones):
			// the client lists again, as after a compaction.
			return nil, &checkpoint.CompactedError{From: w.cursor, Oldest: st.Oldest()}
		}
		var out []checkpoint.Entry
		if w.cursor < limit {
			es, err := st.Entries(w.cursor, watchMax, watchMaxBytes)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				if e.Rev > limit {
					break
				}
				w.cursor = e.Rev
				if e.Op != checkpoint.OpEpoch && strings.HasPrefix(e.Key, w.prefix) {
					out = append(out, e)
				}
			}
			if len(out) > 0 {
				return out, nil
			}
			if len(es) > 0 && w.cursor < limit {
				continue // a page without a match: the next one
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.closed:
			return nil, errWatchClosed
		case <-changed:
		case <-commit:
		}
	}
}
