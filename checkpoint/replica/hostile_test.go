package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
)

// TestDivergedPrimaryRebuilt: an old primary that wrote an entry never
// acknowledged (its standby died first, the stale mark never completed)
// is rebuilt from the new primary's snapshot and converges; the
// unacknowledged write is gone, every acknowledged one is there.
func TestDivergedPrimaryRebuilt(t *testing.T) {
	hc := newClusterWith(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncAvailable }, hooked)
	c := hc.c
	c.promote("node1")
	c.waitSync("node1", "node2")
	a := newAcked()
	for i := 0; i < 5; i++ {
		rev, err := put(c.r("node1"), "k", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		a.add(t, rev, "k", fmt.Sprint(i))
	}
	c.marks.setBlock("node2", make(chan struct{})) // the stale mark never completes
	hc.hooks["node2"].hold()
	res := asyncPut(c.r("node1"), "lost", "never acknowledged")
	<-hc.hooks["node2"].entered
	hc.hooks["node2"].release(errors.New("killed"))
	c.crash("node2")
	<-c.marks.blocked
	c.crash("node1")
	if r := <-res; r.err == nil {
		t.Fatalf("a write was acknowledged that only the primary held (rev %d)", r.rev)
	}
	c.marks.setBlock("node2", nil)
	hc.hooks = hooked(c)
	c.start("node2")
	c.promote("node2") // node1 is down: skipped
	rev, err := put(c.r("node2"), "after", "x")
	if err != nil {
		t.Fatal(err)
	}
	a.add(t, rev, "after", "x")
	c.start("node1")
	c.r("node1").Follow("node2")
	c.waitSync("node2", "node1")
	if _, _, err := c.r("node1").Get(context.Background(), "lost"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("the unacknowledged write survived on the rebuilt replica: %v", err)
	}
	if p, s := c.nodes["node2"].st.Position(), c.nodes["node1"].st.Position(); p != s {
		t.Fatalf("positions differ after the rebuild: primary %s, rebuilt %s", p, s)
	}
	c.check(a)
	if !strings.Contains(c.logs.String(), "snapshot") {
		t.Fatal("the diverged replica was not rebuilt from a snapshot")
	}
}

// TestStaleEpochRefused: a standby that has seen a newer epoch refuses
// an older primary, and that primary cannot count it.
func TestStaleEpochRefused(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2"}, nil)
	c.promote("node1")
	c.waitSync("node1", "node2")
	c.crash("node2")
	st := openTestStore(t, c.nodes["node2"].dir)
	if err := st.SetEpoch(5); err != nil {
		t.Fatal(err)
	}
	st.Close()
	c.start("node2")
	c.r("node2").Follow("node1")
	waitFor(t, "the old primary to see the newer epoch", func() bool {
		return strings.Contains(strings.Join(c.r("node1").Status().Problems, " "), "epoch 5")
	})
	if _, err := put(c.r("node1"), "k", "v"); !isUnavailable(err) {
		t.Fatalf("strict write on a primary whose only standby refuses it: %v", err)
	}
	if s := c.r("node2").Status(); s.Connected || s.Sync {
		t.Fatalf("the standby follows an older primary: %+v", s)
	}
	if !strings.Contains(c.logs.String(), "refused") {
		t.Fatal("the refusal was not logged")
	}
}

// TestWrongKey: a replica with another key is refused, and both sides
// say so (the dialer as a problem, the listener in its log with the
// address).
func TestWrongKey(t *testing.T) {
	other, _ := wire.DeriveKey([]byte("not the cluster's key, 32 bytes!"))
	c := newCluster(t, []string{"node1", "node2"}, func(cfg *Config) {
		if cfg.Node == "node2" {
			cfg.Auth = wire.Auth{Key: other}
		}
	})
	c.promote("node1")
	c.r("node2").Follow("node1")
	waitFor(t, "the refusal in node2's problems", func() bool {
		return strings.Contains(strings.Join(c.r("node2").Status().Problems, " "), "refused")
	})
	logs := c.logs.String()
	if !strings.Contains(logs, "replication connection refused") || !strings.Contains(logs, `peer_addr="127.0.0.1`) ||
		!strings.Contains(logs, "does not hold our key") {
		t.Fatalf("the listener did not log the refusal with the address:\n%s", logs)
	}
	if s := c.r("node1").Status(); s.Standbys[0].Sync || s.Writable {
		t.Fatalf("an unauthenticated standby counts: %+v", s)
	}
}

