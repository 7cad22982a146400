package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// follower is a standby's loop: find the primary, follow its stream,
// start again when the stream ends.
type follower struct {
	r      *Replica
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	nudge  chan string // Follow's node (buffered 1: the latest wins)

	mu      sync.Mutex
	current string             // the node being followed now
	drop    context.CancelFunc // ends the current stream
}

// startFollowerLocked starts following (r.mu held); target, when set, is
// tried first.
func (r *Replica) startFollowerLocked(target string) {
	if r.closed {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	f := &follower{r: r, ctx: ctx, cancel: cancel, done: make(chan struct{}), nudge: make(chan string, 1)}
	r.follow = f
	r.connected, r.caughtUp, r.isSync = false, false, false
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(f.done)
		f.run(target)
	}()
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
}

// follow nudges the follower towards node.
func (f *follower) follow(node string) {
	select {
	case <-f.nudge:
	default:
	}
	f.nudge <- node
	f.mu.Lock()
	if f.current != "" && f.current != node && f.drop != nil {
		f.drop()
	}
	f.mu.Unlock()
}

func (f *follower) run(target string) {
	r := f.r
	backoff := 50 * time.Millisecond
	var lastErr string
	for f.ctx.Err() == nil {
		if target == "" {
			select {
			case target = <-f.nudge:
			default:
				target = f.search()
			}
		}
		if target != "" && target != r.c.Node {
			streamed, err := f.followOnce(target)
			if streamed {
				backoff = 50 * time.Millisecond
			}
			if err != nil && f.ctx.Err() == nil {
				// The same failure every backoff is said once.
				if msg := err.Error(); msg != lastErr {
					r.log.WithField("primary", target).WithError(err).Warn("not following the primary")
					lastErr = msg
				}
			}
		}
		target = ""
		select {
		case <-f.ctx.Done():
			return
		case target = <-f.nudge:
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// search is r.search, cut short by a nudge: after a power loss the peer
// that is gone swallows the question until searchTimeout, and the new
// primary's "follow me" (the post-promote notify) must not wait for it.
func (f *follower) search() string {
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	found := make(chan string, 1)
	go func() { found <- f.r.search(ctx) }()
	select {
	case target := <-f.nudge:
		return target
	case target := <-found:
		return target
	}
}

// search asks the peers for their status and returns the primary with
// the highest epoch not older than this replica's, or "".
func (r *Replica) search(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, searchTimeout)
	defer cancel()
	own := r.st.Epoch()
	best, bestEpoch := "", uint64(0)
	for n, s := range r.queryPeers(ctx, false, nil) {
		if s.Role == checkpoint.RolePrimary && s.Epoch >= own && (best == "" || s.Epoch > bestEpoch) {
			best, bestEpoch = n, s.Epoch
		}
	}
	return best
}

// queryPeers asks every peer for its status at once, bounded by ctx. An
// unreachable peer is left out (and logged when logUnreachable).
func (r *Replica) queryPeers(ctx context.Context, logUnreachable bool, skip []string) map[string]checkpoint.Status {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]checkpoint.Status{}
	for _, n := range r.peerNames() {
		if slices.Contains(skip, n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := r.queryPeer(ctx, n)
			if err != nil {
				if logUnreachable {
					r.log.WithField("peer", n).WithError(err).Warn("peer unreachable: skipped")
				}
				return
			}
			mu.Lock()
			out[n] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (r *Replica) queryPeer(ctx context.Context, node string) (checkpoint.Status, error) {
	conn, err := wire.Dial(ctx, r.c.Peers[node], r.c.Node, r.c.Auth, r.st.Epoch())
	if err != nil {
		return checkpoint.Status{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if conn.Peer != node {
		return checkpoint.Status{}, fmt.Errorf("%s answers as %q", node, conn.Peer)
	}
	if err := conn.Send(wire.Frame{Type: wire.TStatusRequest, Epoch: r.st.Epoch()}); err != nil {
		return checkpoint.Status{}, err
	}
	f, err := conn.Recv()
	if err != nil {
		return checkpoint.Status{}, err
	}
	if f.Type != wire.TStatus {
		return checkpoint.Status{}, fmt.Errorf("status request answered with %s", f.Type)
	}
	var s checkpoint.Status
	if err := wire.DecodeJSON(f, &s); err != nil {
		return s, err
	}
	if s.Epoch < s.Position.Epoch {
		return s, fmt.Errorf("status of %s: epoch %d under its position's %s", node, s.Epoch, s.Position)
	}
	return s, nil
}

// followOnce follows target until the stream ends; streamed says
// whether it got as far as the stream.
func (f *follower) followOnce(target string) (streamed bool, err error) {
	r, st := f.r, f.r.st
	addr, ok := r.c.Peers[target]
	if !ok {
		return false, fmt.Errorf("%s is not a configured peer", target)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	f.mu.Lock()
	f.current, f.drop = target, cancel
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.current, f.drop = "", nil
		f.mu.Unlock()
		if ctx.Err() != nil {
			err = nil // dropped for another primary (Follow), or closing: nothing to say
		}
	}()
	dctx, dcancel := context.WithTimeout(ctx, wire.HandshakeTimeout)
	conn, err := wire.Dial(dctx, addr, r.c.Node, r.c.Auth, st.Epoch())
	dcancel()
	if err != nil {
		var ae *wire.AuthError
		if errors.As(err, &ae) {
			r.setProblem("follow", "replication refused: "+err.Error())
		}
		return false, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if conn.Peer != target {
		return false, fmt.Errorf("%s at %s answers as %q", target, addr, conn.Peer)
	}
	pos := st.Position()
	start, _ := st.EpochStart(pos.Epoch)
	fol := wire.Follow{Node: r.c.Node, Position: pos, Epoch: st.Epoch(), EpochStart: start}
	if err := conn.Send(wire.Frame{Type: wire.TFollow, Epoch: st.Epoch(), Payload: wire.EncodeJSON(fol)}); err != nil {
		return false, err
	}
	conn.SetReadDeadline(time.Now().Add(streamSilence))
	fr, err := conn.Recv()
	if err != nil {
		return false, err
	}
	switch fr.Type {
	case wire.TError:
		return false, fmt.Errorf("%s refused: %q", target, clipBytes(fr.Payload))
	case wire.TFollowOK:
	default:
		return false, &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("a %s frame where follow-ok was expected", fr.Type)}
	}
	var ok2 wire.FollowOK
	if err := wire.DecodeJSON(fr, &ok2); err != nil {
		return false, err
	}
	epoch := ok2.Epoch
	if fr.Epoch != epoch || ok2.Position.Epoch > epoch {
		return false, &wire.FrameError{Peer: conn.RemoteAddr(), Reason: "follow-ok's epochs disagree"}
	}
	// Refuse an older primary; persist a newer one's epoch before any
	// acknowledgement, so that no older primary ever gets one again.
	if own := st.Epoch(); epoch < own {
		r.setProblem("follow", fmt.Sprintf("%s is a primary of epoch %d, older than this replica's %d: refused", target, epoch, own))
		return false, fmt.Errorf("%s is a primary of epoch %d, older than this replica's %d: refused", target, epoch, own)
	} else if epoch > own {
		if err := st.SetEpoch(epoch); err != nil {
			return false, fmt.Errorf("persist epoch %d: %w", epoch, err)
		}
	}
	r.mu.Lock()
	r.following, r.connected, r.caughtUp, r.isSync = target, true, false, false
	delete(r.problems, "follow")
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.connected, r.caughtUp, r.isSync = false, false, false
		r.mu.Unlock()
	}()
	r.log.WithField("primary", target).Infof("following %s (epoch %d, %s catch-up from %s, primary at %s)", target, epoch, ok2.Mode, pos, ok2.Position)
	if ok2.Mode == wire.ModeSnapshot {
		if err := f.receiveSnapshot(conn, epoch); err != nil {
			return true, err
		}
		if st.Epoch() < epoch {
			if err := st.SetEpoch(epoch); err != nil {
				return true, fmt.Errorf("persist epoch %d: %w", epoch, err)
			}
		}
	}
	ack := func() error {
		return conn.Send(wire.Frame{Type: wire.TAck, Epoch: epoch, Payload: wire.EncodeAck(st.Position().Rev)})
	}
	if err := ack(); err != nil {
		return true, err
	}
	return true, f.stream(ctx, conn, epoch, ack)
}

// stream receives entries and appends them in groups (whatever has
// arrived while the last append ran), acknowledging each group once it
// is durable.
func (f *follower) stream(ctx context.Context, conn *wire.Conn, epoch uint64, ack func() error) error {
	r, st := f.r, f.r.st
	batches := make(chan []checkpoint.Entry, 1024)
	errc := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		errc <- f.read(rctx, conn, epoch, batches, ack)
	}()
	appended := false
	for {
		var es []checkpoint.Entry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case es = <-batches:
		}
	more:
		for len(es) < 1<<16 {
			select {
			case b := <-batches:
				es = append(es, b...)
			default:
				break more
			}
		}
		if want := st.Position().Rev + 1; es[0].Rev != want {
			return &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("entries from revision %d, expected %d", es[0].Rev, want)}
		}
		if err := st.Append(es); err != nil {
			r.log.WithError(err).Error("append of the primary's entries failed")
			r.setProblem("append", "cannot append the primary's entries: "+err.Error())
			return fmt.Errorf("append: %w", err)
		}
		if !appended {
			r.setProblem("append", "")
			appended = true
		}
		if err := conn.Send(wire.Frame{Type: wire.TAck, Epoch: epoch, Payload: wire.EncodeAck(es[len(es)-1].Rev)}); err != nil {
			return err
		}
	}
}

// read decodes the primary's frames for stream.
func (f *follower) read(ctx context.Context, conn *wire.Conn, epoch uint64, batches chan<- []checkpoint.Entry, ack func() error) error {
	r := f.r
	var prev uint64
	for {
		conn.SetReadDeadline(time.Now().Add(streamSilence))
		fr, err := conn.Recv()
		if err != nil {
			if wire.IsFrameError(err) {
				r.log.WithError(err).Warn("replication connection dropped")
			}
			return err
		}
		if fr.Epoch != epoch {
			err := &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("a %s frame of epoch %d on a stream of epoch %d", fr.Type, fr.Epoch, epoch)}
			r.log.WithError(err).Warn("replication connection dropped")
			return err
		}
		switch fr.Type {
		case wire.TEntries:
			es, err := wire.DecodeEntries(fr.Payload)
			if err == nil && es[len(es)-1].Epoch > epoch {
				err = fmt.Errorf("entry of epoch %d from a primary of epoch %d", es[len(es)-1].Epoch, epoch)
			}
			if err == nil && prev != 0 && es[0].Rev != prev+1 {
				err = fmt.Errorf("entries from revision %d after %d", es[0].Rev, prev)
			}
			if err != nil {
				err = &wire.FrameError{Peer: conn.RemoteAddr(), Reason: err.Error()}
				r.log.WithError(err).Warn("replication connection dropped")
				return err
			}
			prev = es[len(es)-1].Rev
			select {
			case batches <- es:
			case <-ctx.Done():
				return ctx.Err()
			}
		case wire.THeartbeat:
			if err := ack(); err != nil {
				return err
			}
		case wire.TState:
			var s wire.State
			if err := wire.DecodeJSON(fr, &s); err != nil {
				return err
			}
			r.mu.Lock()
			r.caughtUp = r.caughtUp || s.CaughtUp
			// The primary ends the connection when the standby leaves
			// the set: sync holds until then.
			r.isSync = r.isSync || s.Sync
			r.mu.Unlock()
		case wire.TError:
			return fmt.Errorf("the primary ended the stream: %q", clipBytes(fr.Payload))
		default:
			err := &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("unexpected %s frame in the stream", fr.Type)}
			r.log.WithError(err).Warn("replication connection dropped")
			return err
		}
	}
}

