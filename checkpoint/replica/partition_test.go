package replica

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// linkProxy stands between a standby and its primary: it passes bytes,
// or holds them (a black hole: connections stay open, nothing arrives),
// or cuts every connection and refuses new ones.
type linkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	mode   string // "pass", "hole", "cut"
	conns  []net.Conn
	wake   chan struct{}
}

func newLinkProxy(t *testing.T, target string) *linkProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, mode: "pass", wake: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); p.set("cut") })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.mode == "cut" {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.mu.Unlock()
			go p.serve(c)
		}
	}()
	return p
}

func (p *linkProxy) serve(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, u)
	p.mu.Unlock()
	go p.pipe(u, c)
	p.pipe(c, u)
}

// pipe copies src to dst in small pieces, holding them while the link
// is a black hole.
func (p *linkProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.Lock()
			mode, wake := p.mode, p.wake
			p.mu.Unlock()
			if mode == "cut" {
				return
			}
			if mode == "pass" {
				break
			}
			<-wake
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

func (p *linkProxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	close(p.wake)
	p.wake = make(chan struct{})
	if mode == "cut" {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestPartition: the link from the standby to the primary is cut or
// becomes a black hole (the nastiest: every write "succeeds", nothing
// arrives). Writes are acknowledged only after the stale mark
// (available) or refused (strict); once the link heals the standby
// catches up and counts again.
func TestPartition(t *testing.T) {
	for _, fault := range []string{"hole", "cut"} {
		for _, mode := range []string{checkpoint.SyncStrict, checkpoint.SyncAvailable} {
			t.Run(fault+"/"+mode, func(t *testing.T) {
				var proxy *linkProxy
				c := newClusterNodes(t, []string{"node1", "node2"}, nil)
				proxy = newLinkProxy(t, c.peers["node1"])
				c.mod = func(cfg *Config) {
					cfg.SyncMode = mode
					cfg.SyncTimeout = 200 * time.Millisecond
					if cfg.Node == "node2" {
						peers := map[string]string{}
						for n, a := range c.peers {
							peers[n] = a
						}
						peers["node1"] = proxy.ln.Addr().String()
						cfg.Peers = peers
					}
				}
				c.start("node1")
				c.start("node2")
				c.promote("node1")
				c.waitSync("node1", "node2")
				a := newAcked()
				rev, err := put(c.r("node1"), "k", "before")
				if err != nil {
					t.Fatal(err)
				}
				a.add(t, rev, "k", "before")
				proxy.set(fault)
				for i := 0; i < 5; i++ {
					v := fmt.Sprint("during-", i)
					rev, err := put(c.r("node1"), "k", v)
					if mode == checkpoint.SyncStrict {
						if err == nil {
							t.Fatalf("strict acknowledged revision %d across a %s link", rev, fault)
						}
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					c.ackedNow("node1", rev)
					a.add(t, rev, "k", v)
				}
				if mode == checkpoint.SyncAvailable && c.marks.mark("node2") != checkpoint.MarkStale {
					t.Fatal("writes went on without marking the partitioned standby stale")
				}
				c.check(a)
				proxy.set("pass")
				c.waitSync("node1", "node2")
				rev, err = put(c.r("node1"), "k", "after")
				if err != nil {
					t.Fatal(err)
				}
				a.add(t, rev, "k", "after")
				waitFor(t, "node2 at the primary's position", func() bool {
					return c.nodes["node2"].st.Position() == c.nodes["node1"].st.Position()
				})
				c.check(a)
			})
		}
	}
}
