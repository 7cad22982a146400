package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// Promote makes this replica the primary: it checks the reachable peers,
// takes the entries the freshest one holds past this replica's position
// (fetchFresher; a peer still fresher after that refuses the promote),
// takes a new epoch above every
// epoch it knows of, persists it, marks itself sync in the cluster, and
// writes the epoch's first entry. Promoting a primary is a no-op.
func (r *Replica) Promote(ctx context.Context, req checkpoint.PromoteRequest) (checkpoint.Status, error) {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return checkpoint.Status{}, checkpoint.ErrClosed
	case r.prim != nil:
		r.mu.Unlock()
		return r.Status(), nil
	case r.promoting:
		r.mu.Unlock()
		return checkpoint.Status{}, &checkpoint.UnavailableError{Reason: "a promote is already under way"}
	}
	r.promoting = true
	f := r.follow
	r.follow = nil
	r.mu.Unlock()
	// The follower's last append completes before this replica looks at
	// its own position.
	if f != nil {
		f.stop()
	}
	p, err := r.promote(ctx, req)
	r.mu.Lock()
	r.promoting = false
	if err != nil || r.closed {
		if err == nil {
			err = checkpoint.ErrClosed
		}
		r.startFollowerLocked("")
		r.mu.Unlock()
		if p != nil {
			p.stop(err)
		}
		return checkpoint.Status{}, err
	}
	r.prim = p
	r.role = checkpoint.RolePrimary
	r.following, r.connected, r.caughtUp, r.isSync = r.c.Node, false, false, false
	delete(r.problems, "follow")
	delete(r.problems, "epoch")
	r.mu.Unlock()
	p.start()
	s := r.Status()
	r.log.Infof("promoted: primary of epoch %d at %s", s.Epoch, s.Position)
	return s, nil
}

func (r *Replica) promote(ctx context.Context, req checkpoint.PromoteRequest) (*primary, error) {
	st := r.st
	own := st.Position()
	epoch := max(st.Epoch(), req.MinEpoch)
	// A peer that does not answer within the bound (a dead node whose
	// address swallows packets) is skipped, as an unreachable one is.
	qctx, cancel := context.WithTimeout(ctx, peerQueryTimeout)
	if len(req.Absent) > 0 {
		r.log.Infof("not asking %s: outside the cluster's membership", strings.Join(req.Absent, ", "))
	}
	statuses := r.queryPeers(qctx, true, req.Absent)
	cancel()
	if n := freshest(statuses, own, req.Ignore); n != "" && !req.Force {
		if err := r.fetchFresher(ctx, n); err != nil {
			r.log.WithField("peer", n).WithError(err).Warnf("cannot take the entries %s holds past %s", n, own)
		} else {
			r.log.WithField("peer", n).Infof("took %s's entries from %s to %s", n, own, st.Position())
		}
		own = st.Position()
	}
	for n, s := range statuses {
		if !req.Force && !slices.Contains(req.Ignore, n) && s.Position.Compare(own) > 0 {
			return nil, &checkpoint.FresherPeerError{Peer: n, Position: s.Position, Own: own}
		}
		epoch = max(epoch, s.Epoch)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	epoch++
	if err := st.SetEpoch(epoch); err != nil {
		return nil, fmt.Errorf("promote: persist epoch %d: %w", epoch, err)
	}
	mctx, cancel := context.WithTimeout(ctx, r.c.MarkTimeout)
	err := r.c.Marks.Sync(mctx, r.c.Node)
	cancel()
	if err != nil {
		return nil, &checkpoint.UnavailableError{Reason: fmt.Sprintf("promote: mark %s sync: %v", r.c.Node, err)}
	}
	// The epoch's first entry moves this replica's position past every
	// entry of older epochs at once (Raft's no-op entry).
	e := checkpoint.Entry{Rev: st.Position().Rev + 1, Epoch: epoch, Op: checkpoint.OpEpoch, Time: time.Now().UnixNano()}
	if err := st.Append([]checkpoint.Entry{e}); err != nil {
		return nil, fmt.Errorf("promote: write the epoch entry: %w", err)
	}
	r.mu.Lock()
	// Nothing a watcher saw here is taken back: every entry it holds is
	// now this epoch's history.
	r.committed = e.Rev
	close(r.commit)
	r.commit = make(chan struct{})
	r.mu.Unlock()
	return newPrimary(r, epoch), nil
}

// Demote makes a primary a standby: writes not yet acknowledged fail
// with *UnavailableError, new ones get *NotPrimaryError. The replica then
// follows whichever peer is primary (rebuilt from its snapshot if this
// one wrote entries that the new primary never had).
func (r *Replica) Demote(ctx context.Context) error {
	r.mu.Lock()
	p := r.prim
	if p == nil || r.closed {
		r.mu.Unlock()
		return nil
	}
	r.prim = nil
	r.role = checkpoint.RoleStandby
	r.following = ""
	delete(r.problems, "epoch") // a newer primary exists: that is why
	for n := range r.problems {
		if strings.HasPrefix(n, "mark:") {
			delete(r.problems, n) // a standby marks nothing
		}
	}
	r.newHistoryLocked()
	r.mu.Unlock()
	p.stop(&checkpoint.UnavailableError{Reason: "the primary was demoted before the write was acknowledged"})
	r.mu.Lock()
	r.startFollowerLocked("")
	r.mu.Unlock()
	r.log.Info("demoted: a standby now")
	return nil
}

// Follow tells a standby that node is now the primary.
func (r *Replica) Follow(node string) error {
	if node != r.c.Node && !r.isPeer(node) {
		return &checkpoint.InvalidError{Reason: fmt.Sprintf("%q is not a configured peer", node)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return checkpoint.ErrClosed
	case r.prim != nil:
		if node == r.c.Node {
			return nil
		}
		return &checkpoint.InvalidError{Reason: fmt.Sprintf("this replica is the primary; demote it before it follows %s", node)}
	case node == r.c.Node:
		return nil
	case r.follow != nil:
		r.follow.follow(node)
	}
	return nil
}