// receiveSnapshot rebuilds the store from the primary's snapshot. The
// store verifies the whole stream before it replaces anything: a
// connection lost midway leaves the old state.
func (f *follower) receiveSnapshot(conn *wire.Conn, epoch uint64) error {
	r, st := f.r, f.r.st
	conn.SetReadDeadline(time.Now().Add(streamSilence))
	fr, err := conn.Recv()
	if err != nil {
		return err
	}
	if fr.Type != wire.TSnapshotBegin || fr.Epoch != epoch {
		return &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("a %s frame where a snapshot was expected", fr.Type)}
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		defer func() {
			r.mu.Lock()
			r.newHistoryLocked()
			r.mu.Unlock()
		}()
		err := st.Restore(pr)
		pr.CloseWithError(errors.New("restore ended"))
		done <- err
	}()
	fail := func(err error) error {
		pw.CloseWithError(err)
		<-done
		return err
	}
	var n int64
	for {
		conn.SetReadDeadline(time.Now().Add(streamSilence))
		fr, err := conn.Recv()
		if err != nil {
			return fail(fmt.Errorf("snapshot cut after %d bytes: %w", n, err))
		}
		if fr.Epoch != epoch {
			return fail(&wire.FrameError{Peer: conn.RemoteAddr(), Reason: "snapshot frame of another epoch"})
		}
		switch fr.Type {
		case wire.TSnapshotChunk:
			if _, err := pw.Write(fr.Payload); err != nil {
				// Restore gave up (its error says why): done holds it.
				return fmt.Errorf("restore refused the snapshot after %d bytes: %w", n, <-done)
			}
			n += int64(len(fr.Payload))
		case wire.TSnapshotEnd:
			var end wire.SnapshotBegin
			if err := wire.DecodeJSON(fr, &end); err != nil {
				return fail(err)
			}
			pw.Close()
			if err := <-done; err != nil {
				return fmt.Errorf("restore of a %d-byte snapshot: %w", n, err)
			}
			if got := st.Position(); got != end.Position {
				return fmt.Errorf("snapshot restored at %s, announced %s", got, end.Position)
			}
			r.log.Infof("rebuilt from the primary's snapshot at %s (%d bytes)", end.Position, n)
			return nil
		case wire.TError:
			return fail(fmt.Errorf("the primary ended the snapshot: %q", clipBytes(fr.Payload)))
		default:
			return fail(&wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("a %s frame inside a snapshot", fr.Type)})
		}
	}
}

func clipBytes(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
