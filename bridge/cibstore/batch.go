package cibstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/vnfha/vnfha/crmwrap"
)

// maxBatch bounds the pairs in one cibadmin call (at most MaxValue each).
const maxBatch = 32

// queued is one write waiting for its node's next cibadmin call.
type queued struct {
	w pairWrite
	// applied runs once the CIB accepted w, whether or not the caller
	// still waits: the mirror must follow the CIB, not the caller.
	applied func()
	done    chan error // buffered: the flusher never waits for the writer
}

// modify writes w and returns once the CIB accepted it. Writes to one
// node that arrive while a call for that node runs go together in the
// next call (group commit): each cibadmin call takes about 20 ms however
// many pairs it carries, and one host loss brings several events for
// the same node at once. The call runs under the store's Timeout, not
// the caller's context, because it serves several callers; a caller
// whose context ends stops waiting, and its write may still be applied,
// and then is in the mirror too (applied).
func (s *Store) modify(ctx context.Context, w pairWrite, applied func()) error {
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("write to the CIB: %w", err)
	}
	q := &queued{w: w, applied: applied, done: make(chan error, 1)}
	s.bmu.Lock()
	if s.batches == nil {
		s.batches = map[string][]*queued{}
		s.flushing = map[string]bool{}
	}
	node := w.At.NodeID
	s.batches[node] = append(s.batches[node], q)
	if !s.flushing[node] {
		s.flushing[node] = true
		go s.flush(node)
	}
	s.bmu.Unlock()
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("wait for cibadmin: %w", context.Cause(ctx))
	}
}

// flush writes node's queued pairs, a batch per call, until none is left.
func (s *Store) flush(node string) {
	for {
		s.bmu.Lock()
		all := s.batches[node]
		if len(all) == 0 {
			delete(s.batches, node)
			s.flushing[node] = false
			s.bmu.Unlock()
			return
		}
		batch := all[:min(len(all), maxBatch)]
		s.batches[node] = all[len(batch):]
		s.bmu.Unlock()

		// A pair written twice in one batch (a caller stopped waiting,
		// and the next write of its entry came) is sent once, with the
		// later value: queued order is the order the store made them.
		var ws []pairWrite
		for i, q := range batch {
			if !slices.ContainsFunc(batch[i+1:], func(l *queued) bool { return l.w.At.PairID == q.w.At.PairID }) {
				ws = append(ws, q.w)
			}
		}
		frag := modifyFragment(ws)
		err := s.cib(context.Background(), func(ctx context.Context) error {
			return s.o.Client.Modify(ctx, crmwrap.ScopeNodes, frag, false)
		})
		for _, q := range batch {
			if err == nil {
				q.applied()
			}
			q.done <- err
		}
	}
}
