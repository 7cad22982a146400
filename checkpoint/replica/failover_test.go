package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// writers write sequential values to their own keys through whichever
// replica is primary, recording every acknowledged write.
type writers struct {
	c    *cluster
	a    *acked
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	prim string
	// round's lowest and highest acknowledged revision
	lo, hi uint64
}

func (w *writers) start(n int, round int) {
	w.stop = make(chan struct{})
	w.lo, w.hi = 0, 0
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			var last uint64
			for j := 0; ; j++ {
				select {
				case <-w.stop:
					return
				default:
				}
				w.mu.Lock()
				r := w.c.r(w.prim)
				w.mu.Unlock()
				if r == nil {
					time.Sleep(time.Millisecond)
					continue
				}
				key, val := fmt.Sprintf("w/%d", i), fmt.Sprintf("%d-%d", round, j)
				rev, err := put(r, key, val)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				if rev <= last {
					w.c.t.Errorf("writer %d: revision %d acknowledged after %d", i, rev, last)
				}
				last = rev
				w.a.mu.Lock()
				w.a.revs[rev] = kv{key, val}
				w.a.mu.Unlock()
				w.mu.Lock()
				if w.lo == 0 || rev < w.lo {
					w.lo = rev
				}
				w.hi = max(w.hi, rev)
				w.mu.Unlock()
			}
		}()
	}
}

func (w *writers) halt() {
	close(w.stop)
	w.wg.Wait()
}

// elect does what Pacemaker and the agent do after a failure: promote a
// running replica marked sync (any, when no node has a mark), the
// freshest of them (a promote that finds a fresher peer fails, and that
// peer is tried). A fresher peer marked stale holds nothing
// acknowledged that the sync one lacks: the agent names the peers the
// marks make unpromotable in the request's Ignore.
func (c *cluster) elect(rng *rand.Rand) string {
	c.t.Helper()
	var cands []string
	anyMark := false
	for _, n := range c.names {
		if c.marks.mark(n) != "" {
			anyMark = true
		}
	}
	for _, n := range c.names {
		if c.r(n) != nil && (!anyMark || c.marks.mark(n) == checkpoint.MarkSync) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		c.t.Fatalf("no running replica may be promoted (marks %v)", c.marks.marks)
	}
	var ignore []string
	for _, n := range c.names {
		if anyMark && c.marks.mark(n) != checkpoint.MarkSync {
			ignore = append(ignore, n)
		}
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	for i := 0; i < 2*len(c.names); i++ {
		n := cands[0]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.r(n).Promote(ctx, checkpoint.PromoteRequest{Ignore: ignore})
		cancel()
		var fe *checkpoint.FresherPeerError
		switch {
		case err == nil:
			return n
		case errors.As(err, &fe) && !slices.Contains(ignore, fe.Peer):
			cands = []string{fe.Peer}
		case errors.As(err, &fe):
			c.t.Fatalf("promote of %s refused by %s, which it ignores: %v", n, fe.Peer, err)
		default:
			c.t.Fatalf("promote %s: %v", n, err)
		}
	}
	c.t.Fatal("no promote succeeded")
	return ""
}

// TestFailover: writes go on while primaries and standbys crash, are
// demoted and come back, in rounds; after each failover every replica
// that may be promoted holds every acknowledged write, revisions never
// go backwards, and in the end all replicas converge.
func TestFailover(t *testing.T) {
	for _, mode := range []string{checkpoint.SyncStrict, checkpoint.SyncAvailable} {
		t.Run(mode, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 13))
			names := []string{"node1", "node2", "node3"}
			c := newCluster(t, names, func(cfg *Config) {
				cfg.SyncMode = mode
				cfg.SyncTimeout = 200 * time.Millisecond
			})
			a := newAcked()
			w := &writers{c: c, a: a, prim: c.elect(rng)}
			var prevHi uint64
			for round := 0; round < 10; round++ {
				prim := w.prim
				var others []string
				for _, n := range names {
					if n != prim {
						others = append(others, n)
					}
				}
				w.start(4, round)
				time.Sleep(time.Duration(10+rng.IntN(70)) * time.Millisecond)
				action := rng.IntN(4)
				switch action {
				case 0: // the primary's process is killed
					c.crash(prim)
				case 1: // Pacemaker demotes it
					c.r(prim).Demote(context.Background())
				case 2: // a standby dies and comes back
					sb := others[rng.IntN(len(others))]
					c.crash(sb)
					time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
					c.start(sb)
				case 3: // the primary and a standby die together
					c.crash(others[rng.IntN(len(others))])
					c.crash(prim)
				}
				w.halt()
				t.Logf("round %d: primary %s, action %d, acknowledged %d-%d", round, prim, action, w.lo, w.hi)
				if w.lo != 0 && w.lo <= prevHi {
					t.Fatalf("round %d acknowledged revision %d, not after the last round's %d", round, w.lo, prevHi)
				}
				prevHi = max(prevHi, w.hi)
				c.check(a)
				if action != 2 {
					// The killed come back; someone is promoted.
					if action == 1 {
						if err := c.r(prim).Demote(context.Background()); err != nil {
							t.Fatal(err)
						}
					}
					for _, n := range names {
						if c.r(n) == nil {
							c.start(n)
						}
					}
					w.mu.Lock()
					w.prim = c.elect(rng)
					w.mu.Unlock()
					for _, n := range names {
						if n != w.prim {
							c.r(n).Follow(w.prim)
						}
					}
					c.check(a)
				}
				if mode == checkpoint.SyncStrict {
					// Writable again once a standby is in the set.
					var sbs []string
					for _, n := range names {
						if n != w.prim {
							sbs = append(sbs, n)
						}
					}
					c.waitSync(w.prim, sbs...)
				}
			}
			// Converge: every replica at the primary's position, with
			// the same items.
			var sbs []string
			for _, n := range names {
				if n != w.prim {
					sbs = append(sbs, n)
				}
			}
			c.waitSync(w.prim, sbs...)
			if _, err := put(c.r(w.prim), "last", "x"); err != nil {
				t.Fatal(err)
			}
			want := c.nodes[w.prim].st.Position()
			for _, n := range sbs {
				waitFor(t, n+" at the primary's position", func() bool { return c.nodes[n].st.Position() == want })
				pi, _, _, _ := c.nodes[w.prim].st.List("", "", 0)
				si, _, _, _ := c.nodes[n].st.List("", "", 0)
				if fmt.Sprint(pi) != fmt.Sprint(si) {
					t.Fatalf("%s's items differ from the primary's:\n%v\n%v", n, si, pi)
				}
			}
			c.check(a)
			t.Logf("%d writes acknowledged, final position %s", len(a.revs), want)
		})
	}
}