// fakePeer is a hostile replica at a node's address, speaking the real
// handshake with the cluster's key and then whatever the test says.
type fakePeer struct {
	ln    net.Listener
	conns chan *wire.Conn
	first chan wire.Frame
}

func newFakePeer(t *testing.T, c *cluster, name string) *fakePeer {
	t.Helper()
	ln := c.takeListener(name)
	f := &fakePeer{ln: ln, conns: make(chan *wire.Conn, 16), first: make(chan wire.Frame, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				conn, _, err := wire.ServerHandshake(context.Background(), nc, name, c.auth, 3, nil)
				if err != nil {
					nc.Close()
					return
				}
				fr, err := conn.Recv()
				if err != nil {
					conn.Close()
					return
				}
				if fr.Type == wire.TStatusRequest {
					s := checkpoint.Status{Node: name, Role: checkpoint.RolePrimary, Epoch: 3, Position: checkpoint.Position{Epoch: 3, Rev: 1}}
					conn.Send(wire.Frame{Type: wire.TStatus, Epoch: 3, Payload: wire.EncodeJSON(s)})
					conn.Close()
					return
				}
				t.Cleanup(func() { conn.Close() })
				f.first <- fr
				f.conns <- conn
			}()
		}
	}()
	return f
}

// accept waits for a standby's follow request.
func (f *fakePeer) accept(t *testing.T) (*wire.Conn, wire.Follow) {
	t.Helper()
	select {
	case fr := <-f.first:
		conn := <-f.conns
		var fol wire.Follow
		if fr.Type != wire.TFollow || wire.DecodeJSON(fr, &fol) != nil {
			t.Fatalf("expected a follow request, got %s", fr.Type)
		}
		return conn, fol
	case <-time.After(15 * time.Second):
		t.Fatal("the standby did not connect")
	}
	return nil, wire.Follow{}
}

