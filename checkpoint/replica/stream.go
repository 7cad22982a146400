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
	case wire.TFetch:
		var fol wire.Follow
		if err := wire.DecodeJSON(f, &fol); err != nil {
			log.WithError(err).Warn("replication connection dropped")
			return
		}
		r.serveFetch(conn, fol)
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

	// Guarded by p.mu. live: the pipeline sends each batch itself (the
	// standby is at the store's end); before, the sender reads the
	// store from its cursor.
	live     bool
	liveFrom uint64
	told     bool // the standby was told it is caught up (or sync)

	// order keeps the entries frames in revision order where the sender
	// hands over to the pipeline.
	order sync.Mutex

	sent atomic.Uint64 // the highest revision written to the standby

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

// sendBatch sends b to a live standby. A standby that does not read
// within writeTimeout is dropped (it reconnects and catches up).
func (s *session) sendBatch(b *batch) {
	s.order.Lock()
	defer s.order.Unlock()
	s.sent.Store(b.last) // before: its ack may come at once
	if err := s.sendEntries(b.payload); err != nil {
		s.p.r.log.WithField("peer", s.pe.node).WithError(err).Warn("standby dropped: it does not take the stream")
		s.close()
	}
}

func (s *session) sendEntries(payload []byte) error {
	return send(s.conn, wire.Frame{Type: wire.TEntries, Epoch: s.p.epoch, Payload: payload})
}

// send writes one frame to a standby within writeTimeout. Every write on
// the primary's side of a stream goes through it: a deadline left by an
// earlier write must never fail a later one.
func send(c *wire.Conn, f wire.Frame) error {
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Send(f)
}

// caughtUp says whether the standby acknowledged everything before its
// stream turned live (p.mu held).
func (s *session) caughtUp(acked uint64) bool { return s.live && acked+1 >= s.liveFrom }

func (s *session) sendState(st wire.State) {
	go send(s.conn, wire.Frame{Type: wire.TState, Epoch: s.p.epoch, Payload: wire.EncodeJSON(st)})
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
	mode := p.r.catchUpMode(fol)
	s := &session{p: p, pe: pe, conn: conn, closed: make(chan struct{}), done: make(chan struct{})}
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
	if err := send(conn, wire.Frame{Type: wire.TFollowOK, Epoch: p.epoch, Payload: wire.EncodeJSON(ok)}); err != nil {
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
// replica's (entries follow) or not (a snapshot rebuilds it): design13's
// divergence rule, with the entry at the standby's last revision read
// back to confirm its epoch. Anything that cannot be confirmed (entries
// no longer retained) takes a snapshot.
func (r *Replica) catchUpMode(fol wire.Follow) string {
	st := r.st
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
		if err := send(w.conn, wire.Frame{Type: wire.TSnapshotChunk, Epoch: w.epoch, Payload: b[:c]}); err != nil {
			return n, err
		}
		n += c
		b = b[c:]
	}
	return n, nil
}

func (p *primary) sendSnapshot(conn *wire.Conn) (checkpoint.Position, error) {
	if err := send(conn, wire.Frame{Type: wire.TSnapshotBegin, Epoch: p.epoch}); err != nil {
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
	return sp, send(conn, wire.Frame{Type: wire.TSnapshotEnd, Epoch: p.epoch, Payload: wire.EncodeJSON(end)})
}

// send streams entries after cursor: from the store while the standby
// is behind, then the batches the pipeline pushes (sent before they are
// durable here).
func (s *session) send(cursor uint64) error {
	p, st := s.p, s.p.r.st
	hb := time.NewTicker(heartbeatEvery)
	defer hb.Stop()
	heartbeat := func() error {
		return send(s.conn, wire.Frame{Type: wire.THeartbeat, Epoch: p.epoch})
	}
	for {
		select {
		case <-s.closed:
			return errSessionClosed
		default:
		}
		p.mu.Lock()
		live := s.live
		p.mu.Unlock()
		if live {
			// The pipeline sends the entries; this keeps the stream
			// alive while it is idle.
			select {
			case <-s.closed:
				return errSessionClosed
			case <-hb.C:
				if err := heartbeat(); err != nil {
					return err
				}
			}
			continue
		}
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
			if err := s.sendEntries(wire.AppendEntries(nil, es)); err != nil {
				return err
			}
			continue
		}
		p.mu.Lock()
		pos := st.Position().Rev
		if cursor == pos {
			s.live, s.liveFrom = true, pos+1
			// The batch the pipeline sent before this stream was live
			// (not yet in the store) goes first: order is taken here,
			// under p.mu, so the pipeline's next batch waits for it.
			b := p.inflight
			if b != nil && b.first != pos+1 {
				b = nil
			}
			if b != nil {
				s.order.Lock()
			}
			p.maybeJoinLocked(s.pe, s)
			p.mu.Unlock()
			if b != nil {
				s.sent.Store(b.last)
				err := s.sendEntries(b.payload)
				s.order.Unlock()
				if err != nil {
					return err
				}
			}
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
