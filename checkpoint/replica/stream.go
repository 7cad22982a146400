package replica

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// serveConn handles one inbound replication connection: the handshake,
// then a status request or a standby's follow request.
func (r *Replica) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	log := r.log.WithField("peer_addr", nc.RemoteAddr().String())
	hctx, cancel := context.WithTimeout(ctx, wire.HandshakeTimeout)
	conn, _, err := wire.ServerHandshake(hctx, nc, r.c.Node, r.c.Auth, r.st.Epoch(), r.isPeer)
	cancel()
	if err != nil {
		log.WithError(err).Warn("replication connection refused")
		return
	}
	log = log.WithField("peer", conn.Peer)
	conn.SetReadDeadline(time.Now().Add(streamSilence))
	f, err := conn.Recv()
	if err != nil {
		if wire.IsFrameError(err) {
			log.WithError(err).Warn("replication connection dropped")
		}
		return
	}
	conn.SetReadDeadline(time.Time{})
	switch f.Type {
	case wire.TStatusRequest:
		s := r.Status()
		conn.Send(wire.Frame{Type: wire.TStatus, Epoch: s.Epoch, Payload: wire.EncodeJSON(s)})
	case wire.TFollow:
		var fol wire.Follow
		if err := wire.DecodeJSON(f, &fol); err != nil {
			log.WithError(err).Warn("replication connection dropped")
			return
		}
		r.mu.Lock()
		p := r.prim
		r.mu.Unlock()
		if p == nil {
			refuse(conn, r.st.Epoch(), "not the primary")
			return
		}
		p.serveStandby(ctx, conn, fol)
	default:
		log.Warnf("replication connection dropped: a %s frame where a request was expected", f.Type)
	}
}

func (r *Replica) isPeer(node string) bool {
	_, ok := r.c.Peers[node]
	return ok
}

func refuse(c *wire.Conn, epoch uint64, why string) {
	c.Send(wire.Frame{Type: wire.TError, Epoch: epoch, Payload: []byte(why)})
}

// session is the primary's end of one standby's stream.
type session struct {
	p    *primary
	pe   *peer
	conn *wire.Conn

	// Guarded by p.mu. live: the pipeline pushes batches to queue (the
	// standby is at the store's end); otherwise the sender reads the
	// store from its cursor.
	live     bool
	liveFrom uint64
	queue    []*batch
	queued   int64
	told     bool // the standby was told it is caught up (or sync)

	sent atomic.Uint64 // the highest revision written to the standby

	wake      chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{}
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.conn.Close()
	})
}