// TestLyingPrimary: a "primary" that sends garbage, gaps, frames of
// another epoch, or stops mid-snapshot: the standby drops the
// connection, logs it, keeps its state intact and reconnects.
func TestLyingPrimary(t *testing.T) {
	entry := func(rev, epoch uint64) []byte {
		return wire.AppendEntries(nil, []checkpoint.Entry{{Rev: rev, Epoch: epoch, Op: checkpoint.OpPut, Key: "evil", Value: []byte("x")}})
	}
	for _, tc := range []struct {
		name string
		mode string
		lie  func(conn *wire.Conn, fol wire.Follow)
		want string
	}{
		{"garbage", wire.ModeEntries, func(conn *wire.Conn, fol wire.Follow) {
			conn.Send(wire.Frame{Type: wire.THeartbeat, Epoch: 3})
			rawWrite(conn, []byte("GET / HTTP/1.1\r\nHost: node1\r\nAccept: */*\r\n\r\n"))
		}, "magic"},
		{"gap", wire.ModeEntries, func(conn *wire.Conn, fol wire.Follow) {
			conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 3, Payload: entry(fol.Position.Rev+5, 3)})
		}, "expected"},
		{"frame of another epoch", wire.ModeEntries, func(conn *wire.Conn, fol wire.Follow) {
			conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 2, Payload: entry(fol.Position.Rev+1, 2)})
		}, "epoch 2 on a stream of epoch 3"},
		{"entry newer than its primary", wire.ModeEntries, func(conn *wire.Conn, fol wire.Follow) {
			conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 3, Payload: entry(fol.Position.Rev+1, 4)})
		}, "entry of epoch 4"},
		{"closes mid-snapshot", wire.ModeSnapshot, func(conn *wire.Conn, fol wire.Follow) {
			conn.Send(wire.Frame{Type: wire.TSnapshotBegin, Epoch: 3})
			conn.Send(wire.Frame{Type: wire.TSnapshotChunk, Epoch: 3, Payload: bytes.Repeat([]byte{7}, 5000)})
			conn.Close()
		}, "snapshot cut|restore refused the snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterStopped(t, []string{"node1", "node2"}, nil)
			fake := newFakePeer(t, c, "node1")
			c.start("node2")
			before := c.nodes["node2"].st.Position()
			conn, fol := fake.accept(t)
			conn.Send(wire.Frame{Type: wire.TFollowOK, Epoch: 3, Payload: wire.EncodeJSON(wire.FollowOK{Epoch: 3, Position: checkpoint.Position{Epoch: 3, Rev: 9}, Mode: tc.mode})})
			tc.lie(conn, fol)
			// Until the standby hangs up on the lie.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for i := 0; i < 1000; i++ {
				if _, err := conn.Recv(); err != nil {
					break
				}
			}
			conn.Close()
			// It comes back for more: a reconnect and a resync.
			conn2, fol2 := fake.accept(t)
			conn2.Close()
			if fol2.Position != before {
				t.Fatalf("the standby's state moved from %s to %s on lies", before, fol2.Position)
			}
			if _, _, err := c.r("node2").Get(context.Background(), "evil"); !errors.Is(err, checkpoint.ErrNotFound) {
				t.Fatalf("a lie was applied: %v", err)
			}
			said := false
			for _, w := range strings.Split(tc.want, "|") {
				said = said || strings.Contains(c.logs.String(), w)
			}
			if !said {
				t.Fatalf("the log does not say %q:\n%s", tc.want, c.logs.String())
			}
		})
	}
	t.Run("hangs mid-handshake", func(t *testing.T) {
		c := newClusterStopped(t, []string{"node1", "node2"}, nil)
		ln := c.takeListener("node1")
		defer ln.Close()
		accepted := make(chan net.Conn, 4)
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- nc // and say nothing
			}
		}()
		c.start("node2")
		c.r("node2").Follow("node1")
		nc := <-accepted
		defer nc.Close()
		done := make(chan struct{})
		go func() { c.crash("node2"); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a replica dialing a silent peer did not close")
		}
	})
}

func rawWrite(conn *wire.Conn, b []byte) { conn.RawConn().Write(b) }

// TestLyingStandby: a "standby" that claims a position this primary
// never wrote is rebuilt from a snapshot, and one that acknowledges
// what it was never sent is dropped without counting.
func TestLyingStandby(t *testing.T) {
	c := newClusterStopped(t, []string{"node1", "node2"}, func(cfg *Config) { cfg.SyncMode = checkpoint.SyncStrict })
	c.start("node1")
	c.promote("node1")
	dial := func(fol wire.Follow) (*wire.Conn, wire.FollowOK) {
		t.Helper()
		conn, err := wire.Dial(context.Background(), c.peers["node1"], "node2", c.auth, fol.Epoch)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.Send(wire.Frame{Type: wire.TFollow, Epoch: fol.Epoch, Payload: wire.EncodeJSON(fol)})
		fr, err := conn.Recv()
		if err != nil || fr.Type != wire.TFollowOK {
			t.Fatalf("follow: %v %v", fr.Type, err)
		}
		var ok wire.FollowOK
		wire.DecodeJSON(fr, &ok)
		return conn, ok
	}
	_, ok := dial(wire.Follow{Node: "node2", Position: checkpoint.Position{Epoch: 1, Rev: 1000}, Epoch: 1, EpochStart: 1})
	if ok.Mode != wire.ModeSnapshot {
		t.Fatalf("a standby claiming revision 1000 of a 1-entry history got %s", ok.Mode)
	}
	conn, ok := dial(wire.Follow{Node: "node2", Position: checkpoint.Position{}, Epoch: 1})
	if ok.Mode != wire.ModeEntries {
		t.Fatalf("an empty standby got %s", ok.Mode)
	}
	conn.Send(wire.Frame{Type: wire.TAck, Epoch: 1, Payload: wire.EncodeAck(50)})
	for i := 0; i < 100; i++ {
		if _, err := conn.Recv(); err != nil {
			break
		}
	}
	if s := c.r("node1").Status(); s.Standbys[0].Acked >= 50 || s.Standbys[0].Sync {
		t.Fatalf("a lying ack counted: %+v", s.Standbys[0])
	}
	if !strings.Contains(c.logs.String(), "lying ack") {
		t.Fatal("the lie was not logged")
	}
}

