package replica

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// fetchTimeout bounds a promote's fetch from a fresher peer; past it the
// promote hands over to that peer instead (FresherPeerError).
const fetchTimeout = 10 * time.Second

// Why a promote fetches at all: when the primary dies, its standbys may
// stand a batch or two apart (one acked what the other had not yet
// received), and Pacemaker, which sees equal scores, may pick the one
// behind. Refusing that promote, as PAF does, costs a failed action, a
// second transition and a fail count; with migration-threshold=1 the
// refused node is banned, and a strict store left with one replica then
// refuses every write. Taking the missing entries from the fresher peer
// (whose history extends this one's) gives the same outcome, the
// freshest state promoted, without the failure. Only when that cannot be
// done does the promote refuse.

// fetchFresher copies from node the entries after this replica's
// position, up to node's position when it answered. node's history must
// extend this replica's (else it refuses: only a snapshot, which would
// replace this history, could bring it level).
func (r *Replica) fetchFresher(ctx context.Context, node string) error {
	st := r.st
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	conn, err := wire.Dial(ctx, r.c.Peers[node], r.c.Node, r.c.Auth, st.Epoch())
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if conn.Peer != node {
		return fmt.Errorf("%s answers as %q", node, conn.Peer)
	}
	own := st.Position()
	start, _ := st.EpochStart(own.Epoch)
	ask := wire.Follow{Node: r.c.Node, Position: own, Epoch: st.Epoch(), EpochStart: start}
	if err := conn.Send(wire.Frame{Type: wire.TFetch, Epoch: st.Epoch(), Payload: wire.EncodeJSON(ask)}); err != nil {
		return err
	}
	fr, err := conn.Recv()
	if err != nil {
		return err
	}
	switch fr.Type {
	case wire.TError:
		return fmt.Errorf("%s refused: %q", node, clipBytes(fr.Payload))
	case wire.TFollowOK:
	default:
		return &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("a %s frame where follow-ok was expected", fr.Type)}
	}
	var ok wire.FollowOK
	if err := wire.DecodeJSON(fr, &ok); err != nil {
		return err
	}
	if fr.Epoch != ok.Epoch || ok.Position.Epoch > ok.Epoch || ok.Mode != wire.ModeEntries {
		return &wire.FrameError{Peer: conn.RemoteAddr(), Reason: "fetch answered with disagreeing epochs or without entries"}
	}
	if ok.Position.Compare(own) <= 0 {
		return nil // no longer fresher
	}
	// Entries of the peer's epoch may only be appended once this store
	// knows the epoch (as a standby persists its primary's first).
	if ok.Epoch > st.Epoch() {
		if err := st.SetEpoch(ok.Epoch); err != nil {
			return fmt.Errorf("persist epoch %d: %w", ok.Epoch, err)
		}
	}
	for st.Position().Rev < ok.Position.Rev {
		fr, err := conn.Recv()
		if err != nil {
			return fmt.Errorf("fetch cut at %s of %s: %w", st.Position(), ok.Position, err)
		}
		if fr.Type == wire.TError {
			return fmt.Errorf("%s ended the fetch at %s: %q", node, st.Position(), clipBytes(fr.Payload))
		}
		if fr.Type != wire.TEntries || fr.Epoch != ok.Epoch {
			return &wire.FrameError{Peer: conn.RemoteAddr(), Reason: fmt.Sprintf("a %s frame of epoch %d in a fetch of epoch %d", fr.Type, fr.Epoch, ok.Epoch)}
		}
		es, err := wire.DecodeEntries(fr.Payload)
		if err == nil {
			last := es[len(es)-1]
			switch {
			case es[0].Rev != st.Position().Rev+1:
				err = fmt.Errorf("entries from revision %d after %d", es[0].Rev, st.Position().Rev)
			case last.Rev > ok.Position.Rev || last.Epoch > ok.Epoch:
				err = fmt.Errorf("entry %s past the announced %s", last.Position(), ok.Position)
			}
		}
		if err != nil {
			return &wire.FrameError{Peer: conn.RemoteAddr(), Reason: err.Error()}
		}
		if err := st.Append(es); err != nil {
			return fmt.Errorf("append the fetched entries: %w", err)
		}
	}
	if got := st.Position(); got != ok.Position {
		return fmt.Errorf("fetched up to %s, %s announced %s", got, node, ok.Position)
	}
	return nil
}

// serveFetch answers a peer's TFetch (see fetchFresher) from this
// replica's store, whatever its role: the entries after the peer's
// position up to this store's position now, if this history extends the
// peer's.
func (r *Replica) serveFetch(conn *wire.Conn, ask wire.Follow) {
	st := r.st
	log := r.log.WithFields(map[string]any{"peer": conn.Peer, "peer_addr": conn.RemoteAddr()})
	if ask.Node != conn.Peer {
		log.Warnf("fetch for node %q on %s's connection: refused", ask.Node, conn.Peer)
		refuse(conn, st.Epoch(), "node name differs from the handshake's")
		return
	}
	_, _, hist := r.visible()
	epoch, pos := st.Epoch(), st.Position()
	if mode := r.catchUpMode(ask); mode != wire.ModeEntries && ask.Position.Less(pos) {
		log.Infof("fetch from %s refused: its history is not a prefix of this one's", ask.Position)
		refuse(conn, epoch, fmt.Sprintf("histories differ or entries after %s are no longer retained: only a snapshot could bring it level", ask.Position))
		return
	}
	ok := wire.FollowOK{Epoch: epoch, Position: pos, Mode: wire.ModeEntries}
	if err := send(conn, wire.Frame{Type: wire.TFollowOK, Epoch: epoch, Payload: wire.EncodeJSON(ok)}); err != nil {
		return
	}
	if !ask.Position.Less(pos) {
		return // not fresher: the asker stops at the follow-ok
	}
	cursor := ask.Position.Rev
	for cursor < pos.Rev {
		es, err := st.Entries(cursor, 4096, r.c.MaxBatchBytes)
		if err == nil && len(es) == 0 {
			err = fmt.Errorf("no entry after %d", cursor)
		}
		if _, _, h := r.visible(); err == nil && h != hist {
			err = fmt.Errorf("this replica's history changed (a snapshot restored) during the fetch")
		}
		if err != nil {
			log.WithError(err).Warn("fetch ended")
			refuse(conn, epoch, err.Error())
			return
		}
		for len(es) > 0 && es[len(es)-1].Rev > pos.Rev {
			es = es[:len(es)-1]
		}
		if err := send(conn, wire.Frame{Type: wire.TEntries, Epoch: epoch, Payload: wire.AppendEntries(nil, es)}); err != nil {
			return
		}
		cursor = es[len(es)-1].Rev
	}
	log.Infof("fetch: sent revisions %d-%d to %s, which is being promoted", ask.Position.Rev+1, pos.Rev, conn.Peer)
}

// freshest is the peer of statuses fresher than own, and freshest of
// them, that promote may take entries from ("" if none).
func freshest(statuses map[string]checkpoint.Status, own checkpoint.Position, ignore []string) string {
	best, at := "", own
	for n, s := range statuses {
		if s.Position.Compare(at) > 0 && !slices.Contains(ignore, n) {
			best, at = n, s.Position
		}
	}
	return best
}