// push queues b for a live standby (p.mu held).
func (s *session) push(b *batch) {
	if !s.live {
		return
	}
	if s.queued+int64(len(b.payload)) > liveQueueBytes {
		// The standby does not keep up: it reads the store instead,
		// from where it is, until it catches up again.
		s.live, s.queue, s.queued = false, nil, 0
		s.p.r.log.WithField("peer", s.pe.node).Warn("standby lags: its stream falls back to the store")
	} else {
		s.queue = append(s.queue, b)
		s.queued += int64(len(b.payload))
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// caughtUp says whether the standby acknowledged everything before its
// stream turned live (p.mu held).
func (s *session) caughtUp(acked uint64) bool { return s.live && acked+1 >= s.liveFrom }

func (s *session) sendState(st wire.State) {
	go s.conn.Send(wire.Frame{Type: wire.TState, Epoch: s.p.epoch, Payload: wire.EncodeJSON(st)})
}

// serveStandby streams the store to a standby that asked to follow.
func (p *primary) serveStandby(ctx context.Context, conn *wire.Conn, fol wire.Follow) {
	log := p.r.log.WithFields(map[string]any{"peer": conn.Peer, "peer_addr": conn.RemoteAddr()})
	if fol.Node != conn.Peer {
		log.Warnf("follow request for node %q on %s's connection: refused", fol.Node, conn.Peer)
		refuse(conn, p.epoch, "node name differs from the handshake's")
		return
	}
	if fol.Epoch > p.epoch || fol.Position.Epoch > p.epoch {
		// A standby follows a newer primary: this one is deposed and
		// cannot acknowledge anything that standby does not ack.
		log.Warnf("standby %s is at epoch %d, newer than this primary's %d: refused", conn.Peer, fol.Epoch, p.epoch)
		p.r.setProblem("epoch", fmt.Sprintf("standby %s follows epoch %d, newer than this primary's %d", conn.Peer, fol.Epoch, p.epoch))
		refuse(conn, p.epoch, fmt.Sprintf("stale epoch: this primary's is %d, yours %d", p.epoch, fol.Epoch))
		return
	}
	pe := p.peers[conn.Peer]
	mode := p.catchUpMode(fol)
	s := &session{p: p, pe: pe, conn: conn, wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	defer close(s.done)
	p.mu.Lock()
	if p.stopped != nil {
		p.mu.Unlock()
		refuse(conn, p.epoch, "not the primary")
		return
	}
	old := pe.sess
	pe.sess = s
	pe.sync, pe.joining = false, false
	// Only acks from this stream count from now on: a standby rebuilt
	// from a snapshot may have lost revisions it acked before (a batch
	// this primary failed to append and has not yet appended again).
	if mode == wire.ModeSnapshot {
		pe.acked = 0
	} else if pe.acked > fol.Position.Rev {
		pe.acked = fol.Position.Rev
	}
	p.mu.Unlock()
	if old != nil {
		old.close()
		<-old.done
	}
	defer func() {
		s.close()
		p.mu.Lock()
		if pe.sess == s {
			pe.sess, pe.sync, pe.joining = nil, false, false
		}
		p.mu.Unlock()
		p.kickAcker()
	}()
	pos := p.r.st.Position()
	log.Infof("standby %s follows from %s (%s catch-up, primary at %s)", conn.Peer, fol.Position, mode, pos)
	ok := wire.FollowOK{Epoch: p.epoch, Position: pos, Mode: mode}
	if err := conn.Send(wire.Frame{Type: wire.TFollowOK, Epoch: p.epoch, Payload: wire.EncodeJSON(ok)}); err != nil {
		return
	}
	cursor := fol.Position.Rev
	if mode == wire.ModeSnapshot {
		sp, err := p.sendSnapshot(conn)
		if err != nil {
			log.WithError(err).Warn("snapshot to the standby failed")
			return
		}
		cursor = sp.Rev
	}
	s.sent.Store(cursor)
	go s.receive()
	if err := s.send(cursor); err != nil && !errors.Is(err, errSessionClosed) {
		log.WithError(err).Warn("stream to the standby ended")
	}
}

// catchUpMode decides whether the standby's history is a prefix of this
// one (entries follow) or not (a snapshot rebuilds it): design13's
// divergence rule, with the entry at the standby's last revision read
// back to confirm its epoch. Anything that cannot be confirmed (entries
// no longer retained) takes a snapshot.
func (p *primary) catchUpMode(fol wire.Follow) string {
	st := p.r.st
	pos := fol.Position
	if pos.Rev == 0 {
		if st.Oldest() <= 1 {
			return wire.ModeEntries
		}
		return wire.ModeSnapshot
	}
	start, ok := st.EpochStart(pos.Epoch)
	if !ok || start != fol.EpochStart {
		return wire.ModeSnapshot
	}
	es, err := st.Entries(pos.Rev-1, 1, 1<<62)
	if err != nil || len(es) == 0 || es[0].Rev != pos.Rev || es[0].Epoch != pos.Epoch {
		return wire.ModeSnapshot
	}
	return wire.ModeEntries
}

var errSessionClosed = errors.New("session closed")

// frameWriter cuts what the store's Snapshot writes into chunk frames.
type frameWriter struct {
	conn  *wire.Conn
	epoch uint64
}

func (w *frameWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c := min(len(b), snapshotChunk)
		if err := w.conn.Send(wire.Frame{Type: wire.TSnapshotChunk, Epoch: w.epoch, Payload: b[:c]}); err != nil {
			return n, err
		}
		n += c
		b = b[c:]
	}
	return n, nil
}

func (p *primary) sendSnapshot(conn *wire.Conn) (checkpoint.Position, error) {
	if err := conn.Send(wire.Frame{Type: wire.TSnapshotBegin, Epoch: p.epoch}); err != nil {
		return checkpoint.Position{}, err
	}
	bw := bufio.NewWriterSize(&frameWriter{conn: conn, epoch: p.epoch}, snapshotChunk)
	sp, err := p.r.st.Snapshot(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		refuse(conn, p.epoch, "snapshot failed")
		return sp, fmt.Errorf("snapshot: %w", err)
	}
	end := wire.SnapshotBegin{Position: sp}
	return sp, conn.Send(wire.Frame{Type: wire.TSnapshotEnd, Epoch: p.epoch, Payload: wire.EncodeJSON(end)})
}

// send streams entries after cursor: from the store while the standby
// is behind, then the batches the pipeline pushes (sent before they are
// durable here).
func (s *session) send(cursor uint64) error {
	p, st := s.p, s.p.r.st
	hb := time.NewTicker(heartbeatEvery)
	defer hb.Stop()
	heartbeat := func() error {
		return s.conn.Send(wire.Frame{Type: wire.THeartbeat, Epoch: p.epoch})
	}
	for {
		select {
		case <-s.closed:
			return errSessionClosed
		default:
		}
		p.mu.Lock()
		if s.live {
			qs := s.queue
			s.queue, s.queued = nil, 0
			p.mu.Unlock()
			if len(qs) == 0 {
				select {
				case <-s.closed:
					return errSessionClosed
				case <-s.wake:
				case <-hb.C:
					if err := heartbeat(); err != nil {
						return err
					}
				}
				continue
			}
			fs := make([]wire.Frame, 0, len(qs))
			for _, b := range qs {
				if b.last <= cursor {
					continue
				}
				if b.first != cursor+1 {
					return fmt.Errorf("stream out of step: batch %d-%d after revision %d", b.first, b.last, cursor)
				}
				fs = append(fs, wire.Frame{Type: wire.TEntries, Epoch: p.epoch, Payload: b.payload})
				cursor = b.last
			}
			s.sent.Store(cursor)
			if err := s.conn.SendBatch(fs); err != nil {
				return err
			}
			continue
		}
		p.mu.Unlock()
		changed := st.Changed()
		es, err := st.Entries(cursor, 4096, p.r.c.MaxBatchBytes)
		if err != nil {
			var ce *checkpoint.CompactedError
			if errors.As(err, &ce) {
				// Fell behind what the store retains: it reconnects and
				// is rebuilt from a snapshot.
				return fmt.Errorf("the standby fell behind the retained entries: %w", err)
			}
			return fmt.Errorf("read entries after %d: %w", cursor, err)
		}
		if len(es) > 0 {
			if es[0].Rev != cursor+1 {
				return fmt.Errorf("store gave revision %d after %d", es[0].Rev, cursor)
			}
			cursor = es[len(es)-1].Rev
			s.sent.Store(cursor)
			if err := s.conn.Send(wire.Frame{Type: wire.TEntries, Epoch: p.epoch, Payload: wire.AppendEntries(nil, es)}); err != nil {
				return err
			}
			continue
		}
		p.mu.Lock()
		pos := st.Position().Rev
		if cursor == pos {
			s.live, s.liveFrom = true, pos+1
			if b := p.inflight; b != nil && b.first == pos+1 {
				s.queue, s.queued = []*batch{b}, int64(len(b.payload))
			}
			p.maybeJoinLocked(s.pe, s)
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		if cursor < pos {
			continue
		}
		select {
		case <-s.closed:
			return errSessionClosed
		case <-changed:
		case <-hb.C:
			if err := heartbeat(); err != nil {
				return err
			}
		}
	}
}

// receive reads the standby's acks.
func (s *session) receive() {
	p := s.p
	log := p.r.log.WithFields(map[string]any{"peer": s.pe.node, "peer_addr": s.conn.RemoteAddr()})
	defer s.close()
	for {
		s.conn.SetReadDeadline(time.Now().Add(streamSilence))
		f, err := s.conn.Recv()
		if err != nil {
			select {
			case <-s.closed:
			default:
				if wire.IsFrameError(err) {
					log.WithError(err).Warn("replication connection dropped")
				} else {
					log.WithError(err).Info("standby connection ended")
				}
			}
			return
		}
		if f.Epoch != p.epoch {
			log.Warnf("replication connection dropped: a %s frame of epoch %d on a stream of epoch %d", f.Type, f.Epoch, p.epoch)
			return
		}
		switch f.Type {
		case wire.TAck:
			rev, err := wire.DecodeAck(f)
			if err == nil && rev > s.sent.Load() {
				err = fmt.Errorf("ack of revision %d, only %d sent", rev, s.sent.Load())
			}
			if err != nil {
				log.WithError(err).Warn("replication connection dropped: a lying ack")
				return
			}
			p.mu.Lock()
			if p.stopped == nil && s.pe.sess == s {
				if rev > s.pe.acked {
					s.pe.acked = rev
				}
				p.maybeJoinLocked(s.pe, s)
			}
			p.mu.Unlock()
			p.kickAcker()
		case wire.THeartbeat:
		default:
			log.Warnf("replication connection dropped: unexpected %s frame from a standby", f.Type)
			return
		}
	}
}