// TestOldPrimaryFenced: a primary that was never demoted (cut off, not
// yet fenced) cannot acknowledge a write once its standbys follow the
// newer epoch, and a standby nudged back to it refuses it.
func TestOldPrimaryFenced(t *testing.T) {
	c := newCluster(t, []string{"node1", "node2", "node3"}, nil)
	c.promote("node1")
	c.waitSync("node1", "node2", "node3")
	if _, err := put(c.r("node1"), "k", "v1"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.r("node2").Promote(ctx, checkpoint.PromoteRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	c.r("node3").Follow("node2")
	c.waitSync("node2", "node3")
	if _, err := put(c.r("node1"), "k", "zombie"); err == nil {
		t.Fatal("the old primary acknowledged a write after its standbys followed a newer epoch")
	}
	c.r("node3").Follow("node1")
	waitFor(t, "node3 to refuse the older primary", func() bool {
		return strings.Count(c.logs.String(), "stale epoch: this primary's is 1, yours 2") > 0
	})
	if _, err := put(c.r("node1"), "k", "zombie"); err == nil {
		t.Fatal("the old primary acknowledged a write")
	}
	waitFor(t, "node3 back with node2", func() bool { s := c.r("node3").Status(); return s.Primary == "node2" && s.Sync })
	if it, _, err := c.r("node3").Get(ctx, "k"); err != nil || string(it.Value) != "v1" {
		t.Fatalf("node3 holds %q, %v", it.Value, err)
	}
}

// silentPeer makes name's address accept connections and never answer
// (a peer whose process hangs), until the test ends.
func (c *cluster) silentPeer(name string) {
	ln := c.takeListener(name)
	c.t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, nc := range conns {
				nc.Close()
			}
		}()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc) // and say nothing
		}
	}()
}

// TestPromoteSilentPeer: a peer that accepts and never answers delays a
// promote by the bound at most, and is skipped and logged.
func TestPromoteSilentPeer(t *testing.T) {
	for _, absent := range []bool{false, true} {
		t.Run(fmt.Sprintf("absent=%v", absent), func(t *testing.T) {
			c := newClusterStopped(t, []string{"node1", "node2"}, nil)
			c.silentPeer("node2")
			c.start("node1")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req := checkpoint.PromoteRequest{}
			if absent {
				// The cluster says node2 is outside its membership: a
				// power loss. Asking it would only wait out the bound.
				req.Absent = []string{"node2"}
			}
			if _, err := c.r("node1").Promote(ctx, req); err != nil {
				t.Fatal(err)
			}
			logs := c.logs.String()
			switch {
			case !absent && !strings.Contains(logs, "peer unreachable: skipped"):
				t.Fatal("the silent peer was not logged")
			case absent && (strings.Contains(logs, "peer unreachable: skipped") || !strings.Contains(logs, "not asking node2: outside the cluster's membership")):
				// (The standby's search before the promote may have
				// connected: only the promote's question is logged.)
				t.Fatalf("an absent peer was asked, or not logged:\n%s", logs)
			}
		})
	}
}

// TestLyingFetchSource: a fresher peer that lies when a promote fetches
// from it (gaps, frames of another epoch, entries past what it
// announced, garbage) leaves the promoting replica's store as it was
// and the promote refused (the PAF fallback), never half-applied lies.
func TestLyingFetchSource(t *testing.T) {
	entries := func(epoch uint64, revs ...uint64) []byte {
		var es []checkpoint.Entry
		for _, r := range revs {
			es = append(es, checkpoint.Entry{Rev: r, Epoch: epoch, Op: checkpoint.OpPut, Key: "evil", Value: []byte("x")})
		}
		return wire.AppendEntries(nil, es)
	}
	for _, tc := range []struct {
		name string
		lie  func(conn *wire.Conn)
	}{
		{"gap", func(conn *wire.Conn) { conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 3, Payload: entries(3, 2)}) }},
		{"frame of another epoch", func(conn *wire.Conn) { conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 2, Payload: entries(2, 1)}) }},
		{"entries past the announced position", func(conn *wire.Conn) {
			conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 3, Payload: entries(3, 1, 2, 3)})
		}},
		{"entry newer than the announced epoch", func(conn *wire.Conn) { conn.Send(wire.Frame{Type: wire.TEntries, Epoch: 3, Payload: entries(4, 1)}) }},
		{"garbage", func(conn *wire.Conn) { rawWrite(conn, []byte("GET / HTTP/1.1\r\nHost: node1\r\n\r\n")) }},
		{"a snapshot instead", func(conn *wire.Conn) { conn.Send(wire.Frame{Type: wire.TSnapshotBegin, Epoch: 3}) }},
		{"closes", func(conn *wire.Conn) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterStopped(t, []string{"node1", "node2"}, nil)
			fake := newFakePeer(t, c, "node1") // says it is at 3:1
			c.start("node2")
			before := c.nodes["node2"].st.Position()
			r2 := c.r("node2")
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := r2.Promote(ctx, checkpoint.PromoteRequest{})
				done <- err
			}()
			// node2's follower may ask the fake "primary" to be followed
			// before the promote stops it: those requests are hung up on.
			deadline := time.After(15 * time.Second)
			for fetched := false; !fetched; {
				select {
				case fr := <-fake.first:
					conn := <-fake.conns
					if fr.Type != wire.TFetch {
						conn.Close()
						continue
					}
					fetched = true
					ok := wire.FollowOK{Epoch: 3, Position: checkpoint.Position{Epoch: 3, Rev: 2}, Mode: wire.ModeEntries}
					conn.Send(wire.Frame{Type: wire.TFollowOK, Epoch: 3, Payload: wire.EncodeJSON(ok)})
					tc.lie(conn)
					conn.Close()
				case <-deadline:
					t.Fatal("the promote did not fetch from the fresher peer")
				}
			}
			var fe *checkpoint.FresherPeerError
			if err := <-done; !errors.As(err, &fe) || fe.Peer != "node1" {
				t.Fatalf("promote after a lying fetch: %v, want node1 fresher", err)
			}
			if after := c.nodes["node2"].st.Position(); after != before {
				t.Fatalf("the store moved from %s to %s on lies", before, after)
			}
			if !strings.Contains(c.logs.String(), "cannot take the entries node1 holds") {
				t.Fatalf("the log does not say the fetch failed:\n%s", c.logs.String())
			}
		})
	}
}

// TestNudgeCutsSearch: a standby searching for the primary while a peer
// swallows the question (its node lost power) follows the primary it is
// told of at once (the post-promote notify), not once the search's bound
// ran out: that wait was added to every failover after a power loss.
func TestNudgeCutsSearch(t *testing.T) {
	old := searchTimeout
	searchTimeout = time.Minute // waitSync's bound is 15 s
	defer func() { searchTimeout = old }()
	c := newClusterStopped(t, []string{"node1", "node2", "node3"}, nil)
	c.silentPeer("node3")
	c.start("node1")
	c.start("node2")
	// node2 finds no primary: its search waits on node3.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.r("node1").Promote(ctx, checkpoint.PromoteRequest{Absent: []string{"node3"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	c.r("node2").Follow("node1")
	c.waitSync("node1", "node2")
	// Without the cut, node2 follows only once its question to node3
	// gives up: the handshake's own bound (wire.HandshakeTimeout, 5 s)
	// here, searchTimeout (2 s) against a host that is gone. Half that
	// bound leaves a wide margin for a loaded machine (this takes
	// milliseconds).
	if d := time.Since(t0); d > wire.HandshakeTimeout/2 {
		t.Fatalf("node2 followed the primary it was told of %s later: it waited for its search", d.Round(time.Millisecond))
	}
}
